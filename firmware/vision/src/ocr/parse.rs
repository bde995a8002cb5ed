//! The three printed lines to values, checked. Nothing is corrected or guessed: a line that does
//! not have exactly the printed form is refused (full-width digits are the only thing mapped, to
//! their ASCII forms, and specks of punctuation at the ends dropped). Each value carries the
//! lowest confidence of the digits it was read from.
//!
//! - Birth: 「昭和55年 2月17日生」 (era, year or 元, month, day; 生 may be missing) or, on a
//!   foreign resident's card, 「1980年 2月17日生」.
//! - Expiry: 「2035年 2月17日まで有効」 (what follows the day is not read: the recogniser's
//!   alphabet has no kana).
//! - Security code: four digits and nothing else.
//!
//! [`consistent`] checks the values against each other, today's date and the expiry the chip
//! gives without any credential.

use super::date::{Date, Era, EraDate};
use zeroize::Zeroize;

/// One recognised character and its confidence (0-1).
pub type Char = (char, f32);

/// Why a line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// No characters.
    Empty,
    /// Not the printed form (a character missing, extra or misread as a non-digit).
    Malformed,
    /// A date that does not exist (31 April) or not inside the era it names.
    NoSuchDate,
}

/// A value read from a line, with the lowest confidence of its characters.
#[derive(Clone, Copy, PartialEq)]
pub struct Field<T> {
    /// The value.
    pub value: T,
    /// 0-1.
    pub confidence: f32,
}

impl<T> core::fmt::Debug for Field<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Field(value withheld, confidence {:.3})", self.confidence)
    }
}

/// The birth date as printed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Birth {
    /// The Gregorian date.
    pub date: Date,
    /// The era date, `None` on a card that prints the Gregorian year (a foreign resident's).
    pub era: Option<EraDate>,
}

impl Birth {
    /// The six digits of 照合番号B: `YYMMDD` with the era's year, or the Gregorian year's last
    /// two digits on a card printed in the Gregorian calendar (an assumption, see `docs/ocr.md`).
    pub fn digits(&self) -> String {
        match self.era {
            Some(e) => e.digits(),
            None => format!("{:02}{:02}{:02}", self.date.year % 100, self.date.month, self.date.day),
        }
    }
}

impl core::fmt::Debug for Birth {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Birth(withheld)")
    }
}

/// The four digits of the security code; wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SecurityCode(pub [u8; 4]);

impl Drop for SecurityCode {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl core::fmt::Debug for SecurityCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecurityCode(****)")
    }
}

/// Spaces removed, full-width digits made ASCII, and punctuation at either end of the line
/// dropped (a speck of dust beside the print reads as a dot; nothing printed in these lines is
/// punctuation, so this cannot change a value).
fn normalise(chars: &[Char]) -> Vec<Char> {
    let mut out: Vec<Char> = chars
        .iter()
        .filter(|(c, _)| !c.is_whitespace())
        .map(|&(c, p)| match c {
            '０'..='９' => (char::from(b'0' + (c as u32 - '０' as u32) as u8), p),
            _ => (c, p),
        })
        .collect();
    let speck = |c: char| c.is_ascii_punctuation() || matches!(c, '・' | '。' | '、' | '．' | '，' | '｀' | '＇');
    while out.last().is_some_and(|c| speck(c.0)) {
        out.pop();
    }
    let lead = out.iter().take_while(|c| speck(c.0)).count();
    out.drain(..lead);
    out
}

/// A cursor over normalised characters that tracks the lowest confidence consumed.
struct Cursor {
    chars: Vec<Char>,
    at: usize,
    confidence: f32,
}

impl Cursor {
    fn new(chars: &[Char]) -> Result<Cursor, ParseError> {
        let chars = normalise(chars);
        if chars.is_empty() {
            return Err(ParseError::Empty);
        }
        Ok(Cursor { chars, at: 0, confidence: 1.0 })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).map(|c| c.0)
    }

    /// The next character; a digit (or 元) lowers the value's confidence to its own.
    fn take(&mut self) -> Option<char> {
        let (c, p) = *self.chars.get(self.at)?;
        self.at += 1;
        if c.is_ascii_digit() || c == '元' {
            self.confidence = self.confidence.min(p);
        }
        Some(c)
    }

    /// A printed character that is not part of the value (年, 月, 日, an era's name): it must be
    /// there, but how sure the network was of it does not make the value less sure.
    fn literal(&mut self, want: char) -> Result<(), ParseError> {
        if self.take() == Some(want) { Ok(()) } else { Err(ParseError::Malformed) }
    }

    /// `min..=max` ASCII digits.
    fn number(&mut self, min: usize, max: usize) -> Result<u16, ParseError> {
        let mut value = 0u16;
        let mut n = 0;
        while n < max
            && let Some(c) = self.peek().filter(char::is_ascii_digit)
        {
            self.take();
            value = value * 10 + (c as u16 - '0' as u16);
            n += 1;
        }
        if n < min { Err(ParseError::Malformed) } else { Ok(value) }
    }

    fn month_day(&mut self) -> Result<(u8, u8), ParseError> {
        let month = self.number(1, 2)? as u8;
        self.literal('月')?;
        let day = self.number(1, 2)? as u8;
        self.literal('日')?;
        Ok((month, day))
    }

    fn rest_is_empty(&self) -> bool {
        self.at == self.chars.len()
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        self.chars.iter_mut().for_each(|c| c.0 = '\0');
    }
}

/// The birth-date line.
pub fn birth(chars: &[Char]) -> Result<Field<Birth>, ParseError> {
    let mut c = Cursor::new(chars)?;
    let era_name: String = c.chars.iter().take(2).map(|x| x.0).collect();
    let birth = if let Some(era) = Era::from_name(&era_name) {
        c.take();
        c.take();
        let year = if c.peek() == Some('元') {
            c.take();
            1
        } else {
            c.number(1, 2)? as u8
        };
        c.literal('年')?;
        let (month, day) = c.month_day()?;
        let era = EraDate { era, year, month, day };
        Birth { date: era.to_date().ok_or(ParseError::NoSuchDate)?, era: Some(era) }
    } else {
        let year = c.number(4, 4)?;
        c.literal('年')?;
        let (month, day) = c.month_day()?;
        Birth { date: Date::new(year, month, day).ok_or(ParseError::NoSuchDate)?, era: None }
    };
    if c.peek() == Some('生') {
        c.take();
    }
    if !c.rest_is_empty() {
        return Err(ParseError::Malformed);
    }
    Ok(Field { value: birth, confidence: c.confidence })
}

/// The expiry line (the text after the day is not read).
pub fn expiry(chars: &[Char]) -> Result<Field<Date>, ParseError> {
    let mut c = Cursor::new(chars)?;
    let year = c.number(4, 4)?;
    c.literal('年')?;
    let (month, day) = c.month_day()?;
    // まで有効: never a digit right after the day.
    if c.peek().is_some_and(|x| x.is_ascii_digit()) {
        return Err(ParseError::Malformed);
    }
    let date = Date::new(year, month, day).ok_or(ParseError::NoSuchDate)?;
    Ok(Field { value: date, confidence: c.confidence })
}

/// The security code line: exactly four digits.
pub fn security_code(chars: &[Char]) -> Result<Field<SecurityCode>, ParseError> {
    let mut c = Cursor::new(chars)?;
    let mut code = [0u8; 4];
    for d in &mut code {
        match c.take() {
            Some(x) if x.is_ascii_digit() => *d = x as u8 - b'0',
            _ => return Err(ParseError::Malformed),
        }
    }
    if !c.rest_is_empty() {
        return Err(ParseError::Malformed);
    }
    Ok(Field { value: SecurityCode(code), confidence: c.confidence })
}

/// Why the values cannot all be true of one card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inconsistency {
    /// Born after the card expires, or in the future.
    BirthAfterExpiry,
    /// An expiry no My Number card can have (the cards were first issued in 2016 and last at most
    /// ten years and a birthday).
    ExpiryOutOfRange,
    /// A Japanese card expires on a birthday (the 10th after issue, the 5th for children); this
    /// expiry is not on the birth date's month and day.
    ExpiryNotOnBirthday,
    /// The chip says the card expires on another date.
    ExpiryDiffersFromChip,
}

/// Checks birth and expiry against each other, `today` and the chip's expiry (if read).
pub fn consistent(birth: &Birth, expiry: Date, today: Date, chip_expiry: Option<Date>) -> Result<(), Inconsistency> {
    if birth.date >= expiry || birth.date > today {
        return Err(Inconsistency::BirthAfterExpiry);
    }
    if expiry.year < 2016 || expiry.year > today.year + 11 {
        return Err(Inconsistency::ExpiryOutOfRange);
    }
    if birth.era.is_some() {
        let same = (expiry.month, expiry.day) == (birth.date.month, birth.date.day);
        let leap_day = (birth.date.month, birth.date.day) == (2, 29) && (expiry.month, expiry.day) == (2, 28);
        if !same && !leap_day {
            return Err(Inconsistency::ExpiryNotOnBirthday);
        }
    }
    if chip_expiry.is_some_and(|chip| chip != expiry) {
        return Err(Inconsistency::ExpiryDiffersFromChip);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<Char> {
        s.chars().map(|c| (c, 0.99)).collect()
    }

    #[test]
    fn printed_birth_lines_parse_to_their_collation_digits() {
        assert_eq!(birth(&chars("昭和55年 2月17日生")).unwrap().value.digits(), "550217");
        assert_eq!(birth(&chars("平成元年 1月 8日生")).unwrap().value.digits(), "010108");
        assert_eq!(birth(&chars("令和元年5月1日")).unwrap().value.digits(), "010501");
        assert_eq!(birth(&chars("明治45年 7月29日生")).unwrap().value.digits(), "450729");
        assert_eq!(birth(&chars("１９８５年 ４月 １日生")).unwrap().value.digits(), "850401");
    }

    #[test]
    fn anything_off_the_printed_form_is_refused_not_corrected() {
        assert_eq!(birth(&chars("")).unwrap_err(), ParseError::Empty);
        assert_eq!(birth(&chars("昭和55年 2月17日生x")).unwrap_err(), ParseError::Malformed);
        assert_eq!(birth(&chars("昭和5S年 2月17日生")).unwrap_err(), ParseError::Malformed);
        assert_eq!(birth(&chars("昭和55 2月17日生")).unwrap_err(), ParseError::Malformed);
        assert_eq!(birth(&chars("昭和65年 2月17日生")).unwrap_err(), ParseError::NoSuchDate);
        assert_eq!(birth(&chars("平成 3年 2月30日生")).unwrap_err(), ParseError::NoSuchDate);
        assert_eq!(birth(&chars("大正16年 1月 1日生")).unwrap_err(), ParseError::NoSuchDate);
        assert_eq!(security_code(&chars("228")).unwrap_err(), ParseError::Malformed);
        assert_eq!(security_code(&chars("22851")).unwrap_err(), ParseError::Malformed);
        assert_eq!(security_code(&chars("22B5")).unwrap_err(), ParseError::Malformed);
        assert_eq!(expiry(&chars("2035年 2月17日1")).unwrap_err(), ParseError::Malformed);
        assert_eq!(security_code(&chars("22.85")).unwrap_err(), ParseError::Malformed);
        assert_eq!(security_code(&chars(".2285.")).unwrap().value.0, [2, 2, 8, 5]);
    }

    #[test]
    fn the_value_carries_its_weakest_characters_confidence() {
        let mut c = chars("2035年 2月17日まで有効");
        c[4].1 = 0.2; // 年: must be there, but is not the value
        c[2].1 = 0.4;
        c[13].1 = 0.1; // after the day (ま): not part of the value
        let e = expiry(&c).unwrap();
        assert_eq!(e.value, Date::new(2035, 2, 17).unwrap());
        assert!((e.confidence - 0.4).abs() < 1e-6);
        assert_eq!(security_code(&chars("2285")).unwrap().value.0, [2, 2, 8, 5]);
        assert_eq!(format!("{:?}", security_code(&chars("2285")).unwrap()), "Field(value withheld, confidence 0.990)");
    }

    #[test]
    fn birth_and_expiry_must_fit_one_card() {
        let today = Date::new(2026, 11, 27).unwrap();
        let b = birth(&chars("昭和55年 2月17日生")).unwrap().value;
        let exp = Date::new(2035, 2, 17).unwrap();
        assert_eq!(consistent(&b, exp, today, None), Ok(()));
        assert_eq!(consistent(&b, exp, today, Some(exp)), Ok(()));
        assert_eq!(
            consistent(&b, exp, today, Some(Date::new(2035, 2, 18).unwrap())),
            Err(Inconsistency::ExpiryDiffersFromChip)
        );
        assert_eq!(
            consistent(&b, Date::new(2035, 2, 18).unwrap(), today, None),
            Err(Inconsistency::ExpiryNotOnBirthday)
        );
        assert_eq!(consistent(&b, Date::new(2045, 2, 17).unwrap(), today, None), Err(Inconsistency::ExpiryOutOfRange));
        let child = birth(&chars("令和 7年 3月 1日生")).unwrap().value;
        assert_eq!(
            consistent(&child, Date::new(2025, 3, 1).unwrap(), today, None),
            Err(Inconsistency::BirthAfterExpiry)
        );
        let foreign = birth(&chars("1990年 6月 1日生")).unwrap().value;
        assert_eq!(consistent(&foreign, Date::new(2027, 9, 30).unwrap(), today, None), Ok(()));
    }
}
