//! Dates as the card prints them: the birth date in the Japanese era (明治 to 令和, the first
//! year written 元年) or, on foreign residents' cards, in the Gregorian calendar; the expiry in
//! the Gregorian calendar. Every conversion checks that the date exists and that the era had
//! begun and not yet ended on it.

/// A Gregorian calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Year.
    pub year: u16,
    /// Month, 1-12.
    pub month: u8,
    /// Day, 1-31.
    pub day: u8,
}

fn leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

impl Date {
    /// The date, if it exists in the Gregorian calendar (years 1873-2199: the calendar Japan
    /// adopted on 明治6年1月1日; earlier 明治 dates were lunisolar and no card holder has them).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap(year) => 29,
            2 => 28,
            _ => return None,
        };
        ((1873..=2199).contains(&year) && (1..=days).contains(&day)).then_some(Date { year, month, day })
    }

    /// `YYYYMMDD`.
    pub fn parse_compact(s: &str) -> Option<Date> {
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Date::new(s[0..4].parse().ok()?, s[4..6].parse().ok()?, s[6..8].parse().ok()?)
    }
}

/// A Japanese era.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Era {
    /// 明治 (1868-10-23 to 1912-07-29).
    Meiji,
    /// 大正 (1912-07-30 to 1926-12-24).
    Taisho,
    /// 昭和 (1926-12-25 to 1989-01-07).
    Showa,
    /// 平成 (1989-01-08 to 2019-04-30).
    Heisei,
    /// 令和 (from 2019-05-01).
    Reiwa,
}

/// Every era, oldest first.
pub const ERAS: [Era; 5] = [Era::Meiji, Era::Taisho, Era::Showa, Era::Heisei, Era::Reiwa];

impl Era {
    /// The era's name as printed.
    pub fn name(self) -> &'static str {
        match self {
            Era::Meiji => "明治",
            Era::Taisho => "大正",
            Era::Showa => "昭和",
            Era::Heisei => "平成",
            Era::Reiwa => "令和",
        }
    }

    /// The era printed as `name`.
    pub fn from_name(name: &str) -> Option<Era> {
        ERAS.into_iter().find(|e| e.name() == name)
    }

    /// The first day.
    pub fn first(self) -> Date {
        let (y, m, d) = match self {
            Era::Meiji => (1868, 10, 23),
            Era::Taisho => (1912, 7, 30),
            Era::Showa => (1926, 12, 25),
            Era::Heisei => (1989, 1, 8),
            Era::Reiwa => (2019, 5, 1),
        };
        Date { year: y, month: m, day: d }
    }

    /// The last day (None for the current era).
    pub fn last(self) -> Option<Date> {
        let (y, m, d) = match self {
            Era::Meiji => (1912, 7, 29),
            Era::Taisho => (1926, 12, 24),
            Era::Showa => (1989, 1, 7),
            Era::Heisei => (2019, 4, 30),
            Era::Reiwa => return None,
        };
        Some(Date { year: y, month: m, day: d })
    }

    /// The era of `date`.
    pub fn of(date: Date) -> Option<Era> {
        ERAS.into_iter().rev().find(|e| date >= e.first())
    }
}

/// A date as the card prints it in an era: 昭和55年2月17日 is (Showa, 55, 2, 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EraDate {
    /// The era.
    pub era: Era,
    /// Year of the era, 1 for 元年.
    pub year: u8,
    /// Month.
    pub month: u8,
    /// Day.
    pub day: u8,
}

impl EraDate {
    /// The Gregorian date, if this date exists and falls inside its era.
    pub fn to_date(self) -> Option<Date> {
        if self.year == 0 {
            return None;
        }
        let date = Date::new(self.era.first().year + u16::from(self.year) - 1, self.month, self.day)?;
        let inside = date >= self.era.first() && self.era.last().is_none_or(|last| date <= last);
        inside.then_some(date)
    }

    /// The era date of `date`.
    pub fn from_date(date: Date) -> Option<EraDate> {
        let era = Era::of(date)?;
        let year = u8::try_from(date.year - era.first().year + 1).ok()?;
        Some(EraDate { era, year, month: date.month, day: date.day })
    }

    /// The six digits of 照合番号B's birth-date part: `YYMMDD` in the era (元年 is 01).
    pub fn digits(self) -> String {
        format!("{:02}{:02}{:02}", self.year % 100, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_product_examples_convert() {
        let d = Date::new(1980, 2, 17).unwrap();
        let e = EraDate::from_date(d).unwrap();
        assert_eq!((e.era, e.year), (Era::Showa, 55));
        assert_eq!(e.digits(), "550217");
        let gannen = EraDate::from_date(Date::new(2019, 5, 1).unwrap()).unwrap();
        assert_eq!((gannen.era, gannen.digits().as_str()), (Era::Reiwa, "010501"));
        assert_eq!(gannen.to_date(), Date::new(2019, 5, 1));
    }

    #[test]
    fn era_boundaries_are_exact_and_dates_outside_an_era_are_refused() {
        for era in ERAS {
            let first = EraDate::from_date(era.first()).unwrap();
            assert_eq!((first.era, first.year), (era, 1));
            if let Some(last) = era.last() {
                assert_eq!(EraDate::from_date(last).unwrap().era, era);
            }
        }
        // 昭和64年1月7日 existed, 昭和64年1月8日 did not (it was 平成元年).
        assert!(EraDate { era: Era::Showa, year: 64, month: 1, day: 7 }.to_date().is_some());
        assert!(EraDate { era: Era::Showa, year: 64, month: 1, day: 8 }.to_date().is_none());
        assert!(EraDate { era: Era::Heisei, year: 31, month: 5, day: 1 }.to_date().is_none());
        assert!(EraDate { era: Era::Reiwa, year: 1, month: 4, day: 30 }.to_date().is_none());
        assert!(EraDate { era: Era::Taisho, year: 0, month: 1, day: 1 }.to_date().is_none());
    }

    #[test]
    fn impossible_calendar_dates_are_refused() {
        assert!(Date::new(2023, 2, 29).is_none());
        assert!(Date::new(2024, 2, 29).is_some());
        assert!(Date::new(1900, 2, 29).is_none());
        assert!(Date::new(2000, 2, 29).is_some());
        assert!(Date::new(1990, 4, 31).is_none());
        assert!(Date::new(1990, 13, 1).is_none());
        assert_eq!(Date::parse_compact("20350217"), Date::new(2035, 2, 17));
        assert!(Date::parse_compact("2035021").is_none());
    }
}
