//! 共通カードAP: the card's common record, readable without any credential.
//!
//! Record 1 of EF 0001 is simple-TLV `01 1C` + 28 ASCII digits: the 15-digit card serial, the
//! 5-digit municipality code and the card's expiry date `YYYYMMDD` (card-protocol.md §1.5). The
//! reader takes the expiry only: the serial identifies the card and is not kept.

use crate::card::{Card, Error};
use crate::tlv;
use kaoyomi_hal::card::Transmit;

/// AID of the common card application.
pub const AID: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x01, 0x00];
/// The record EF.
pub const EF_RECORD: u16 = 0x0001;

/// A calendar date (Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Year.
    pub year: u16,
    /// Month 1-12.
    pub month: u8,
    /// Day 1-31.
    pub day: u8,
}

impl Date {
    /// Parses `YYYYMMDD`; None unless it is a real calendar date.
    pub fn parse_yyyymmdd(text: &[u8]) -> Option<Date> {
        if text.len() != 8 || !text.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = |r: core::ops::Range<usize>| text[r].iter().fold(0u32, |a, &d| a * 10 + (d - b'0') as u32);
        let (year, month, day) = (n(0..4) as u16, n(4..6) as u8, n(6..8) as u8);
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (day >= 1 && day <= days).then_some(Date { year, month, day })
    }
}

impl core::fmt::Display for Date {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Reads the card's expiry date from the common record.
pub fn read_expiry<T: Transmit>(card: &mut Card<T>) -> Result<Date, Error> {
    card.select_df(&AID)?;
    card.select_ef(EF_RECORD)?;
    let record = card.read_record(1)?;
    let (tag, value) = tlv::parse_simple(&record)?;
    if tag != 0x01 || value.len() != 28 || !value.iter().all(u8::is_ascii_digit) {
        return Err(Error::Malformed("common record is not 28 digits"));
    }
    Date::parse_yyyymmdd(&value[20..28]).ok_or(Error::Malformed("common record expiry is not a date"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_checked() {
        assert_eq!(Date::parse_yyyymmdd(b"20350217"), Some(Date { year: 2035, month: 2, day: 17 }));
        assert_eq!(Date::parse_yyyymmdd(b"20240229").map(|d| d.day), Some(29));
        assert_eq!(Date::parse_yyyymmdd(b"20230229"), None);
        assert_eq!(Date::parse_yyyymmdd(b"20231301"), None);
        assert_eq!(Date::parse_yyyymmdd(b"2023010"), None);
        assert_eq!(Date::parse_yyyymmdd(b"2023-101"), None);
    }
}
