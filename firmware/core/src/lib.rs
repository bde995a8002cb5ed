//! The patient session of the Kaoyomi reader as a pure state machine.
//!
//! [`Session::handle`] takes the time and one [`Event`] (a card placed, a tap, a card answer, a
//! terminal request, a clock tick) and returns the [`Command`]s the reader must carry out: show a
//! screen, read the card, verify a PIN, notify the terminal, send the signed report, wipe.
//! Nothing here does I/O, spawns threads or reads a clock, so every path is replayed exactly by the
//! snapshot tests in `tests/`.
//!
//! Rules that protect the patient live here and nowhere else:
//! - a PIN is submitted by itself on the 4th digit and only while the card has tries left;
//! - the last PIN try is only sent after an explicit [`Event::LastTryConfirmed`];
//! - a card whose PIN is blocked or not set is never offered the PIN path;
//! - every end of a session wipes what the session held.

pub mod screen;
pub mod secret;

use kaoyomi_protocol::{
    AuthMethod, CancelReason, ConsentAnswer, ConsentTopic, Notification, Outcome, Progress, Request, Response,
    SessionReport, SessionRequest, TokenKind, card_challenge_message,
};
pub use screen::{FaceHint, FaceProblem, MethodOffer, Notice, Screen, ScreenState, StaffReason};
pub use secret::{Pin, PinBuffer};

/// Today's date in Japan (UTC+9) as `YYYYMMDD`, from Unix milliseconds.
pub fn today_jst(unix_ms: u64) -> u32 {
    let (year, month, day) = civil_from_days(((unix_ms / 1000 + 9 * 3600) / 86_400) as i64);
    (year * 10_000 + month * 100 + day) as u32
}

/// Days since 1970-01-01 to a civil date: (year, month, day) (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// The time, passed in with every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Now {
    /// Monotonic milliseconds (for time-outs).
    pub monotonic_ms: u64,
    /// Wall clock, milliseconds since the Unix epoch (for the report's timestamps).
    pub unix_ms: u64,
}

/// Time-outs of the session, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Patient inactivity on a screen that waits for the patient.
    pub patient_ms: u64,
    /// How long before a patient time-out the screen warns.
    pub warn_before_ms: u64,
    /// A card operation (read, verify and sign) that does not answer.
    pub card_op_ms: u64,
    /// A face check that does not decide.
    pub face_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { patient_ms: 60_000, warn_before_ms: 15_000, card_op_ms: 20_000, face_ms: 60_000 }
    }
}

/// What the board offers the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Time-outs.
    pub timeouts: Timeouts,
    /// The board has a face camera and models: the face check can be offered.
    pub face_available: bool,
    /// Reader serial, repeated in reports.
    pub serial: &'static str,
}

/// State of the 利用者証明用 PIN as read from the card without using a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinState {
    /// Tries left (1..=3).
    Tries(u8),
    /// No tries left: only a municipal office can reset it.
    Blocked,
    /// The card has no PIN (顔認証マイナンバーカード).
    NotSet,
}

/// What the reader learnt from the card without any credential.
#[derive(Clone, PartialEq, Eq)]
pub struct CardSummary {
    /// Card or smartphone.
    pub token: TokenKind,
    /// PIN state.
    pub pin: PinState,
    /// 利用者証明用 certificate (DER).
    pub auth_certificate: Vec<u8>,
    /// Card expiry `YYYYMMDD` from the common card application (None on a smartphone).
    pub expiry: Option<u32>,
    /// State of 照合番号B, read without a try (None when the card has no card-face application).
    pub collation_b: Option<PinState>,
}

impl Drop for CardSummary {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.auth_certificate);
    }
}

impl core::fmt::Debug for CardSummary {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The certificate identifies the patient's card: never print it.
        f.debug_struct("CardSummary")
            .field("token", &self.token)
            .field("pin", &self.pin)
            .field("auth_certificate", &format_args!("<{} bytes>", self.auth_certificate.len()))
            .field("expiry", &self.expiry)
            .field("collation_b", &self.collation_b)
            .finish()
    }
}

/// Why a card cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardProblem {
    /// Not a My Number card (no JPKI application).
    NotMyNumberCard,
    /// The card is past its expiry date.
    Expired,
    /// The card answered something the reader could not make sense of.
    BadAnswer,
    /// The card did not answer in time or the link to it failed.
    NoAnswer,
}

/// Answer of the card to a PIN verification and signature.
#[derive(Clone, PartialEq, Eq)]
pub enum PinResult {
    /// PIN right; the card signed the challenge.
    Verified {
        /// PKCS#1 v1.5 signature over the challenge message.
        signature: Vec<u8>,
    },
    /// PIN wrong; tries left after this one.
    Wrong {
        /// Tries left.
        tries_left: u8,
    },
    /// The PIN is blocked; nothing was sent.
    Blocked,
    /// One try left and the command did not allow the last try; nothing was sent.
    NeedsConfirmation,
    /// The card has no PIN; nothing was sent.
    NotSet,
    /// The card failed during the operation.
    Fault(CardProblem),
}

impl core::fmt::Debug for PinResult {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PinResult::Verified { signature } => write!(f, "Verified {{ signature: <{} bytes> }}", signature.len()),
            PinResult::Wrong { tries_left } => write!(f, "Wrong {{ tries_left: {tries_left} }}"),
            PinResult::Blocked => f.write_str("Blocked"),
            PinResult::NeedsConfirmation => f.write_str("NeedsConfirmation"),
            PinResult::NotSet => f.write_str("NotSet"),
            PinResult::Fault(p) => write!(f, "Fault({p:?})"),
        }
    }
}

/// Answer of the face check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceResult {
    /// The person matches the card photo.
    Match,
    /// Enough good frames were compared and none matched.
    NoMatch,
    /// The face check could not decide, and why.
    Unavailable(FaceProblem),
    /// What was before the camera was not a live face (a photograph, a screen, the card's own
    /// picture, a mask): staff are called. Neither screen says how it was seen.
    NotLive,
}

/// Everything that can happen to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Time passed (the reader ticks regularly so time-outs fire).
    Tick,
    /// A terminal request that the session answers (start, cancel, visual mode).
    Terminal {
        /// Sequence number of the request, to answer it.
        seq: u32,
        /// The request.
        request: Request,
    },
    /// The terminal link went away.
    TerminalDisconnected,
    /// A card was placed on the reader.
    CardPlaced,
    /// The card left the reader.
    CardRemoved,
    /// Answer to [`CardJob::Read`].
    CardRead {
        /// Operation number from the command.
        op: u32,
        /// What the card is.
        summary: CardSummary,
    },
    /// [`CardJob::Read`] failed.
    CardUnusable {
        /// Operation number from the command.
        op: u32,
        /// Why.
        problem: CardProblem,
    },
    /// The patient tapped a method.
    MethodChosen(AuthMethod),
    /// The patient confirmed using the last PIN try.
    LastTryConfirmed,
    /// A PIN pad key (0-9).
    PinDigit(u8),
    /// The PIN pad's delete key.
    PinDelete,
    /// The patient pressed back (leave PIN entry or the last-try warning, stop at a consent).
    Back,
    /// Answer to [`CardJob::VerifyPinAndSign`].
    PinChecked {
        /// Operation number from the command.
        op: u32,
        /// The card's answer.
        result: PinResult,
    },
    /// Guidance while the face check captures (what the patient should change); `None` when
    /// the last frame was good.
    FaceGuidance {
        /// Operation number from the command.
        op: u32,
        /// The hint.
        hint: Option<FaceHint>,
    },
    /// Answer to [`Command::StartFaceCheck`].
    FaceChecked {
        /// Operation number from the command.
        op: u32,
        /// The decision.
        result: FaceResult,
    },
    /// The patient answered the consent on screen.
    ConsentAnswered(bool),
    /// The patient answered the 初回登録 question.
    RegistrationAnswered(bool),
    /// Staff switched the visual check on or off at the reader.
    StaffVisualMode(bool),
    /// Staff confirmed (or refused) the person against the card.
    StaffVisualConfirm(bool),
    /// Staff cancelled the session at the reader.
    StaffCancel,
    /// Someone logged in to the maintenance menu and asks for the reader: granted only when no
    /// patient session is armed (answered with [`Command::Maintenance`]).
    MaintenanceRequested,
    /// The maintenance menu was left.
    MaintenanceEnded,
    /// The patient touched "I am still here" on the time-out warning: the patient's time starts
    /// again (ignored when no warning is showing).
    StillHere,
}

/// Operation-log entries: what happened, never who.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogEntry {
    /// A session was armed by the terminal.
    SessionArmed,
    /// A card was read.
    CardAccepted(TokenKind),
    /// A card could not be used.
    CardRejected(CardProblem),
    /// A PIN try failed.
    PinWrong {
        /// Tries left.
        tries_left: u8,
    },
    /// Visual mode switched.
    VisualMode(bool),
    /// A session ended.
    SessionEnded {
        /// Method, if a check ran.
        method: Option<AuthMethod>,
        /// Outcome.
        outcome: Outcome,
    },
    /// The terminal went away during a session.
    TerminalLost,
    /// The face check saw a presentation attack (a picture, a screen, a mask), not a live face.
    PresentationAttack,
}

/// Card work core asks the reader for; each answers with one event quoting its `op`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardJob {
    /// Read what the card shows without credentials; answer with [`Event::CardRead`] or
    /// [`Event::CardUnusable`].
    Read {
        /// Operation number to quote in the answer.
        op: u32,
    },
    /// Read the retry counter, VERIFY the PIN and sign `message` with the 利用者証明用 key;
    /// answer with [`Event::PinChecked`]. The reader must not send the PIN when the card shows one
    /// try left unless `allow_last_try`, nor when it shows the PIN blocked.
    VerifyPinAndSign {
        /// Operation number to quote in the answer.
        op: u32,
        /// The PIN.
        pin: Pin,
        /// Message to sign (SHA-256, PKCS#1 v1.5).
        message: Vec<u8>,
        /// The patient confirmed the last try.
        allow_last_try: bool,
    },
}

/// What the reader must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Show this screen (patient and staff display).
    Show(ScreenState),
    /// A job for the card reader.
    Card(CardJob),
    /// Run the face check; answer with [`Event::FaceChecked`].
    StartFaceCheck {
        /// Operation number to quote in the answer.
        op: u32,
    },
    /// Stop a running face check at once.
    StopFaceCheck,
    /// Answer a terminal request.
    Respond {
        /// Sequence number of the request.
        to: u32,
        /// Answer.
        response: Response,
    },
    /// Tell the terminal.
    Notify(Notification),
    /// Sign and send the session report.
    SendReport(SessionReport),
    /// Forget everything personal the devices hold (card data, frames, PIN buffers).
    Wipe,
    /// Write to the operation log.
    Log(LogEntry),
    /// The answer to the maintenance menu.
    Maintenance(MaintenanceAnswer),
}

/// Core's answer about the maintenance menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaintenanceAnswer {
    /// The reader is in maintenance: no patient session starts, the patient panel says so.
    Started,
    /// Refused: a patient session is armed; try again when it has ended.
    Busy,
    /// The reader serves patients again.
    Ended,
}

/// Where the session is.
#[derive(Debug)]
enum State {
    /// Nothing armed, no card.
    Idle,
    /// A card lies on the reader but the terminal has not armed a session.
    CardWithoutRequest,
    /// Armed, no card.
    WaitingForCard,
    /// Reading the card.
    ReadingCard { op: u32 },
    /// Choosing the check.
    ChooseMethod { notice: Option<Notice> },
    /// One PIN try left: warn and ask.
    ConfirmLastTry,
    /// Typing the PIN.
    PinEntry { digits: PinBuffer, last_try_confirmed: bool, notice: Option<Notice> },
    /// The card is verifying the PIN.
    VerifyingPin { op: u32 },
    /// The face check runs.
    FaceCheck { op: u32, hint: Option<FaceHint> },
    /// Staff are needed.
    CallStaff { reason: StaffReason },
    /// Staff compare the face with the card.
    VisualCheck,
    /// 初回登録 question.
    Registration,
    /// Consent question `index` of the request's topics.
    Consent { index: usize },
    /// The card failed; waiting for it to be removed and placed again.
    CardError { problem: CardProblem },
    /// The session has ended; waiting for the card to be removed.
    RemoveCard { outcome: Outcome, method: Option<AuthMethod> },
}

/// The armed session (one patient).
#[derive(Debug)]
struct Armed {
    id: u32,
    request: SessionRequest,
    started_ms: u64,
    card: Option<CardSummary>,
    face_failed: bool,
    method: Option<AuthMethod>,
    card_signature: Option<Vec<u8>>,
    registration: Option<bool>,
    consents: Vec<ConsentAnswer>,
}

impl Drop for Armed {
    fn drop(&mut self) {
        // The card's signature ties the patient to this visit: wipe it with the session.
        if let Some(signature) = &mut self.card_signature {
            zeroize::Zeroize::zeroize(signature);
        }
    }
}

/// The session state machine.
#[derive(Debug)]
pub struct Session {
    config: Config,
    state: State,
    armed: Option<Armed>,
    card_present: bool,
    visual_mode: bool,
    next_op: u32,
    next_session: u32,
    deadline: Option<u64>,
    warned: bool,
    maintenance: bool,
    now: Now,
    out: Vec<Command>,
}

impl Session {
    /// A reader at rest.
    pub fn new(config: Config) -> Self {
        Session {
            config,
            state: State::Idle,
            armed: None,
            card_present: false,
            visual_mode: false,
            next_op: 1,
            next_session: 1,
            deadline: None,
            warned: false,
            maintenance: false,
            now: Now::default(),
            out: Vec::new(),
        }
    }

    /// Whether staff have switched the visual check on.
    pub fn visual_mode(&self) -> bool {
        self.visual_mode
    }

    /// Takes new time-outs (the settings changed); a running deadline keeps its time.
    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.config.timeouts = timeouts;
    }

    /// Whether the reader is in maintenance.
    pub fn in_maintenance(&self) -> bool {
        self.maintenance
    }

    /// The screen the session shows now.
    pub fn screen(&self) -> ScreenState {
        if self.maintenance {
            return ScreenState { screen: Screen::Maintenance, timeout_warning_s: None };
        }
        let screen = match &self.state {
            State::Idle | State::WaitingForCard => Screen::PlaceCard,
            State::CardWithoutRequest => Screen::WaitForReception,
            State::ReadingCard { .. } => Screen::ReadingCard,
            State::ChooseMethod { notice } => Screen::ChooseMethod {
                face: self.face_offer(),
                pin: self.pin_offer(),
                visual: if self.visual_mode { MethodOffer::Available } else { MethodOffer::Hidden },
                notice: *notice,
            },
            State::ConfirmLastTry => Screen::ConfirmLastTry,
            State::PinEntry { digits, notice, .. } => Screen::PinEntry {
                entered: digits.len() as u8,
                tries_left: match self.card().map(|c| c.pin) {
                    Some(PinState::Tries(n)) => n,
                    _ => 0,
                },
                notice: *notice,
            },
            State::VerifyingPin { .. } => Screen::VerifyingPin,
            State::FaceCheck { hint, .. } => Screen::FaceCheck { hint: *hint },
            State::CallStaff { reason } => Screen::CallStaff { reason: *reason },
            State::VisualCheck => Screen::VisualCheck,
            State::Registration => Screen::Registration,
            State::Consent { index } => {
                let topics = self.topics();
                Screen::Consent { topic: topics[*index], index: *index as u8, total: topics.len() as u8 }
            }
            State::CardError { problem: CardProblem::NotMyNumberCard } => Screen::UnknownCard,
            State::CardError { problem: CardProblem::Expired } => Screen::CardExpired,
            State::CardError { problem } => Screen::CardError { problem: *problem },
            State::RemoveCard { outcome, method } => Screen::Finished { outcome: *outcome, method: *method },
        };
        let warning_s = match (self.deadline, self.warned) {
            (Some(deadline), true) => Some(deadline.saturating_sub(self.now.monotonic_ms).div_ceil(1000) as u32),
            _ => None,
        };
        ScreenState { screen, timeout_warning_s: warning_s }
    }

    /// Feeds one event at time `now`; returns the commands to carry out, in order.
    pub fn handle(&mut self, now: Now, event: Event) -> Vec<Command> {
        // The screen as it was shown, at the time it was shown: the warning's countdown is
        // shown again whenever its whole seconds change.
        let before = self.screen();
        self.now = now;
        match event {
            Event::Tick => self.tick(),
            Event::StillHere => {
                if self.warned && self.is_patient_screen() {
                    self.patient_active();
                }
            }
            Event::Terminal { seq, request } => self.terminal(seq, request),
            Event::TerminalDisconnected => self.terminal_lost(),
            Event::CardPlaced => self.card_placed(),
            Event::CardRemoved => self.card_removed(),
            Event::CardRead { op, summary } => self.card_read(op, summary),
            Event::CardUnusable { op, problem } => {
                if matches!(self.state, State::ReadingCard { op: o } if o == op) {
                    self.card_fault(problem);
                }
            }
            Event::MethodChosen(method) => self.method_chosen(method),
            Event::LastTryConfirmed => {
                if matches!(self.state, State::ConfirmLastTry) {
                    self.enter_pin(true, None);
                }
            }
            Event::PinDigit(d) => self.pin_digit(d),
            Event::PinDelete => {
                if let State::PinEntry { digits, .. } = &mut self.state {
                    digits.delete();
                    self.patient_active();
                }
            }
            Event::Back => self.back(),
            Event::PinChecked { op, result } => self.pin_checked(op, result),
            Event::FaceChecked { op, result } => self.face_checked(op, result),
            Event::FaceGuidance { op, hint } => {
                if matches!(self.state, State::FaceCheck { op: o, .. } if o == op) {
                    self.state = State::FaceCheck { op, hint };
                }
            }
            Event::ConsentAnswered(agreed) => self.consent(agreed),
            Event::RegistrationAnswered(yes) => {
                if matches!(self.state, State::Registration) {
                    if let Some(a) = self.armed.as_mut() {
                        a.registration = Some(yes);
                    }
                    if yes { self.next_consent(0) } else { self.finish(Outcome::Verified) }
                }
            }
            Event::StaffVisualMode(enabled) => self.set_visual_mode(enabled),
            Event::StaffVisualConfirm(ok) => {
                if matches!(self.state, State::VisualCheck) {
                    if let Some(a) = self.armed.as_mut() {
                        a.method = Some(AuthMethod::Visual);
                    }
                    if ok { self.checked() } else { self.finish(Outcome::NotVerified) }
                }
            }
            Event::StaffCancel => {
                if self.armed.is_some() && !matches!(self.state, State::RemoveCard { .. }) {
                    self.finish(Outcome::Cancelled(CancelReason::Staff));
                }
            }
            Event::MaintenanceRequested => {
                let answer = if self.armed.is_some() {
                    MaintenanceAnswer::Busy
                } else {
                    self.maintenance = true;
                    MaintenanceAnswer::Started
                };
                self.out.push(Command::Maintenance(answer));
            }
            Event::MaintenanceEnded => {
                if self.maintenance {
                    self.maintenance = false;
                    self.out.push(Command::Maintenance(MaintenanceAnswer::Ended));
                }
            }
        }
        let after = self.screen();
        if after != before {
            self.out.push(Command::Show(after));
        }
        core::mem::take(&mut self.out)
    }

    fn card(&self) -> Option<&CardSummary> {
        self.armed.as_ref().and_then(|a| a.card.as_ref())
    }

    fn topics(&self) -> Vec<ConsentTopic> {
        self.armed.as_ref().map(|a| a.request.consents.topics()).unwrap_or_default()
    }

    fn op(&mut self) -> u32 {
        let op = self.next_op;
        self.next_op = self.next_op.wrapping_add(1).max(1);
        op
    }

    fn progress(&mut self, progress: Progress) {
        if let Some(a) = &self.armed {
            self.out.push(Command::Notify(Notification::Progress { session_id: a.id, progress }));
        }
    }

    fn set_deadline(&mut self, after_ms: Option<u64>) {
        self.deadline = after_ms.map(|ms| self.now.monotonic_ms + ms);
        self.warned = false;
    }

    fn patient_active(&mut self) {
        self.set_deadline(Some(self.config.timeouts.patient_ms));
    }

    fn face_offer(&self) -> MethodOffer {
        let Some(card) = self.card() else { return MethodOffer::Hidden };
        let face_failed = self.armed.as_ref().is_some_and(|a| a.face_failed);
        if !self.config.face_available || card.token != TokenKind::Card || card.collation_b.is_none() {
            MethodOffer::Hidden
        } else if face_failed || card.collation_b == Some(PinState::Blocked) {
            MethodOffer::Unavailable
        } else {
            MethodOffer::Available
        }
    }

    fn pin_offer(&self) -> MethodOffer {
        match self.card().map(|c| c.pin) {
            Some(PinState::Tries(n)) if n > 0 => MethodOffer::Available,
            Some(PinState::Tries(_)) | Some(PinState::Blocked) => MethodOffer::Unavailable,
            Some(PinState::NotSet) | None => MethodOffer::Hidden,
        }
    }

    /// Goes to the method choice, or straight to staff when nothing is left to offer.
    fn choose_method(&mut self, notice: Option<Notice>) {
        let any = [self.face_offer(), self.pin_offer()].contains(&MethodOffer::Available) || self.visual_mode;
        if any {
            self.state = State::ChooseMethod { notice };
            self.patient_active();
            self.progress(Progress::ChoosingMethod);
        } else {
            let reason = match (self.card().map(|c| c.pin), self.armed.as_ref().is_some_and(|a| a.face_failed)) {
                (_, true) => StaffReason::FaceFailed,
                (Some(PinState::Blocked), _) | (Some(PinState::Tries(0)), _) => StaffReason::PinBlocked,
                _ => StaffReason::NoMethod,
            };
            self.state = State::CallStaff { reason };
            self.set_deadline(None);
            self.progress(Progress::StaffNeeded);
        }
    }

    fn tick(&mut self) {
        let Some(deadline) = self.deadline else { return };
        let now = self.now.monotonic_ms;
        if now >= deadline {
            self.deadline = None;
            match self.state {
                State::ReadingCard { .. } | State::VerifyingPin { .. } => self.card_fault(CardProblem::NoAnswer),
                State::FaceCheck { op, .. } => self.face_checked(op, FaceResult::Unavailable(FaceProblem::TimedOut)),
                _ => self.finish(Outcome::Cancelled(CancelReason::PatientTimeout)),
            }
        } else if !self.warned && self.is_patient_screen() && deadline - now <= self.config.timeouts.warn_before_ms {
            self.warned = true;
        }
    }

    fn is_patient_screen(&self) -> bool {
        matches!(
            self.state,
            State::ChooseMethod { .. }
                | State::ConfirmLastTry
                | State::PinEntry { .. }
                | State::Registration
                | State::Consent { .. }
        )
    }

    fn terminal(&mut self, seq: u32, request: Request) {
        let response = match request {
            Request::StartSession(request) => {
                if self.maintenance {
                    Response::Error {
                        code: kaoyomi_protocol::ErrorCode::InMaintenance,
                        message: "the reader is in maintenance: no patient session starts until it ends".into(),
                    }
                } else if self.armed.is_some() {
                    Response::Error {
                        code: kaoyomi_protocol::ErrorCode::Busy,
                        message: "a session is already running".into(),
                    }
                } else {
                    let id = self.next_session;
                    self.next_session = self.next_session.wrapping_add(1).max(1);
                    self.armed = Some(Armed {
                        id,
                        request,
                        started_ms: self.now.unix_ms,
                        card: None,
                        face_failed: false,
                        method: None,
                        card_signature: None,
                        registration: None,
                        consents: Vec::new(),
                    });
                    self.out.push(Command::Respond { to: seq, response: Response::SessionStarted { session_id: id } });
                    self.out.push(Command::Log(LogEntry::SessionArmed));
                    if self.card_present {
                        self.read_card();
                    } else {
                        self.state = State::WaitingForCard;
                        self.progress(Progress::WaitingForCard);
                    }
                    return;
                }
            }
            Request::CancelSession { session_id } => match &self.armed {
                Some(a) if a.id == session_id => {
                    if !matches!(self.state, State::RemoveCard { .. }) {
                        self.finish(Outcome::Cancelled(CancelReason::Terminal));
                    }
                    Response::Ok
                }
                _ => {
                    Response::Error { code: kaoyomi_protocol::ErrorCode::NoSession, message: "no such session".into() }
                }
            },
            Request::SetVisualMode { enabled } => {
                self.set_visual_mode(enabled);
                Response::Ok
            }
            Request::GetDeviceInfo => Response::Error {
                code: kaoyomi_protocol::ErrorCode::NotNow,
                message: "device info is answered by the reader".into(),
            },
            Request::Pair { .. } | Request::Unpair => Response::Error {
                code: kaoyomi_protocol::ErrorCode::NotNow,
                message: "pairing is answered by the link".into(),
            },
            Request::ExportLog { .. }
            | Request::ExportStatistics { .. }
            | Request::ExportSettings
            | Request::ImportSettings { .. } => Response::Error {
                code: kaoyomi_protocol::ErrorCode::NotNow,
                message: "logs, statistics and settings are answered by the reader's desk".into(),
            },
        };
        self.out.push(Command::Respond { to: seq, response });
    }

    fn set_visual_mode(&mut self, enabled: bool) {
        if self.visual_mode == enabled {
            return;
        }
        self.visual_mode = enabled;
        self.out.push(Command::Log(LogEntry::VisualMode(enabled)));
        match self.state {
            State::CallStaff { .. } if enabled => self.choose_method(None),
            State::ChooseMethod { notice } if !enabled => self.choose_method(notice),
            State::VisualCheck if !enabled => self.choose_method(None),
            _ => {}
        }
    }

    fn terminal_lost(&mut self) {
        if self.armed.is_none() {
            return;
        }
        if matches!(self.state, State::FaceCheck { .. }) {
            self.out.push(Command::StopFaceCheck);
        }
        self.out.push(Command::Log(LogEntry::TerminalLost));
        self.armed = None;
        self.out.push(Command::Wipe);
        self.set_deadline(None);
        self.state = if self.card_present {
            State::RemoveCard { outcome: Outcome::Cancelled(CancelReason::Terminal), method: None }
        } else {
            State::Idle
        };
    }

    fn card_placed(&mut self) {
        if self.card_present {
            return;
        }
        self.card_present = true;
        match self.state {
            State::Idle => self.state = State::CardWithoutRequest,
            State::WaitingForCard => {
                if let Some(a) = self.armed.as_mut() {
                    a.started_ms = self.now.unix_ms;
                }
                self.progress(Progress::CardPlaced);
                self.read_card();
            }
            _ => {}
        }
    }

    fn read_card(&mut self) {
        let op = self.op();
        self.state = State::ReadingCard { op };
        self.set_deadline(Some(self.config.timeouts.card_op_ms));
        self.out.push(Command::Card(CardJob::Read { op }));
    }

    fn card_removed(&mut self) {
        if !self.card_present {
            return;
        }
        self.card_present = false;
        if matches!(self.state, State::FaceCheck { .. }) {
            self.out.push(Command::StopFaceCheck);
        }
        match &self.state {
            State::Idle | State::WaitingForCard => {}
            State::CardWithoutRequest => self.state = State::Idle,
            State::RemoveCard { .. } => {
                self.armed = None;
                self.out.push(Command::Wipe);
                self.set_deadline(None);
                self.state = State::Idle;
            }
            _ => {
                // Mid-session: forget this card, keep the terminal's request, wait for the card again.
                self.out.push(Command::Wipe);
                if let Some(a) = self.armed.as_mut() {
                    a.card = None;
                    a.face_failed = false;
                    a.method = None;
                    a.card_signature = None;
                    a.registration = None;
                    a.consents.clear();
                }
                self.set_deadline(None);
                self.state = State::WaitingForCard;
                self.progress(Progress::CardRemoved);
            }
        }
    }

    fn card_read(&mut self, op: u32, summary: CardSummary) {
        if !matches!(self.state, State::ReadingCard { op: o } if o == op) {
            return;
        }
        if summary.expiry.is_some_and(|expiry| expiry < today_jst(self.now.unix_ms)) {
            self.card_fault(CardProblem::Expired);
            return;
        }
        self.out.push(Command::Log(LogEntry::CardAccepted(summary.token)));
        let b_blocked = summary.collation_b == Some(PinState::Blocked);
        if let Some(a) = self.armed.as_mut() {
            a.card = Some(summary);
        }
        let notice = (b_blocked && self.config.face_available).then_some(Notice::FaceLocked);
        self.choose_method(notice);
    }

    fn card_fault(&mut self, problem: CardProblem) {
        self.out.push(Command::Log(LogEntry::CardRejected(problem)));
        self.progress(Progress::CardRejected(match problem {
            CardProblem::NotMyNumberCard => kaoyomi_protocol::CardRejection::NotMyNumberCard,
            CardProblem::Expired => kaoyomi_protocol::CardRejection::Expired,
            CardProblem::BadAnswer | CardProblem::NoAnswer => kaoyomi_protocol::CardRejection::Unreadable,
        }));
        self.out.push(Command::Wipe);
        if let Some(a) = self.armed.as_mut() {
            a.card = None;
            a.card_signature = None;
        }
        self.set_deadline(None);
        self.state = State::CardError { problem };
    }

    fn method_chosen(&mut self, method: AuthMethod) {
        if !matches!(self.state, State::ChooseMethod { .. } | State::ConfirmLastTry) {
            return;
        }
        match method {
            AuthMethod::Pin if self.pin_offer() == MethodOffer::Available => {
                if matches!(self.state, State::ConfirmLastTry) {
                    return;
                }
                if self.card().map(|c| c.pin) == Some(PinState::Tries(1)) {
                    self.state = State::ConfirmLastTry;
                    self.patient_active();
                } else {
                    self.enter_pin(false, None);
                }
            }
            AuthMethod::Face if self.face_offer() == MethodOffer::Available => {
                let op = self.op();
                self.state = State::FaceCheck { op, hint: None };
                self.set_deadline(Some(self.config.timeouts.face_ms));
                self.out.push(Command::StartFaceCheck { op });
                self.progress(Progress::Checking(AuthMethod::Face));
            }
            AuthMethod::Visual if self.visual_mode => {
                self.state = State::VisualCheck;
                self.set_deadline(None);
                self.progress(Progress::Checking(AuthMethod::Visual));
            }
            _ => {}
        }
    }

    fn enter_pin(&mut self, last_try_confirmed: bool, notice: Option<Notice>) {
        self.state = State::PinEntry { digits: PinBuffer::new(), last_try_confirmed, notice };
        self.patient_active();
        self.progress(Progress::Checking(AuthMethod::Pin));
    }

    fn pin_digit(&mut self, digit: u8) {
        let State::PinEntry { digits, last_try_confirmed, .. } = &mut self.state else { return };
        let allow_last_try = *last_try_confirmed;
        let Some(pin) = digits.push(digit) else {
            self.patient_active();
            return;
        };
        // Guard in depth: the reader checks again against the card's own counter.
        let tries = self.card().map(|c| c.pin);
        if tries == Some(PinState::Tries(1)) && !allow_last_try {
            self.state = State::ConfirmLastTry;
            self.patient_active();
            return;
        }
        let Some(a) = self.armed.as_ref() else { return };
        let message = card_challenge_message(&a.request.nonce);
        let op = self.op();
        self.state = State::VerifyingPin { op };
        self.set_deadline(Some(self.config.timeouts.card_op_ms));
        self.out.push(Command::Card(CardJob::VerifyPinAndSign { op, pin, message, allow_last_try }));
    }

    fn back(&mut self) {
        match self.state {
            State::PinEntry { .. } | State::ConfirmLastTry => self.choose_method(None),
            State::ChooseMethod { .. } | State::Registration | State::Consent { .. } => {
                self.finish(Outcome::Cancelled(CancelReason::Patient))
            }
            _ => {}
        }
    }

    fn set_pin_state(&mut self, pin: PinState) {
        if let Some(card) = self.armed.as_mut().and_then(|a| a.card.as_mut()) {
            card.pin = pin;
        }
    }

    fn pin_checked(&mut self, op: u32, result: PinResult) {
        if !matches!(self.state, State::VerifyingPin { op: o } if o == op) {
            return;
        }
        match result {
            PinResult::Verified { signature } => {
                self.set_pin_state(PinState::Tries(3));
                if let Some(a) = self.armed.as_mut() {
                    a.method = Some(AuthMethod::Pin);
                    a.card_signature = Some(signature);
                }
                self.checked();
            }
            PinResult::Wrong { tries_left } => {
                self.out.push(Command::Log(LogEntry::PinWrong { tries_left }));
                self.progress(Progress::PinWrong { tries_left });
                match tries_left {
                    0 => {
                        self.set_pin_state(PinState::Blocked);
                        self.choose_method(Some(Notice::PinNowBlocked));
                    }
                    1 => {
                        self.set_pin_state(PinState::Tries(1));
                        self.state = State::ConfirmLastTry;
                        self.patient_active();
                    }
                    n => {
                        self.set_pin_state(PinState::Tries(n));
                        self.enter_pin(false, Some(Notice::PinWrong));
                    }
                }
            }
            PinResult::Blocked => {
                self.set_pin_state(PinState::Blocked);
                self.choose_method(Some(Notice::PinBlocked));
            }
            PinResult::NeedsConfirmation => {
                self.set_pin_state(PinState::Tries(1));
                self.state = State::ConfirmLastTry;
                self.patient_active();
            }
            PinResult::NotSet => {
                self.set_pin_state(PinState::NotSet);
                self.choose_method(None);
            }
            PinResult::Fault(problem) => self.card_fault(problem),
        }
    }

    fn face_checked(&mut self, op: u32, result: FaceResult) {
        if !matches!(self.state, State::FaceCheck { op: o, .. } if o == op) {
            return;
        }
        match result {
            FaceResult::Match => {
                if let Some(a) = self.armed.as_mut() {
                    a.method = Some(AuthMethod::Face);
                }
                self.checked();
            }
            FaceResult::NoMatch | FaceResult::Unavailable(_) => {
                self.out.push(Command::StopFaceCheck);
                if let Some(a) = self.armed.as_mut() {
                    a.face_failed = true;
                }
                let notice = match result {
                    FaceResult::Unavailable(problem) => Notice::FaceUnavailable(problem),
                    _ => Notice::FaceFailed,
                };
                self.choose_method(Some(notice));
            }
            FaceResult::NotLive => {
                // No other method is offered to whoever holds a picture to the camera: staff
                // decide (the staff screen says the face check failed, nothing more).
                self.out.push(Command::StopFaceCheck);
                self.out.push(Command::Log(LogEntry::PresentationAttack));
                if let Some(a) = self.armed.as_mut() {
                    a.face_failed = true;
                }
                self.state = State::CallStaff { reason: StaffReason::FaceFailed };
                self.set_deadline(None);
                self.progress(Progress::StaffNeeded);
            }
        }
    }

    /// Identity confirmed: registration, then consents, then the result.
    fn checked(&mut self) {
        let registration = self.armed.as_ref().is_some_and(|a| a.request.registration_needed);
        if registration {
            self.state = State::Registration;
            self.patient_active();
            self.progress(Progress::Consents);
        } else {
            self.next_consent(0);
        }
    }

    fn next_consent(&mut self, index: usize) {
        if index < self.topics().len() {
            if index == 0 && !matches!(self.state, State::Registration) {
                self.progress(Progress::Consents);
            }
            self.state = State::Consent { index };
            self.patient_active();
        } else {
            self.finish(Outcome::Verified);
        }
    }

    fn consent(&mut self, agreed: bool) {
        let State::Consent { index } = self.state else { return };
        let topic = self.topics()[index];
        if let Some(a) = self.armed.as_mut() {
            a.consents.push(ConsentAnswer { topic, agreed });
        }
        self.next_consent(index + 1);
    }

    /// Ends the session: report to the terminal, then wait for the card to leave.
    fn finish(&mut self, outcome: Outcome) {
        if matches!(self.state, State::FaceCheck { .. }) {
            self.out.push(Command::StopFaceCheck);
        }
        let Some(a) = self.armed.take() else { return };
        let verified = outcome == Outcome::Verified;
        let report = SessionReport {
            session_id: a.id,
            reader_serial: self.config.serial.into(),
            nonce: a.request.nonce,
            request: a.request.digest(),
            method: a.method,
            outcome,
            token: a.card.as_ref().map(|c| c.token),
            auth_certificate: a.card.as_ref().map(|c| c.auth_certificate.clone()),
            card_signature: if verified { a.card_signature.clone() } else { None },
            consents: if verified { a.consents.clone() } else { Vec::new() },
            registration: if verified { a.registration } else { None },
            started_ms: a.started_ms,
            finished_ms: self.now.unix_ms,
        };
        self.out.push(Command::Log(LogEntry::SessionEnded { method: a.method, outcome }));
        self.out.push(Command::SendReport(report));
        self.set_deadline(None);
        if self.card_present {
            self.out.push(Command::Notify(Notification::Progress { session_id: a.id, progress: Progress::RemoveCard }));
            self.state = State::RemoveCard { outcome, method: a.method };
        } else {
            self.out.push(Command::Wipe);
            self.state = State::Idle;
        }
    }
}
