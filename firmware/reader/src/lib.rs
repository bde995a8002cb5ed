//! The Kaoyomi reader firmware: the composition root.
//!
//! [`run`] reads the board file, opens the devices it names (one thread per device), feeds their
//! events to the session core ([`kaoyomi_core::Session`]) together with the time, and carries out
//! the commands core returns: card jobs go to the card thread, screens to the view, notifications
//! and signed reports to the terminal link.

pub mod card_info;
pub mod card_service;
pub mod desk;
pub mod device_key;
mod devices;
pub mod face_service;
pub mod harden;
pub mod link;
pub mod log_limit;
pub mod main_loop;
pub mod pairing;
#[cfg(feature = "sim")]
pub mod script;
pub mod self_tests;
pub mod selftest;
#[cfg(feature = "sim")]
mod sim;
pub mod surface_service;
pub mod text_view;

use anyhow::{Context, Result, bail};
use card_service::Work;
use device_key::DeviceKey;
use kaoyomi_board::{Board, FaceDevice, TerminalLink};
use kaoyomi_core::{Config, Event, Now, Timeouts};
use kaoyomi_protocol::{Body, Response};
#[cfg(feature = "face")]
use kaoyomi_vision::check::{Liveness, Models};
pub use main_loop::{Flow, MainLoop, Outputs, Summary};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What the main loop receives.
#[derive(Debug)]
pub enum Input {
    /// An event for core.
    Core(Event),
    /// The terminal asked for device info (answered here: it needs the device key).
    DeviceInfo {
        /// Request sequence number.
        seq: u32,
    },
    /// The card-surface thread read 照合番号B for face check `op`: the main loop hands it to the
    /// card thread for the card placed now, if that check is still the current one.
    CardNumbers {
        /// The face check's operation number.
        op: u32,
        /// 照合番号B as printed on the card (wiped on drop, never printed).
        collation: kaoyomi_myna::surface::CollationB,
    },
    /// A terminal that is not paired connected (its pairing code is to be shown to staff), or
    /// that offer ended (None).
    Pairing(Option<PairingOffer>),
    /// Stop; an error message if a script failed.
    Quit(Result<(), String>),
    /// Staff on the maintenance pages.
    Maintenance(kaoyomi_maintenance::contract::Action),
    /// A self-test's line for the maintenance page.
    SelfTested(kaoyomi_maintenance::contract::TestLine),
    /// A paired terminal asks for the logs, the statistics or the settings (answered by the desk).
    Desk {
        /// Request sequence number.
        seq: u32,
        /// The request.
        request: kaoyomi_protocol::Request,
    },
}

/// A terminal asking to pair: the code of its handshake, which the staff display shows so that
/// the terminal's operator can type it, and the name the terminal gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingOffer {
    /// The code (its `Debug` does not show it).
    pub code: kaoyomi_protocol::PairingCode,
    /// The terminal's name, for staff.
    pub terminal: String,
}

/// Where the patient's and staff's input comes from besides the screens' taps.
#[derive(Debug, Clone)]
pub enum InputSource {
    /// Lines of a script (simulated board).
    #[cfg(feature = "sim")]
    Script(Vec<String>),
    /// Typed on stdin (simulated board).
    #[cfg(feature = "sim")]
    Stdin,
    /// Nothing besides the screens (a device; tests that drive the reader through the terminal).
    None,
}

/// How to run.
pub struct Options {
    /// The board.
    pub board: Board,
    /// State directory (device key, sim card counters, socket).
    pub state: PathBuf,
    /// Patient/staff input.
    pub input: InputSource,
    /// Stop after the first session has ended and the card is gone.
    pub once: bool,
    /// Print screens to stdout.
    pub show_screens: bool,
    /// Where screen states go besides (the Slint windows, `kaoyomi_ui::window`).
    pub view: Option<ScreenView>,
    /// Where the face camera's frames go during a face check (the patient's preview).
    pub preview: Option<PreviewView>,
    /// Taps on the windows, for core.
    pub taps: Option<mpsc::Receiver<Event>>,
    /// Where a pairing code is shown to staff besides the log (the staff window).
    pub pairing_view: Option<PairingView>,
    /// Staff's actions on the maintenance pages.
    pub maintenance: Option<mpsc::Receiver<kaoyomi_maintenance::contract::Action>>,
    /// Where the maintenance pages are shown (the staff window).
    pub maintenance_view: Option<MaintenanceView>,
    /// Where the facility's settings for the patient's screens go (the patient window).
    pub settings_view: Option<SettingsView>,
    /// The touch panel's status, for the self-test (the device's displays keep it).
    pub touch: Option<self_tests::Touch>,
    /// A pause before each scripted action (for someone watching the windows).
    pub pace: Duration,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("board", &self.board.name)
            .field("state", &self.state)
            .field("input", &self.input)
            .field("once", &self.once)
            .field("show_screens", &self.show_screens)
            .field("view", &self.view.is_some())
            .field("preview", &self.preview.is_some())
            .field("taps", &self.taps.is_some())
            .field("pairing_view", &self.pairing_view.is_some())
            .field("maintenance", &self.maintenance.is_some())
            .field("touch", &self.touch.is_some())
            .field("pace", &self.pace)
            .finish()
    }
}

/// Shows a screen state (on the windows); called from the main loop's thread.
pub type ScreenView = Box<dyn Fn(&kaoyomi_core::ScreenState) + Send>;

/// Shows a face-camera frame (width, height, greyscale row-major pixels, shrunk for the screen)
/// in the face-capture preview; called from the face thread while a check runs.
pub type PreviewView = Arc<dyn Fn(u32, u32, &[u8]) + Send + Sync>;

/// Resolves a socket path of the board file against the state directory.
pub fn socket_path(board: &Board, state: &Path) -> Option<PathBuf> {
    match &board.terminal {
        TerminalLink::Socket { path } if path.is_absolute() => Some(path.clone()),
        TerminalLink::Socket { path } => Some(state.join(path)),
        TerminalLink::UsbGadget { .. } => None,
    }
}

fn now(start: Instant) -> Now {
    let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    Now { monotonic_ms: start.elapsed().as_millis() as u64, unix_ms }
}

/// What the face check needs besides the face camera: the card camera that reads 照合番号B, the
/// channels of the face and card-surface threads, and where an accepted 照合番号B goes.
#[cfg_attr(not(feature = "face"), allow(dead_code))]
struct FaceWiring {
    card_camera: Option<surface_service::OpenCardCamera>,
    active: face_service::ActiveOp,
    jobs: mpsc::Receiver<face_service::FaceJob>,
    surface_jobs: mpsc::Receiver<surface_service::SurfaceJob>,
    events: mpsc::Sender<Event>,
    deliver: surface_service::Deliver,
    preview: Option<PreviewView>,
    accuracy: face_service::AccuracySetting,
}

/// Loads the models and starts the face and card-surface threads for the board's cameras; their
/// events join the card's on `events`. The face check is offered only when the face camera, the
/// card camera (照合番号B opens the card photo) and the models exist; otherwise the log says which
/// is missing.
fn start_face(
    face: &FaceDevice,
    hands: &mut devices::Hands,
    cameras: &mut self_tests::Cameras,
    wiring: FaceWiring,
) -> Result<bool> {
    let Some((models_dir, open)) = devices::face_camera(face, hands)? else {
        return Ok(false);
    };
    let open = cameras.share_face(open);
    #[cfg(not(feature = "face"))]
    {
        let _ = (models_dir, open, wiring);
        log::warn!("face check off: this reader was built without it (feature `face`)");
        Ok(false)
    }
    #[cfg(feature = "face")]
    start_face_threads(&models_dir, open, wiring)
}

#[cfg(feature = "face")]
fn start_face_threads(models_dir: &Path, open: face_service::OpenCamera, wiring: FaceWiring) -> Result<bool> {
    let models = match (kaoyomi_models::yunet::YuNet::load(models_dir), kaoyomi_models::sface::SFace::load(models_dir))
    {
        (Ok(d), Ok(e)) => Models { detector: Box::new(d), embedder: Box::new(e) },
        (Err(e), _) | (_, Err(e)) => {
            log::error!("face check off: the models in {} cannot be used: {e}", models_dir.display());
            return Ok(false);
        }
    };
    let Some(card_camera) = wiring.card_camera else {
        log::warn!("face check off: the card's printed numbers (照合番号B) cannot be read on this board");
        return Ok(false);
    };
    let rec = match kaoyomi_models::ppocr::PpOcrRec::load(models_dir) {
        Ok(r) => r,
        Err(e) => {
            log::error!("face check off: the text recogniser in {} cannot be used: {e}", models_dir.display());
            return Ok(false);
        }
    };
    surface_service::spawn(
        rec,
        card_camera,
        wiring.active.clone(),
        wiring.surface_jobs,
        wiring.events.clone(),
        wiring.deliver,
    )?;
    face_service::spawn(
        models,
        (wiring.accuracy, Liveness::default()),
        open,
        wiring.active,
        wiring.jobs,
        wiring.events,
        wiring.preview,
    )?;
    Ok(true)
}

/// Forwards core events from `from` into the main loop's queue on a thread named `name`, until
/// either side closes.
fn forward(name: &str, from: mpsc::Receiver<Event>, to: mpsc::Sender<Input>) -> std::io::Result<()> {
    std::thread::Builder::new().name(name.into()).spawn(move || {
        for event in from {
            if to.send(Input::Core(event)).is_err() {
                return;
            }
        }
    })?;
    Ok(())
}

/// Runs the reader until the input ends (script `quit`, EOF) or `once` is satisfied.
pub fn run(options: Options) -> Result<Summary> {
    let Options {
        board,
        state,
        input,
        once,
        show_screens,
        view,
        preview,
        taps,
        pairing_view,
        maintenance,
        maintenance_view,
        settings_view,
        touch,
        pace,
    } = options;
    #[cfg(not(feature = "sim"))]
    if let Some(device) = board.simulated_devices().first() {
        return Err(devices::without_simulator(device));
    }
    std::fs::create_dir_all(&state).with_context(|| format!("creating state directory {}", state.display()))?;
    let key = DeviceKey::load_or_create(&state)?;
    let serial: &'static str = Box::leak(key.serial().to_string().into_boxed_str());

    let (inputs_tx, inputs) = mpsc::channel::<Input>();
    let (jobs_tx, jobs_rx) = mpsc::channel::<Work>();
    let (events_tx, events_rx) = mpsc::channel::<Event>();
    let face_events = events_tx.clone();
    let (face_tx, face_rx) = mpsc::channel::<face_service::FaceJob>();

    // The card reader and, on the simulated board, the hands that place its cards. The card
    // thread hands the photo it opens to the face thread.
    let mut hands = devices::Hands::default();
    let issuers = devices::card(&board.card, &state, jobs_rx, events_tx, face_tx, &mut hands)?;
    // Card and face events are forwarded into the one input queue.
    forward("card-events", events_rx, inputs_tx.clone())?;
    let (surface_tx, surface_rx) = mpsc::channel::<surface_service::SurfaceJob>();
    let face_op = face_service::ActiveOp::default();
    // The cameras' openers are shared with the self-tests.
    let mut cameras = self_tests::Cameras::default();
    let card_camera = devices::card_camera(&board.card_camera, &issuers, &mut hands)?.map(|o| cameras.share_card(o));
    // An accepted 照合番号B goes to the main loop, which gives it to the card thread as a job for
    // the card placed now (like every other card job).
    let deliver: surface_service::Deliver = {
        let inputs_tx = inputs_tx.clone();
        Box::new(move |op, collation| {
            let _ = inputs_tx.send(Input::CardNumbers { op, collation });
        })
    };
    let accuracy = face_service::AccuracySetting::default();
    let wiring = FaceWiring {
        accuracy: accuracy.clone(),
        card_camera,
        active: face_op.clone(),
        jobs: face_rx,
        surface_jobs: surface_rx,
        events: face_events,
        deliver,
        preview,
    };
    let face_available = start_face(&board.face, &mut hands, &mut cameras, wiring)?;

    let pairing_store = Arc::new(pairing::Pairing::load(&state)?);
    let trust = link::Trust {
        key: Arc::new(key.link_key()),
        hello: kaoyomi_protocol::channel::ReaderHello {
            serial: serial.into(),
            device_key: key.public(),
            paired: false,
        },
        pairing: pairing_store.clone(),
    };
    let link = match socket_path(&board, &state) {
        Some(path) => {
            link::serve(&path, inputs_tx.clone(), trust).with_context(|| format!("listening on {}", path.display()))?
        }
        None => {
            let functionfs = match &board.terminal {
                TerminalLink::UsbGadget { functionfs } => functionfs.clone(),
                TerminalLink::Socket { .. } => None,
            };
            let what = match &functionfs {
                Some(dir) => format!("serving the USB interface on {} (prepared by `usb-gadget setup`)", dir.display()),
                None => "creating the USB gadget (needs root, ConfigFS and a USB device controller)".to_string(),
            };
            link::serve_usb(serial, functionfs.as_deref(), inputs_tx.clone(), trust).context(what)?
        }
    };

    // Taps on the windows join the same queue, and so do the maintenance pages' actions.
    if let Some(taps) = taps {
        forward("taps", taps, inputs_tx.clone())?;
    }
    if let Some(actions) = maintenance {
        let to = inputs_tx.clone();
        std::thread::Builder::new().name("maintenance".into()).spawn(move || {
            for action in actions {
                if to.send(Input::Maintenance(action)).is_err() {
                    return;
                }
            }
        })?;
    }

    // Scripted or typed input (simulated board): the script waits on the screens shown.
    #[cfg(feature = "sim")]
    let screens_tx = {
        let (screens_tx, screens) = mpsc::channel::<&'static str>();
        let runner = script::Runner {
            inputs: inputs_tx.clone(),
            screens,
            card: hands.card.take(),
            camera: hands.camera.take(),
            card_camera: hands.card_camera.take(),
            pace,
        };
        match input {
            InputSource::Script(lines) => {
                std::thread::Builder::new().name("script".into()).spawn(move || runner.run_script(lines))?;
            }
            InputSource::Stdin => {
                std::thread::Builder::new().name("stdin".into()).spawn(move || runner.run_stdin())?;
            }
            InputSource::None => drop(runner),
        }
        screens_tx
    };
    #[cfg(not(feature = "sim"))]
    let _ = (input, pace, hands);

    let start = Instant::now();
    let desk = desk::Desk::open(&state, &key, &board.name, wall_ms());
    let mut main = MainLoop::new(Config { timeouts: Timeouts::default(), face_available, serial }, key, &board.name);
    let mut out = Wired {
        pairing_view,
        show_screens,
        view,
        #[cfg(feature = "sim")]
        screens: screens_tx,
        jobs: jobs_tx,
        face_op,
        surface: surface_tx,
        link,
        maintenance_view,
        settings_view,
        accuracy,
        pairing: pairing_store,
        cameras,
        touch,
        inputs: inputs_tx.clone(),
    };
    let mut desk = desk;
    desk.operation(wall_ms(), &kaoyomi_store::Operation::ReaderStarted);
    desk.purge(wall_ms());
    main.attach_desk(now(start), desk, &mut out);
    out.show(&main.session.screen());
    log::info!("reader {serial} ready on board {}", board.name);
    loop {
        let input = match inputs.recv_timeout(Duration::from_millis(100)) {
            Ok(input) => input,
            Err(RecvTimeoutError::Timeout) => Input::Core(Event::Tick),
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match main.step(now(start), input, &mut out) {
            Flow::Continue => {}
            Flow::Quit(Ok(())) => break,
            Flow::Quit(Err(message)) => {
                if let Some(desk) = main.desk() {
                    desk.operation(wall_ms(), &kaoyomi_store::Operation::ReaderStopping);
                }
                bail!("{message}")
            }
        }
        let summary = &main.summary;
        if once
            && summary.reports_sent + summary.reports_lost > 0
            && main.session.screen().screen.name() == "place-card"
        {
            break;
        }
    }
    if let Some(desk) = main.desk() {
        desk.operation(wall_ms(), &kaoyomi_store::Operation::ReaderStopping);
    }
    Ok(main.summary)
}

/// Writes `text` to a new file at `path` (replacing one there, never following a link), mode 0640.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// Shows or clears a pairing code (and the terminal's name) on the staff display.
pub type PairingView = Box<dyn Fn(Option<(kaoyomi_protocol::PairingCode, &str)>) + Send>;

/// The main loop's outputs in a running reader: the threads' channels, the screens, the link.
struct Wired {
    pairing_view: Option<PairingView>,
    show_screens: bool,
    view: Option<ScreenView>,
    /// Screen names for the script, which waits on them.
    #[cfg(feature = "sim")]
    screens: mpsc::Sender<&'static str>,
    jobs: mpsc::Sender<Work>,
    face_op: face_service::ActiveOp,
    surface: mpsc::Sender<surface_service::SurfaceJob>,
    link: link::LinkWriter,
    /// Where the maintenance pages go (the staff display).
    maintenance_view: Option<MaintenanceView>,
    /// Where the settings for the patient's screens go.
    settings_view: Option<SettingsView>,
    /// The face check's accuracy setting, read by the face thread at each check.
    accuracy: face_service::AccuracySetting,
    /// The paired terminals (counted for the maintenance pages).
    pairing: Arc<pairing::Pairing>,
    /// The cameras' openers, for the self-tests.
    cameras: self_tests::Cameras,
    /// The touch panel's status, for the self-test.
    touch: Option<self_tests::Touch>,
    /// The main loop's queue (the self-tests' lines come back through it).
    inputs: mpsc::Sender<Input>,
}

/// Shows the maintenance pages (the staff display); callable from the reader's thread.
pub type MaintenanceView = Box<dyn Fn(&kaoyomi_maintenance::contract::View) + Send>;

/// Gives the patient's screens the facility's settings (languages offered, consent notes).
pub type SettingsView = Box<dyn Fn(&kaoyomi_maintenance::Settings) + Send>;

/// Milliseconds since the Unix epoch (the logs' time).
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Outputs for Wired {
    fn maintenance_view(&mut self, view: &kaoyomi_maintenance::contract::View) {
        #[cfg(feature = "sim")]
        if self.show_screens {
            println!("[staff] maintenance page {:?} {}", view.page, view.message.key);
        }
        if let Some(show) = &self.maintenance_view {
            show(view);
        }
    }

    fn apply_settings(&mut self, settings: &kaoyomi_maintenance::Settings) {
        self.accuracy.set(settings.face_accuracy);
        if let Some(show) = &self.settings_view {
            show(settings);
        }
    }

    fn paired_terminals(&self) -> usize {
        self.pairing.count()
    }

    fn run_self_tests(&mut self) {
        use kaoyomi_maintenance::contract::Part;
        let inputs = self.inputs.clone();
        let send = move |line| {
            let _ = inputs.send(Input::SelfTested(line));
        };
        let link = (self.link.connected(), self.link.serving(), self.pairing.count());
        self_tests::at_once(link, self.touch.as_ref()).into_iter().for_each(&send);
        // The devices, on a thread of their own (a camera takes seconds), the card reader by
        // its thread.
        let (card_tx, card_rx) = mpsc::channel();
        let card_thread_alive = self.jobs.send(Work::SelfTest(card_tx)).is_ok();
        let cameras = self.cameras.clone();
        let started = std::thread::Builder::new().name("self-test".into()).spawn(move || {
            let card = match card_rx.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => line,
                Err(_) => self_tests::failed(
                    Part::CardReader,
                    "selftest.note.card-thread-silent",
                    if card_thread_alive { "no answer in 10 s" } else { "the card thread has stopped" },
                ),
            };
            send(card);
            self_tests::cameras(&cameras).into_iter().for_each(send);
        });
        if let Err(e) = started {
            log::error!("self-test: cannot start its thread: {e}");
        }
    }

    fn show(&mut self, state: &kaoyomi_core::ScreenState) {
        if self.show_screens {
            // The demo and the tests print what the patient reads; a device's journal gets only
            // which screen was shown (what happened, never what a patient read).
            #[cfg(feature = "sim")]
            println!("[{}] {}", state.screen.name(), text_view::render(state));
            #[cfg(not(feature = "sim"))]
            log::info!("screen {}", state.screen.name());
        }
        if let Some(view) = &self.view {
            view(state);
        }
        #[cfg(feature = "sim")]
        let _ = self.screens.send(state.screen.name());
    }

    fn card(&mut self, work: Work) {
        let _ = self.jobs.send(work);
    }

    fn start_face_check(&mut self, job: surface_service::SurfaceJob) -> bool {
        self.face_op.store(job.op, std::sync::atomic::Ordering::SeqCst);
        self.surface.send(job).is_ok()
    }

    fn stop_face_check(&mut self) {
        self.face_op.store(0, std::sync::atomic::Ordering::SeqCst);
    }

    fn respond(&mut self, to: u32, response: Response) {
        self.link.respond(to, response);
    }

    fn pairing(&mut self, offer: Option<&PairingOffer>) {
        match offer {
            Some(offer) => {
                log::info!("pairing: terminal {:?} asks to pair; its code is on the staff display", offer.terminal)
            }
            None => log::info!("pairing: the pairing code is off the staff display"),
        }
        #[cfg(feature = "sim")]
        if self.show_screens {
            match offer {
                Some(offer) => println!("[staff] pairing code for terminal {:?}: {}", offer.terminal, offer.code),
                None => println!("[staff] pairing code cleared"),
            }
        }
        // The maintenance console (and the QEMU test, as root) reads it where the unit's runtime
        // directory is; readable by the reader's user and group only.
        if let Some(dir) = std::env::var_os("RUNTIME_DIRECTORY") {
            let path = Path::new(&dir).join("pairing-code");
            let written = match offer {
                Some(offer) => write_private(&path, &format!("{}\n", offer.code)),
                None => std::fs::remove_file(&path)
                    .or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) }),
            };
            if let Err(e) = written {
                log::warn!("pairing: {}: {e}", path.display());
            }
        }
        if let Some(show) = &self.pairing_view {
            show(offer.map(|o| (o.code, o.terminal.as_str())));
        }
    }

    fn send(&mut self, body: Body) -> bool {
        self.link.send(body)
    }
}
