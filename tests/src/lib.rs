//! End-to-end scenarios of the Kaoyomi reader across crates.
//!
//! [`Bench`] drives the reader's own main-loop step ([`kaoyomi_reader::MainLoop`]) with the card
//! service and a simulated card slot, synchronously, so a test can run whole sessions against the
//! virtual card and look at its retry counters and at every APDU that crossed the slot. The
//! process-level scenarios (reader + terminal over the socket) are in `tests/`.

pub mod privacy;

use kaoyomi_core::{Command, Config, Event, Now, ScreenState, Timeouts};
use kaoyomi_hal::card::{CardReader, Transmit};
use kaoyomi_hal_sim::{CounterStore, Fault, SimCardReader, SimCardSlot, VirtualCard, persona};
use kaoyomi_maintenance::contract::{Action, View};
use kaoyomi_myna::card::Card;
use kaoyomi_protocol::{Body, ConsentRequest, Request, Response, SessionReport, SessionRequest};
use kaoyomi_reader::card_service::{self, Work};
use kaoyomi_reader::device_key::DeviceKey;
use kaoyomi_reader::surface_service::SurfaceJob;
use kaoyomi_reader::{Input, MainLoop, Outputs};
use std::time::Duration;

/// Records every APDU on the way to the card.
pub struct Recording<'a> {
    /// The reader underneath.
    pub reader: &'a mut SimCardReader,
    /// The command APDUs sent, in order.
    pub sent: &'a mut Vec<Vec<u8>>,
    /// Bytes of the response APDUs received.
    pub received: usize,
}

impl Transmit for Recording<'_> {
    type Error = <SimCardReader as Transmit>::Error;
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Self::Error> {
        self.sent.push(command.to_vec());
        let answer = self.reader.transmit(command)?;
        self.received += answer.len();
        Ok(answer)
    }
}

impl CardReader for Recording<'_> {
    fn wait_presence(&mut self, timeout: Duration) -> Result<kaoyomi_hal::card::Presence, Self::Error> {
        self.reader.wait_presence(timeout)
    }
    fn connect(&mut self) -> Result<kaoyomi_hal::card::Atr, Self::Error> {
        self.reader.connect()
    }
    fn disconnect(&mut self) {
        self.reader.disconnect()
    }
    fn reset(&mut self) -> Result<kaoyomi_hal::card::Atr, Self::Error> {
        self.reader.reset()
    }
    fn attached(&mut self) -> Result<Option<String>, Self::Error> {
        self.reader.attached()
    }
}

/// Whether an APDU is a VERIFY that presents a secret (spends a try when wrong).
pub fn is_verify_with_data(apdu: &[u8]) -> bool {
    apdu.len() > 4 && apdu[1] == 0x20
}

/// What the main loop asked of the bench in one step: every command (recorded), the card jobs (run
/// by the bench afterwards, synchronously).
#[derive(Default)]
struct Recorder {
    commands: Vec<Command>,
    reports: Vec<SessionReport>,
    jobs: Vec<Work>,
    responses: Vec<Response>,
    views: Vec<View>,
    self_tests: bool,
}

impl Outputs for Recorder {
    fn seen(&mut self, command: &Command) {
        if let Command::SendReport(r) = command {
            self.reports.push(r.clone());
        }
        self.commands.push(command.clone());
    }
    fn show(&mut self, _: &ScreenState) {}
    fn card(&mut self, work: Work) {
        self.jobs.push(work);
    }
    fn start_face_check(&mut self, _: SurfaceJob) -> bool {
        false
    }
    fn stop_face_check(&mut self) {}
    fn respond(&mut self, _: u32, response: Response) {
        self.responses.push(response);
    }
    fn send(&mut self, _: Body) -> bool {
        true
    }
    fn maintenance_view(&mut self, view: &View) {
        self.views.push(view.clone());
    }
    fn run_self_tests(&mut self) {
        self.self_tests = true;
    }
}

/// The whole reader minus threads: the main loop's step, card service, sim slot.
pub struct Bench {
    /// The main loop (its session in `main.session`).
    pub main: MainLoop,
    /// The slot.
    pub slot: SimCardSlot,
    reader: SimCardReader,
    /// Counters of the simulated cards.
    pub store: CounterStore,
    /// Every APDU sent.
    pub apdus: Vec<Vec<u8>>,
    /// Bytes of every response received.
    pub received: usize,
    /// Every command core gave, in order.
    pub commands: Vec<Command>,
    /// Reports core sent.
    pub reports: Vec<SessionReport>,
    /// The terminal's answers, in order.
    pub responses: Vec<Response>,
    /// The maintenance pages shown, in order.
    pub views: Vec<View>,
    now: u64,
    present: bool,
}

impl Bench {
    /// A bench whose card counters (and device key) live in `dir`.
    pub fn new(dir: &std::path::Path, face_available: bool) -> Bench {
        let slot = SimCardSlot::new();
        let key = DeviceKey::load_or_create(dir).expect("device key");
        let config = Config { timeouts: Timeouts::default(), face_available, serial: "KY-BENCH" };
        Bench {
            main: MainLoop::new(config, key, "bench"),
            reader: slot.reader(),
            slot,
            store: CounterStore::new(dir),
            apdus: Vec::new(),
            received: 0,
            commands: Vec::new(),
            reports: Vec::new(),
            responses: Vec::new(),
            views: Vec::new(),
            now: 0,
            present: false,
        }
    }

    /// Gives the main loop its desk (the database and the maintenance menu) in `dir`, as the
    /// running reader does at start.
    pub fn attach_desk(&mut self, dir: &std::path::Path) {
        self.attach_desk_with(dir, kaoyomi_store::Limits::default());
    }

    /// [`Bench::attach_desk`] with the database's size limit `limits`.
    pub fn attach_desk_with(&mut self, dir: &std::path::Path, limits: kaoyomi_store::Limits) {
        let key = DeviceKey::load_or_create(dir).expect("device key");
        let now = self.clock();
        let desk = kaoyomi_reader::desk::Desk::open_with(dir, &key, "bench", now.unix_ms as i64, limits);
        let mut out = Recorder::default();
        self.main.attach_desk(now, desk, &mut out);
        self.absorb(out);
    }

    /// The bench's time now (a fixed day, 2026-11-18, so that card expiry is judged the same way
    /// on every run).
    pub fn clock(&self) -> Now {
        Now { monotonic_ms: self.now, unix_ms: 1_795_000_000_000 + self.now }
    }

    fn absorb(&mut self, mut out: Recorder) -> Vec<Work> {
        self.commands.append(&mut out.commands);
        self.reports.append(&mut out.reports);
        self.responses.append(&mut out.responses);
        self.views.append(&mut out.views);
        out.jobs
    }

    /// Staff do `action` on the maintenance pages; returns the page shown after it.
    pub fn act(&mut self, action: Action) -> View {
        self.now += 100;
        let mut out = Recorder::default();
        self.main.step(self.clock(), Input::Maintenance(action), &mut out);
        let self_tests = out.self_tests;
        let jobs = self.absorb(out);
        assert!(jobs.is_empty(), "a maintenance action started card work");
        if self_tests {
            self.run_self_tests();
        }
        self.views.last().cloned().unwrap_or_default()
    }

    /// The self-tests as the running reader answers them on a board with the simulated slot and
    /// nothing else: the card reader's by the card thread's own test (on the APDUs' record), no
    /// cameras, no touch panel, no terminal connected.
    fn run_self_tests(&mut self) {
        use kaoyomi_reader::self_tests;
        let mut recording = Recording { reader: &mut self.reader, sent: &mut self.apdus, received: 0 };
        let card = card_service::self_test(&mut recording, None, self.present);
        self.received += recording.received;
        let mut lines = self_tests::at_once((false, false, 0), None).to_vec();
        lines.push(card);
        lines.extend(self_tests::cameras(&self_tests::Cameras::default()));
        for line in lines {
            self.now += 100;
            let mut out = Recorder::default();
            self.main.step(self.clock(), Input::SelfTested(line), &mut out);
            self.absorb(out);
        }
    }

    /// Arms a session.
    pub fn arm(&mut self, consents: ConsentRequest) {
        self.event(Event::Terminal {
            seq: 1,
            request: Request::StartSession(SessionRequest { nonce: [5; 32], consents, registration_needed: false }),
        });
    }

    /// Places `persona`'s card.
    pub fn insert(&mut self, id: &str) {
        let card = VirtualCard::issue(persona::find(id).expect("persona"), self.store.clone()).expect("issue card");
        self.slot.control().insert(card);
        self.poll();
    }

    /// Removes the card.
    pub fn remove(&mut self) {
        self.slot.control().remove();
        self.poll();
    }

    /// Arms a fault.
    pub fn inject(&mut self, fault: Fault) {
        self.slot.control().inject(fault);
    }

    /// Tries left on the persona's 利用者証明用 PIN, as stored on the card.
    pub fn tries(&self, id: &str) -> u8 {
        let card = VirtualCard::issue(persona::find(id).expect("persona"), self.store.clone()).expect("issue card");
        card.tries("jpki", kaoyomi_myna::jpki::EF_AUTH_PIN).expect("PIN EF")
    }

    /// Name of the screen shown now.
    pub fn screen(&self) -> &'static str {
        self.main.session.screen().screen.name()
    }

    /// Feeds presence changes of the slot to core, as the card thread does.
    pub fn poll(&mut self) {
        let present = self
            .reader
            .wait_presence(Duration::ZERO)
            .map(|p| p != kaoyomi_hal::card::Presence::Absent)
            .unwrap_or(false);
        if present != self.present {
            self.present = present;
            if present {
                self.reader.connect().expect("connect");
                self.event(Event::CardPlaced);
            } else {
                self.reader.disconnect();
                self.event(Event::CardRemoved);
            }
        }
    }

    /// Feeds an event through the main loop's step and carries out the card jobs synchronously,
    /// their answers fed back.
    pub fn event(&mut self, event: Event) {
        self.now += 100;
        let mut queue = vec![event];
        while let Some(event) = queue.pop() {
            let mut out = Recorder::default();
            self.main.step(self.clock(), Input::Core(event), &mut out);
            for work in self.absorb(out) {
                let Work::Core { job, .. } = work else { continue };
                let signs = matches!(job, card_service::Job::VerifyPinAndSign { .. });
                let mut card = Card::new(Recording { reader: &mut self.reader, sent: &mut self.apdus, received: 0 });
                queue.insert(0, card_service::execute(&mut card, job));
                self.received += card.into_inner().received;
                // As the card thread does: the PIN's security state ends with the job.
                if signs {
                    let _ = self.reader.reset();
                }
            }
            // A card that left during the job is noticed as the card thread would.
            let present = self.slot.control().is_present();
            if present != self.present && !present {
                self.present = false;
                self.reader.disconnect();
                queue.insert(0, Event::CardRemoved);
            }
        }
    }

    /// Lets `ms` pass without anything happening, then ticks (as the reader's clock does).
    pub fn wait(&mut self, ms: u64) {
        self.now += ms.saturating_sub(100);
        self.event(Event::Tick);
    }

    /// Types a PIN.
    pub fn pin(&mut self, digits: &str) {
        for d in digits.bytes() {
            self.event(Event::PinDigit(d - b'0'));
        }
    }

    /// VERIFY commands with data sent so far.
    pub fn verifies(&self) -> usize {
        self.apdus.iter().filter(|a| is_verify_with_data(a)).count()
    }
}

/// Whether the tests run under user-mode emulation (`cargo xtask test-aarch64` sets
/// `KAOYOMI_EMULATED`): tests that run the models over whole sessions take minutes there and run
/// on the host instead; says so when skipping.
pub fn skipped_under_emulation(test: &str) -> bool {
    let emulated = std::env::var_os("KAOYOMI_EMULATED").is_some();
    if emulated {
        eprintln!("{test}: skipped under emulation (runs on the host)");
    }
    emulated
}
