//! The reader's main loop as one step at a time: an [`Input`] in (a core event, the terminal's
//! device-info request, a stop), core's commands carried out through [`Outputs`]. [`crate::run`]
//! drives it with the devices' threads and the clock; the tests' bench (`kaoyomi_tests::Bench`)
//! and the UI session harness drive the same step synchronously, so there is one dispatch.

use crate::Input;
use crate::card_service::Work;
use crate::desk::Desk;
use crate::device_key::DeviceKey;
use crate::surface_service::SurfaceJob;
use kaoyomi_core::{Command, Config, Event, Now, ScreenState, Session};
use kaoyomi_protocol::{Body, DeviceInfo, Notification, PROTOCOL_VERSION, Response, SignedReport};

/// Where core's commands go: the card and face threads, the screens, the terminal link.
pub trait Outputs {
    /// Every command core gave, before it is carried out (a record for tests; nothing by default).
    fn seen(&mut self, _command: &Command) {}
    /// Shows a screen state.
    fn show(&mut self, state: &ScreenState);
    /// Hands a job to the card thread.
    fn card(&mut self, work: Work);
    /// Starts the face check (the card-surface camera reads 照合番号B first); false when there is
    /// no face thread to take it.
    fn start_face_check(&mut self, job: SurfaceJob) -> bool;
    /// Stops the face check between frames.
    fn stop_face_check(&mut self);
    /// Answers a terminal request.
    fn respond(&mut self, to: u32, response: Response);
    /// Sends a message to the terminal; false when no terminal is connected.
    fn send(&mut self, body: Body) -> bool;
    /// Shows (or clears) the pairing code of a terminal that asks to pair, for staff.
    fn pairing(&mut self, _offer: Option<&crate::PairingOffer>) {}
    /// Shows the maintenance pages (the staff display).
    fn maintenance_view(&mut self, _view: &kaoyomi_maintenance::contract::View) {}
    /// The settings changed (or were read at start): apply what core does not hold (the face
    /// check's accuracy, the speaker's volume).
    fn apply_settings(&mut self, _settings: &kaoyomi_maintenance::Settings) {}
    /// How many terminals are paired (for the maintenance pages).
    fn paired_terminals(&self) -> usize {
        0
    }
    /// Runs the devices' self-tests; each line comes back as [`Input::SelfTested`] (the database's
    /// own test is the desk's). Without devices (a test's bench), nothing is run.
    fn run_self_tests(&mut self) {}
}

/// What a step asks of the loop around it.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop; an error message if a script failed.
    Quit(Result<(), String>),
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Reports sent to the terminal.
    pub reports_sent: u32,
    /// Reports that could not be sent (no terminal).
    pub reports_lost: u32,
}

/// The session and what the loop keeps besides it.
pub struct MainLoop {
    /// The patient session.
    pub session: Session,
    /// Reports sent and lost so far.
    pub summary: Summary,
    key: DeviceKey,
    board: String,
    /// The chip's expiry, read without credentials with the card; checks the printed one.
    chip_expiry: Option<u32>,
    /// Cards placed so far (`CardPlaced` heard): every card job names the placement it is for.
    placement: u64,
    /// The face check running now, whose 照合番号B may open the card photo.
    face_op: Option<u32>,
    /// The records and the maintenance menu (none: nothing is recorded, as in most tests).
    desk: Option<Desk>,
}

impl MainLoop {
    /// A loop whose reports `key` signs, on the board named `board`.
    pub fn new(config: Config, key: DeviceKey, board: &str) -> MainLoop {
        MainLoop {
            session: Session::new(config),
            summary: Summary::default(),
            key,
            board: board.into(),
            chip_expiry: None,
            placement: 0,
            face_op: None,
            desk: None,
        }
    }

    /// Gives the loop its desk (the database and the maintenance menu) and applies the stored
    /// settings: core's time-outs and visual-check default here, the rest through `out`.
    pub fn attach_desk(&mut self, now: Now, desk: Desk, out: &mut dyn Outputs) {
        let settings = desk.settings().clone();
        self.desk = Some(desk);
        self.apply(&settings, out);
        if settings.visual_check_default && !self.session.visual_mode() {
            self.step(now, Input::Core(Event::StaffVisualMode(true)), out);
        }
    }

    fn apply(&mut self, settings: &kaoyomi_maintenance::Settings, out: &mut dyn Outputs) {
        self.session.set_timeouts(crate::desk::timeouts(settings));
        out.apply_settings(settings);
    }

    /// The desk, if attached.
    pub fn desk(&mut self) -> Option<&mut Desk> {
        self.desk.as_mut()
    }

    fn show_desk(&self, now: Now, out: &mut dyn Outputs) {
        if let Some(desk) = &self.desk {
            let view = desk.view(now, out.paired_terminals());
            out.maintenance_view(&view);
        }
    }

    /// The device key's serial.
    pub fn serial(&self) -> &str {
        self.key.serial()
    }

    /// One step: `input` at `now`, core's commands carried out through `out`.
    pub fn step(&mut self, now: Now, input: Input, out: &mut dyn Outputs) -> Flow {
        let event = match input {
            Input::Core(event) => event,
            Input::DeviceInfo { seq } => {
                let info = DeviceInfo {
                    protocol_version: PROTOCOL_VERSION,
                    firmware_version: env!("CARGO_PKG_VERSION").into(),
                    board: self.board.clone(),
                    serial: self.key.serial().into(),
                    device_key: self.key.public(),
                    visual_mode: self.session.visual_mode(),
                };
                out.respond(seq, Response::DeviceInfo(info));
                return Flow::Continue;
            }
            Input::CardNumbers { op, collation } => {
                if self.face_op == Some(op) {
                    out.card(Work::CardPhoto { op, card: self.placement, collation });
                } else {
                    log::info!("照合番号B read for a face check that has ended: dropped");
                }
                return Flow::Continue;
            }
            Input::Pairing(offer) => {
                out.pairing(offer.as_ref());
                return Flow::Continue;
            }
            Input::Quit(result) => return Flow::Quit(result),
            Input::SelfTested(line) => {
                if let Some(desk) = self.desk.as_mut()
                    && desk.self_tested(line, now)
                {
                    self.show_desk(now, out);
                }
                return Flow::Continue;
            }
            Input::Desk { seq, request } => {
                let Some(desk) = self.desk.as_mut() else {
                    out.respond(
                        seq,
                        Response::Error {
                            code: kaoyomi_protocol::ErrorCode::StorageUnavailable,
                            message: "this reader keeps no records".into(),
                        },
                    );
                    return Flow::Continue;
                };
                let (response, changed) = desk.terminal(request, now);
                if changed {
                    let settings = desk.settings().clone();
                    self.apply(&settings, out);
                }
                out.respond(seq, response);
                return Flow::Continue;
            }
            Input::Maintenance(action) => {
                let Some(desk) = self.desk.as_mut() else {
                    log::warn!("maintenance: no database desk in this reader");
                    return Flow::Continue;
                };
                let outcome = desk.act(action, now);
                if outcome.settings_changed {
                    let settings = desk.settings().clone();
                    self.apply(&settings, out);
                }
                if let Some(event) = outcome.event {
                    self.step(now, Input::Core(event), out);
                }
                if outcome.self_tests {
                    out.run_self_tests();
                }
                if !outcome.no_view {
                    self.show_desk(now, out);
                }
                return Flow::Continue;
            }
        };
        if event == Event::Tick
            && let Some(desk) = self.desk.as_mut()
        {
            let open = desk.open_page();
            let ended = desk.tick(now);
            let closed = open != desk.open_page();
            if let Some(ended) = ended {
                self.step(now, Input::Core(ended), out);
            }
            if closed {
                self.show_desk(now, out);
            }
        }
        match &event {
            Event::CardRead { summary, .. } => self.chip_expiry = summary.expiry,
            Event::CardPlaced => {
                self.chip_expiry = None;
                self.placement += 1;
            }
            Event::CardRemoved => self.chip_expiry = None,
            _ => {}
        }
        // Events that answer this step's commands at once, fed after them (in order).
        let mut answers = Vec::new();
        for command in self.session.handle(now, event) {
            out.seen(&command);
            match command {
                Command::Show(state) => out.show(&state),
                Command::Card(job) => out.card(Work::Core { job, card: self.placement }),
                Command::StartFaceCheck { op } => {
                    self.face_op = Some(op);
                    let job =
                        SurfaceJob { op, today: kaoyomi_core::today_jst(now.unix_ms), chip_expiry: self.chip_expiry };
                    if !out.start_face_check(job) {
                        // No face thread: core hears that the check cannot run.
                        let result = kaoyomi_core::FaceResult::Unavailable(kaoyomi_core::FaceProblem::CardNumbers);
                        answers.push(Event::FaceChecked { op, result });
                    }
                }
                Command::StopFaceCheck => {
                    self.face_op = None;
                    out.stop_face_check();
                }
                Command::Respond { to, response } => out.respond(to, response),
                Command::Notify(notification) => {
                    out.send(Body::Notification(notification));
                }
                Command::SendReport(report) => {
                    let bytes = report.to_bytes();
                    let signature = self.key.sign(&kaoyomi_protocol::report_signing_message(&bytes));
                    if out.send(Body::Notification(Notification::Result(SignedReport { report: bytes, signature }))) {
                        self.summary.reports_sent += 1;
                    } else {
                        self.summary.reports_lost += 1;
                        log::error!(
                            "session {} ended but no terminal is connected: the report is lost",
                            report.session_id
                        );
                    }
                }
                Command::Wipe => {
                    // What the loop keeps of the patient goes; the face thread drops its reference,
                    // frames and the card photo between frames (they wipe themselves on drop).
                    self.chip_expiry = None;
                    self.face_op = None;
                    out.stop_face_check();
                    log::debug!("session data wiped");
                }
                Command::Log(entry) => {
                    log::info!("{entry:?}");
                    if let Some(desk) = self.desk.as_mut() {
                        desk.record(now.unix_ms as i64, &entry);
                    }
                }
                Command::Maintenance(answer) => {
                    log::info!("maintenance: {answer:?}");
                    if let Some(desk) = self.desk.as_mut() {
                        desk.answer(answer, now);
                    }
                    self.show_desk(now, out);
                }
            }
        }
        for event in answers {
            self.step(now, Input::Core(event), out);
        }
        Flow::Continue
    }
}
