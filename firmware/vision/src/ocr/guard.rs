//! The guard between the camera and the card's 照合番号B counter (10 wrong tries, ever, then a
//! trip to the municipal office): frames are read one by one and fused; 照合番号B comes out only
//! when every field's value was read in at least [`Settings::agree`] frames (each character at
//! least [`Settings::min_confidence`] sure, one read at least [`Settings::sure`] or, for the
//! expiry, the same as the chip's), outvoting every
//! other value three to one, no two different values were read surely, and the values pass every check
//! ([`parse::consistent`]: birth before expiry, a Japanese card's expiry on a birthday, the
//! chip's expiry). Anything else is a refusal with its reason, never a guess: a refused read
//! costs the patient a few seconds, a wrong one a try.

use super::date::Date;
use super::parse::{self, Birth, Inconsistency, SecurityCode};
use super::read::{FieldProblem, FrameProblem, FrameRead};
use zeroize::Zeroizing;

/// How strict the guard is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// A frame's value counts as a vote only if each of its characters was read at least this
    /// sure (0-1).
    pub min_confidence: f32,
    /// At least one vote for the value must be this sure; two different values this sure are a
    /// conflict.
    pub sure: f32,
    /// Votes the value needs; it must also have three times as many votes as all other values.
    pub agree: usize,
    /// Frames read before giving up.
    pub max_frames: usize,
    /// Today (birth dates in the future are refused).
    pub today: Date,
    /// The expiry the chip gives without credentials (共通AP), if read.
    pub chip_expiry: Option<Date>,
}

impl Settings {
    /// The reader's settings for `today`.
    pub fn new(today: Date, chip_expiry: Option<Date>) -> Settings {
        Settings { min_confidence: 0.5, sure: 0.9, agree: 2, max_frames: 8, today, chip_expiry }
    }
}

/// 照合番号B: 14 ASCII digits, wiped on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Collation(Zeroizing<String>);

impl Collation {
    /// The digits (to hand to the card, nowhere else).
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl core::fmt::Debug for Collation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Collation(**************)")
    }
}

/// Why the guard gave up (each with its own message for the patient).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No card in the camera's view.
    NoCard,
    /// The card is not where the camera can see all of it.
    NotCardShaped,
    /// The card lies upside down.
    UpsideDown,
    /// Not the front of a My Number card.
    NotTheFront,
    /// Light reflecting off the card over the printed numbers.
    Glare,
    /// The numbers could not be read surely enough.
    Unreadable,
    /// Two frames read different values with high confidence.
    Conflicting,
    /// The values read cannot all be true of one card.
    Inconsistent(Inconsistency),
}

/// The guard's answer after a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// More frames needed; the latest frame's problem, if any, for guidance.
    Pending(Option<Refusal>),
    /// 照合番号B, read surely.
    Accept(Collation),
    /// No 照合番号B from these frames.
    Refuse(Refusal),
}

/// Fuses the frames of one attempt.
pub struct Guard {
    settings: Settings,
    frames: usize,
    births: Votes<Birth>,
    expiries: Votes<Date>,
    codes: Votes<SecurityCode>,
    problems: Vec<Refusal>,
}

impl core::fmt::Debug for Guard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Guard({} frames, values withheld)", self.frames)
    }
}

/// One field's votes: each value with its count and its surest read.
struct Votes<T>(Vec<(T, usize, f32)>);

impl<T: PartialEq + Clone> Votes<T> {
    fn new() -> Votes<T> {
        Votes(Vec::new())
    }

    /// Adds a vote; false when two different values have now each been read surely.
    fn add(&mut self, value: T, confidence: f32, sure: f32) -> bool {
        match self.0.iter_mut().find(|(v, _, _)| *v == value) {
            Some((_, n, best)) => {
                *n += 1;
                *best = best.max(confidence);
            }
            None => self.0.push((value, 1, confidence)),
        }
        self.0.iter().filter(|(_, _, best)| *best >= sure).count() < 2
    }

    /// The value, once it has `agree` votes, three times the votes of all others together, and
    /// one sure read (or `confirmed`, a check from elsewhere, says it is right).
    fn settled(&self, agree: usize, sure: f32, confirmed: impl Fn(&T) -> bool) -> Option<T> {
        let total: usize = self.0.iter().map(|v| v.1).sum();
        let (value, n, best) = self.0.iter().max_by_key(|v| v.1)?;
        (*n >= agree && *n >= 3 * (total - n) && (*best >= sure || confirmed(value))).then(|| value.clone())
    }
}

impl Guard {
    /// A new attempt.
    pub fn new(settings: Settings) -> Guard {
        Guard {
            settings,
            frames: 0,
            births: Votes::new(),
            expiries: Votes::new(),
            codes: Votes::new(),
            problems: Vec::new(),
        }
    }

    /// Frames read so far.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Takes one frame's reading.
    pub fn add(&mut self, frame: Result<FrameRead, FrameProblem>) -> Verdict {
        self.frames += 1;
        let (min, sure) = (self.settings.min_confidence, self.settings.sure);
        let mut problem = None;
        match frame {
            Err(p) => {
                problem = Some(match p {
                    FrameProblem::NoCard => Refusal::NoCard,
                    FrameProblem::NotCardShaped => Refusal::NotCardShaped,
                    FrameProblem::UpsideDown => Refusal::UpsideDown,
                    FrameProblem::NotTheFront => Refusal::NotTheFront,
                })
            }
            Ok(read) => {
                let mut field_problem = |p: &FieldProblem| {
                    let r = if *p == FieldProblem::Glare { Refusal::Glare } else { Refusal::Unreadable };
                    if problem != Some(Refusal::Glare) {
                        problem = Some(r);
                    }
                };
                let mut agree = true;
                match &read.birth {
                    Ok(f) if f.confidence >= min => agree &= self.births.add(f.value, f.confidence, sure),
                    Ok(_) => field_problem(&FieldProblem::Unreadable(parse::ParseError::Malformed)),
                    Err(p) => field_problem(p),
                }
                match &read.expiry {
                    Ok(f) if f.confidence >= min => agree &= self.expiries.add(f.value, f.confidence, sure),
                    Ok(_) => field_problem(&FieldProblem::Unreadable(parse::ParseError::Malformed)),
                    Err(p) => field_problem(p),
                }
                match &read.code {
                    Ok(f) if f.confidence >= min => agree &= self.codes.add(f.value.clone(), f.confidence, sure),
                    Ok(_) => field_problem(&FieldProblem::Unreadable(parse::ParseError::Malformed)),
                    Err(p) => field_problem(p),
                }
                if !agree {
                    return Verdict::Refuse(Refusal::Conflicting);
                }
            }
        }
        if let Some(p) = problem {
            self.problems.push(p);
        }
        let agree = self.settings.agree;
        // The chip's own expiry confirms an expiry read as well as a sure read does.
        let chip = self.settings.chip_expiry;
        if let (Some(birth), Some(expiry), Some(code)) = (
            self.births.settled(agree, sure, |_| false),
            self.expiries.settled(agree, sure, |e| chip == Some(*e)),
            self.codes.settled(agree, sure, |_| false),
        ) {
            return match parse::consistent(&birth, expiry, self.settings.today, self.settings.chip_expiry) {
                Ok(()) => {
                    let mut digits = Zeroizing::new(birth.digits());
                    digits.push_str(&format!("{:04}", expiry.year));
                    digits.extend(code.0.iter().map(|d| char::from(b'0' + d)));
                    Verdict::Accept(Collation(digits))
                }
                Err(e) => Verdict::Refuse(Refusal::Inconsistent(e)),
            };
        }
        if self.frames >= self.settings.max_frames {
            return Verdict::Refuse(self.main_problem());
        }
        Verdict::Pending(problem)
    }

    /// The problem seen most often (the last one on a tie), `Unreadable` if none.
    fn main_problem(&self) -> Refusal {
        let mut best = (Refusal::Unreadable, 0);
        for p in &self.problems {
            let n = self.problems.iter().filter(|q| *q == p).count();
            if n >= best.1 {
                best = (*p, n);
            }
        }
        best.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocr::parse::Field;

    fn today() -> Date {
        Date::new(2026, 11, 27).unwrap()
    }

    fn read(birth: &str, expiry: (u16, u8, u8), code: [u8; 4], confidence: f32) -> Result<FrameRead, FrameProblem> {
        let chars: Vec<(char, f32)> = birth.chars().map(|c| (c, confidence)).collect();
        Ok(FrameRead {
            birth: Ok(parse::birth(&chars).unwrap()),
            expiry: Ok(Field { value: Date::new(expiry.0, expiry.1, expiry.2).unwrap(), confidence }),
            code: Ok(Field { value: SecurityCode(code), confidence }),
        })
    }

    #[test]
    fn two_confident_agreeing_frames_give_the_collation_number() {
        let mut g = Guard::new(Settings::new(today(), Some(Date::new(2035, 2, 17).unwrap())));
        assert_eq!(g.add(read("昭和55年2月17日生", (2035, 2, 17), [2, 2, 8, 5], 0.99)), Verdict::Pending(None));
        match g.add(read("昭和55年2月17日生", (2035, 2, 17), [2, 2, 8, 5], 0.97)) {
            Verdict::Accept(c) => {
                assert_eq!(c.digits(), "55021720352285");
                assert_eq!(format!("{c:?}"), "Collation(**************)");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn unsure_frames_never_count_and_confident_disagreement_refuses() {
        let mut g = Guard::new(Settings::new(today(), None));
        for _ in 0..7 {
            assert!(matches!(g.add(read("昭和55年2月17日生", (2035, 2, 17), [2, 2, 8, 5], 0.6)), Verdict::Pending(_)));
        }
        assert_eq!(
            g.add(read("昭和55年2月17日生", (2035, 2, 17), [2, 2, 8, 5], 0.6)),
            Verdict::Refuse(Refusal::Unreadable)
        );
        let mut g = Guard::new(Settings::new(today(), None));
        g.add(read("昭和55年2月17日生", (2035, 2, 17), [2, 2, 8, 5], 0.99));
        assert_eq!(
            g.add(read("昭和55年2月17日生", (2035, 2, 17), [2, 2, 3, 5], 0.99)),
            Verdict::Refuse(Refusal::Conflicting)
        );
    }

    #[test]
    fn agreeing_values_that_cannot_be_one_card_are_refused() {
        let mut g = Guard::new(Settings::new(today(), Some(Date::new(2034, 2, 17).unwrap())));
        g.add(read("昭和55年2月17日生", (2035, 2, 17), [2, 2, 8, 5], 0.99));
        assert_eq!(
            g.add(read("昭和55年2月17日生", (2035, 2, 17), [2, 2, 8, 5], 0.99)),
            Verdict::Refuse(Refusal::Inconsistent(Inconsistency::ExpiryDiffersFromChip))
        );
    }

    #[test]
    fn frames_without_a_reading_end_in_their_most_common_problem() {
        let mut g = Guard::new(Settings::new(today(), None));
        assert_eq!(g.add(Err(FrameProblem::NoCard)), Verdict::Pending(Some(Refusal::NoCard)));
        for _ in 0..6 {
            g.add(Err(FrameProblem::UpsideDown));
        }
        assert_eq!(g.add(Err(FrameProblem::NoCard)), Verdict::Refuse(Refusal::UpsideDown));
    }
}
