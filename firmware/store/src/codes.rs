//! The codes the database holds: one fixed spelling for every operation, error, method and
//! outcome. Changing a spelling changes what old records mean: add codes, never respell them.

use kaoyomi_core::{CardProblem, LogEntry};
use kaoyomi_protocol::{AuthMethod, CancelReason, Outcome, TokenKind};

/// An operation-log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// What core reported about a session.
    Core(LogEntry),
    /// The reader started.
    ReaderStarted,
    /// The reader is stopping (asked to, not crashed).
    ReaderStopping,
    /// Old records were purged (the retention setting).
    Purged {
        /// How many.
        records: u64,
    },
}

impl Operation {
    /// The record's code.
    pub fn code(&self) -> &'static str {
        match self {
            Operation::ReaderStarted => "reader-started",
            Operation::ReaderStopping => "reader-stopping",
            Operation::Purged { .. } => "purged",
            Operation::Core(entry) => match entry {
                LogEntry::SessionArmed => "session-armed",
                LogEntry::CardAccepted(TokenKind::Card) => "card-accepted",
                LogEntry::CardAccepted(TokenKind::AndroidPhone) => "phone-accepted:android",
                LogEntry::CardAccepted(TokenKind::IPhone) => "phone-accepted:iphone",
                LogEntry::CardRejected(CardProblem::NotMyNumberCard) => "card-rejected:not-my-number-card",
                LogEntry::CardRejected(CardProblem::Expired) => "card-rejected:expired",
                LogEntry::CardRejected(CardProblem::BadAnswer) => "card-rejected:bad-answer",
                LogEntry::CardRejected(CardProblem::NoAnswer) => "card-rejected:no-answer",
                LogEntry::PinWrong { .. } => "pin-wrong",
                LogEntry::VisualMode(true) => "visual-mode:on",
                LogEntry::VisualMode(false) => "visual-mode:off",
                LogEntry::SessionEnded { .. } => "session-ended",
                LogEntry::TerminalLost => "terminal-lost",
                LogEntry::PresentationAttack => "presentation-attack",
            },
        }
    }

    /// The number that goes with it, if any.
    pub fn value(&self) -> Option<i64> {
        match self {
            Operation::Core(LogEntry::PinWrong { tries_left }) => Some(i64::from(*tries_left)),
            Operation::Purged { records } => Some(i64::try_from(*records).unwrap_or(i64::MAX)),
            _ => None,
        }
    }
}

/// The session table's method code.
pub(crate) fn method(method: Option<AuthMethod>) -> Option<&'static str> {
    method.map(|m| match m {
        AuthMethod::Face => "face",
        AuthMethod::Pin => "pin",
        AuthMethod::Visual => "visual",
    })
}

/// The session table's outcome code.
pub(crate) fn outcome(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Verified => "verified",
        Outcome::NotVerified => "not-verified",
        Outcome::Cancelled(CancelReason::Terminal) => "cancelled:terminal",
        Outcome::Cancelled(CancelReason::Staff) => "cancelled:staff",
        Outcome::Cancelled(CancelReason::PatientTimeout) => "cancelled:patient-timeout",
        Outcome::Cancelled(CancelReason::Patient) => "cancelled:patient",
        Outcome::Cancelled(CancelReason::CardUnusable) => "cancelled:card-unusable",
    }
}

/// An error-log code, with what it means for the engineer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The card reader (PC/SC) went away.
    CardReaderLost,
    /// The face camera stopped delivering frames.
    FaceCameraLost,
    /// The card camera stopped delivering frames.
    CardCameraLost,
    /// The terminal's link dropped during a session.
    TerminalLinkLost,
    /// The terminal sent something the protocol does not allow.
    TerminalBadInput,
    /// The log database was corrupt: moved aside and made again.
    DatabaseRecovered,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 6] = [
        ErrorCode::CardReaderLost,
        ErrorCode::FaceCameraLost,
        ErrorCode::CardCameraLost,
        ErrorCode::TerminalLinkLost,
        ErrorCode::TerminalBadInput,
        ErrorCode::DatabaseRecovered,
    ];

    /// The code as recorded and shown (`E` and three digits: 1xx devices, 3xx terminal link,
    /// 6xx storage).
    pub fn code(self) -> &'static str {
        match self {
            ErrorCode::CardReaderLost => "E101",
            ErrorCode::FaceCameraLost => "E102",
            ErrorCode::CardCameraLost => "E103",
            ErrorCode::TerminalLinkLost => "E301",
            ErrorCode::TerminalBadInput => "E302",
            ErrorCode::DatabaseRecovered => "E601",
        }
    }

    /// What happened and what to do, in an engineer's words.
    pub fn advice(self) -> &'static str {
        match self {
            ErrorCode::CardReaderLost => {
                "The card reader stopped answering. Check its cable; if it recurs, run the card reader self-test."
            }
            ErrorCode::FaceCameraLost => {
                "The face camera stopped sending pictures. Check its cable; patients can still use the PIN or staff's visual check."
            }
            ErrorCode::CardCameraLost => {
                "The card camera stopped sending pictures. Check its cable; the face check cannot open the card photo meanwhile."
            }
            ErrorCode::TerminalLinkLost => {
                "The terminal's USB link dropped during a session. Check the cable and the terminal software."
            }
            ErrorCode::TerminalBadInput => {
                "The terminal sent a message the protocol does not allow; the reader refused it. Check the terminal software's version."
            }
            ErrorCode::DatabaseRecovered => {
                "The log database was damaged (often after a power cut): it was moved aside and a new one started. Older logs are in the moved file."
            }
        }
    }

    /// The code from its recorded spelling.
    pub fn from_code(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.code() == code)
    }
}
