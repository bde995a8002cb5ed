//! Screen states: what the patient's and the staff's displays show, as plain data.
//!
//! The UI turns these into pixels and words (in the patient's language); core never formats text.

use crate::CardProblem;
use kaoyomi_protocol::{AuthMethod, ConsentTopic, Outcome};

/// How a method appears on the choice screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodOffer {
    /// Offered.
    Available,
    /// Shown greyed out with its reason (PIN blocked, face already failed).
    Unavailable,
    /// Not shown at all (a PIN-less card has no PIN button).
    Hidden,
}

/// A one-line message above a screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The PIN was wrong; try again.
    PinWrong,
    /// That was the last try: the PIN is now blocked (municipal office).
    PinNowBlocked,
    /// The card's PIN was already blocked.
    PinBlocked,
    /// The face did not match the card photo.
    FaceFailed,
    /// The face check could not decide, and why.
    FaceUnavailable(FaceProblem),
    /// 照合番号B is blocked on this card: the face check cannot open the card photo.
    FaceLocked,
}

/// Why a face check could not decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceProblem {
    /// The camera delivered no usable pictures (unplugged, stopped, or never started).
    Camera,
    /// The face check's models could not be loaded.
    Models,
    /// The card's printed numbers (照合番号B) could not be read, so the card photo stays closed.
    CardNumbers,
    /// The card refused to open its photo (照合番号B not accepted; the try is not repeated).
    CardRefused,
    /// The card photo could not be used (unreadable, or no face found in it).
    CardPhoto,
    /// The chip did not prove itself genuine (altered record, forged certificate, cloned chip).
    CardNotGenuine,
    /// Too few good pictures of the patient's face were captured.
    NotCaptured,
    /// The check took too long.
    TimedOut,
}

/// What the patient should change while the face camera captures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceHint {
    /// No face in view: look at the camera.
    NoFace,
    /// Too far: come closer.
    MoveCloser,
    /// Too close: move back a little.
    MoveBack,
    /// The face is at the edge of the picture: move to the centre.
    CentreFace,
    /// Several people in view: only the patient, please.
    OnePerson,
    /// The face is turned away: face the camera.
    FaceCamera,
    /// The head is tilted: hold it straight.
    StraightenHead,
    /// The picture is blurred: hold still.
    HoldStill,
    /// Too dark (or the camera is covered).
    TooDark,
    /// Too bright (glare or direct light).
    TooBright,
    /// The eyes cannot be seen: remove sunglasses, move hair or hands away.
    ShowEyes,
    /// Good pictures were compared and none matched yet: a mask may be hiding the face, lower it
    /// for a moment (the check goes on).
    RemoveMask,
    /// Card camera: no card in view (place the card, photo side toward the device).
    CardNotInView,
    /// Card camera: the card lies upside down (turn it round).
    TurnCardRound,
    /// Card camera: not the front of the My Number card (its back, or another card).
    ShowCardFront,
    /// Card camera: light reflects off the card over the printed numbers (shade it).
    CardGlare,
    /// Card camera: the printed numbers could not be read surely (place the card again).
    RepositionCard,
}

/// Why staff are called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffReason {
    /// Face failed and no PIN path is left.
    FaceFailed,
    /// The PIN is blocked and no other method is available.
    PinBlocked,
    /// The card offers no method this reader can run (e.g. PIN-less card, no face camera).
    NoMethod,
}

/// One screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// Place your card, photo side toward the device.
    PlaceCard,
    /// Card placed before reception armed the reader: please wait.
    WaitForReception,
    /// Reading the card; do not move it.
    ReadingCard,
    /// Choose the identity check.
    ChooseMethod {
        /// Face check.
        face: MethodOffer,
        /// PIN.
        pin: MethodOffer,
        /// Visual check by staff.
        visual: MethodOffer,
        /// Message above the choice.
        notice: Option<Notice>,
    },
    /// One PIN try left: a wrong PIN blocks the card. Continue, or choose another method.
    ConfirmLastTry,
    /// The PIN pad.
    PinEntry {
        /// Digits typed (shown as dots).
        entered: u8,
        /// Tries left on the card.
        tries_left: u8,
        /// Message above the pad.
        notice: Option<Notice>,
    },
    /// The card is checking the PIN; do not move it.
    VerifyingPin,
    /// Look at the camera; the hint says what to change, if anything.
    FaceCheck {
        /// Guidance from the last frame.
        hint: Option<FaceHint>,
    },
    /// Please call staff.
    CallStaff {
        /// Why.
        reason: StaffReason,
    },
    /// Staff are comparing your face with the card.
    VisualCheck,
    /// Register this card for health-insurance use?
    Registration,
    /// Consent question.
    Consent {
        /// Topic.
        topic: ConsentTopic,
        /// Position (0-based).
        index: u8,
        /// Number of questions.
        total: u8,
    },
    /// The card failed: remove it and place it again.
    CardError {
        /// Why.
        problem: CardProblem,
    },
    /// Not a My Number card: place your My Number card instead.
    UnknownCard,
    /// The card is past its expiry date: please talk to staff.
    CardExpired,
    /// The reader is in maintenance: please wait or ask at reception.
    Maintenance,
    /// The session ended: the outcome, then "remove your card".
    Finished {
        /// Outcome.
        outcome: Outcome,
        /// Method used.
        method: Option<AuthMethod>,
    },
}

/// A screen plus the time-out warning, if one is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScreenState {
    /// The screen.
    pub screen: Screen,
    /// Seconds left before the session times out, once the warning is due.
    pub timeout_warning_s: Option<u32>,
}

impl Screen {
    /// A stable short name (scripts wait for screens by this name).
    pub fn name(&self) -> &'static str {
        match self {
            Screen::PlaceCard => "place-card",
            Screen::WaitForReception => "wait-for-reception",
            Screen::ReadingCard => "reading-card",
            Screen::ChooseMethod { .. } => "choose-method",
            Screen::ConfirmLastTry => "confirm-last-try",
            Screen::PinEntry { .. } => "pin-entry",
            Screen::VerifyingPin => "verifying-pin",
            Screen::FaceCheck { .. } => "face-check",
            Screen::CallStaff { .. } => "call-staff",
            Screen::VisualCheck => "visual-check",
            Screen::Registration => "registration",
            Screen::Consent { .. } => "consent",
            Screen::CardError { .. } => "card-error",
            Screen::UnknownCard => "unknown-card",
            Screen::CardExpired => "card-expired",
            Screen::Finished { .. } => "finished",
            Screen::Maintenance => "maintenance",
        }
    }
}
