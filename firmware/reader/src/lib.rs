//! The Kaoyomi reader firmware: the composition root.
//!
//! [`run`] reads the board file, opens the devices it names (one thread per device), feeds their
//! events to the session core ([`kaoyomi_core::Session`]) together with the time, and carries out
//! the commands core returns: card jobs go to the card thread, screens to the view, notifications
//! and signed reports to the terminal link.

pub mod card_info;
pub mod card_service;
pub mod device_key;
pub mod face_service;
pub mod harden;
pub mod link;
pub mod script;
pub mod selftest;
pub mod surface_service;
pub mod text_view;

use anyhow::{Context, Result, bail};
use card_service::Work;
use device_key::DeviceKey;
use kaoyomi_board::{Board, CardCameraDevice, CardDevice, FaceDevice, TerminalLink};
use kaoyomi_core::{Command, Config, Event, FaceProblem, FaceResult, Now, Session, Timeouts};
use kaoyomi_hal_sim::card_camera::SimCardCameraControl;
use kaoyomi_hal_sim::{CounterStore, Scene, SimCameraControl, SimCardSlot, VirtualCard, persona, pki};
use kaoyomi_myna::surface::IssuerKeys;
use kaoyomi_protocol::{Body, DeviceInfo, Notification, PROTOCOL_VERSION, Response, SignedReport};
#[cfg(feature = "face")]
use kaoyomi_vision::{
    calibration::Accuracy,
    check::{Models, Settings},
};
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
    /// Stop; an error message if a script failed.
    Quit(Result<(), String>),
}

/// Where input comes from.
#[derive(Debug, Clone)]
pub enum InputSource {
    /// Lines of a script.
    Script(Vec<String>),
    /// Typed on stdin.
    Stdin,
    /// None (tests drive the reader through the terminal only).
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
            .field("pace", &self.pace)
            .finish()
    }
}

/// Shows a screen state (on the windows); called from the main loop's thread.
pub type ScreenView = Box<dyn Fn(&kaoyomi_core::ScreenState) + Send>;

/// Shows a face-camera frame (width, height, greyscale row-major pixels, shrunk for the screen)
/// in the face-capture preview; called from the face thread while a check runs.
pub type PreviewView = Arc<dyn Fn(u32, u32, &[u8]) + Send + Sync>;

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Reports sent to the terminal.
    pub reports_sent: u32,
    /// Reports that could not be sent (no terminal).
    pub reports_lost: u32,
}

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
}

/// Loads the models and starts the face and card-surface threads for the board's cameras; their
/// events join the card's on `events`. The face check is offered only when the face camera, the
/// card camera (照合番号B opens the card photo) and the models exist; otherwise the log says which
/// is missing.
fn start_face(face: &FaceDevice, wiring: FaceWiring) -> Result<(Option<SimCameraControl>, bool)> {
    let (models_dir, control, open): (&Path, Option<SimCameraControl>, face_service::OpenCamera) = match face {
        FaceDevice::None => return Ok((None, false)),
        FaceDevice::Sim { scene, models } => {
            let scene =
                Scene::parse(scene).with_context(|| format!("board file names unknown camera scene {scene:?}"))?;
            let control = SimCameraControl::new(scene);
            let c = control.clone();
            (models, Some(control), Box::new(move || Ok(Box::new(c.open()) as Box<dyn face_service::FrameSource>)))
        }
        FaceDevice::V4l2 { device, models } => {
            let device = device.clone();
            let open: face_service::OpenCamera = Box::new(move || {
                kaoyomi_hal_linux::camera::V4lCamera::open(&device, 640, 480)
                    .map(|c| Box::new(c) as Box<dyn face_service::FrameSource>)
                    .map_err(|e| e.to_string())
            });
            (models, None, open)
        }
    };
    #[cfg(not(feature = "face"))]
    {
        let _ = (models_dir, open, wiring);
        log::warn!("face check off: this reader was built without it (feature `face`)");
        Ok((control, false))
    }
    #[cfg(feature = "face")]
    start_face_threads(models_dir, control, open, wiring)
}

#[cfg(feature = "face")]
fn start_face_threads(
    models_dir: &Path,
    control: Option<SimCameraControl>,
    open: face_service::OpenCamera,
    wiring: FaceWiring,
) -> Result<(Option<SimCameraControl>, bool)> {
    let models = match (kaoyomi_models::yunet::YuNet::load(models_dir), kaoyomi_models::sface::SFace::load(models_dir))
    {
        (Ok(d), Ok(e)) => Models { detector: Box::new(d), embedder: Box::new(e) },
        (Err(e), _) | (_, Err(e)) => {
            log::error!("face check off: the models in {} cannot be used: {e}", models_dir.display());
            return Ok((control, false));
        }
    };
    let Some(card_camera) = wiring.card_camera else {
        log::warn!("face check off: the card's printed numbers (照合番号B) cannot be read on this board");
        return Ok((control, false));
    };
    let rec = match kaoyomi_models::ppocr::PpOcrRec::load(models_dir) {
        Ok(r) => r,
        Err(e) => {
            log::error!("face check off: the text recogniser in {} cannot be used: {e}", models_dir.display());
            return Ok((control, false));
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
        Settings::for_accuracy(Accuracy::Standard),
        open,
        wiring.active,
        wiring.jobs,
        wiring.events,
        wiring.preview,
    )?;
    Ok((control, true))
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
    let Options { board, state, input, once, show_screens, view, preview, taps, pace } = options;
    std::fs::create_dir_all(&state).with_context(|| format!("creating state directory {}", state.display()))?;
    let key = DeviceKey::load_or_create(&state)?;
    let serial: &'static str = Box::leak(key.serial().to_string().into_boxed_str());

    let (inputs_tx, inputs) = mpsc::channel::<Input>();
    let (jobs_tx, jobs_rx) = mpsc::channel::<Work>();
    let (events_tx, events_rx) = mpsc::channel::<Event>();
    let face_events = events_tx.clone();

    // The card reader. On the sim board the card camera shows the inserted persona's card.
    let mut slot_persona: Option<Arc<dyn Fn() -> Option<&'static str> + Send + Sync>> = None;
    // The issuers whose card-face certificates the reader trusts: the simulated cards' test issuer
    // on the sim board (the face check is off elsewhere until the OCR issue).
    let mut issuers = Arc::new(IssuerKeys::default());
    let hand: Option<Box<dyn script::CardHand>> = match &board.card {
        CardDevice::Sim { persona: start } => {
            let slot = SimCardSlot::new();
            let control = slot.control();
            issuers = Arc::new(IssuerKeys::default().with(pki::TEST_ISSUER_KEY_ID, pki::test_issuer_public()?));
            slot_persona = Some(Arc::new(move || control.with_card(|c| c.persona().id)));
            let store = CounterStore::new(state.join("sim-cards"));
            if let Some(id) = start {
                let p = persona::find(id).with_context(|| format!("board file names unknown persona {id:?}"))?;
                slot.control().insert(VirtualCard::issue(p, store.clone())?);
            }
            card_service::spawn(slot.reader(), jobs_rx, events_tx);
            Some(Box::new(script::SlotHand { control: slot.control(), store }))
        }
        CardDevice::Pcsc { reader, sim_control } => {
            let pcsc =
                kaoyomi_hal_linux::pcsc::PcscReader::new(reader).context("connecting to pcscd (is it running?)")?;
            card_service::spawn(pcsc, jobs_rx, events_tx);
            sim_control.as_ref().map(|path| {
                let control = if path.is_absolute() { path.clone() } else { state.join(path) };
                Box::new(script::CardsimHand { control }) as Box<dyn script::CardHand>
            })
        }
    };
    // Card and face events are forwarded into the one input queue.
    forward("card-events", events_rx, inputs_tx.clone())?;
    let (face_tx, face_rx) = mpsc::channel::<face_service::FaceJob>();
    let (surface_tx, surface_rx) = mpsc::channel::<surface_service::SurfaceJob>();
    let face_op = face_service::ActiveOp::default();
    let mut card_camera_control = None;
    let card_camera: Option<surface_service::OpenCardCamera> = match (&board.card_camera, &slot_persona) {
        (CardCameraDevice::None, _) => None,
        // Without the card issuers' keys no chip can prove itself genuine, so the photo would never
        // be used: the card's 照合番号B is not even read.
        (_, _) if issuers.is_empty() => {
            log::warn!("face check off: no card issuer keys are configured (the chip authenticity check)");
            None
        }
        (CardCameraDevice::Sim, Some(persona)) => {
            let persona = persona.clone();
            let control = SimCardCameraControl::new(move || persona());
            card_camera_control = Some(control.clone());
            Some(Box::new(move || Ok(Box::new(control.open()) as Box<dyn face_service::FrameSource>)))
        }
        (CardCameraDevice::Sim, None) => bail!("the simulated card camera needs the simulated card slot"),
        (CardCameraDevice::V4l2 { device }, _) => {
            let device = device.clone();
            Some(Box::new(move || {
                kaoyomi_hal_linux::camera::V4lCamera::open(&device, 1280, 720)
                    .map(|c| Box::new(c) as Box<dyn face_service::FrameSource>)
                    .map_err(|e| e.to_string())
            }))
        }
    };
    // An accepted 照合番号B goes to the card thread, which opens the photo and hands it to the
    // face thread.
    let deliver: surface_service::Deliver = {
        let (jobs_tx, issuers, face_tx) = (jobs_tx.clone(), issuers.clone(), face_tx.clone());
        Box::new(move |op, collation| {
            let _ = jobs_tx.send(Work::CardPhoto { op, collation, issuers: issuers.clone(), reply: face_tx.clone() });
        })
    };
    let wiring = FaceWiring {
        card_camera,
        active: face_op.clone(),
        jobs: face_rx,
        surface_jobs: surface_rx,
        events: face_events,
        deliver,
        preview,
    };
    let (camera_control, face_available) = start_face(&board.face, wiring)?;

    let link = match socket_path(&board, &state) {
        Some(path) => {
            link::serve(&path, inputs_tx.clone()).with_context(|| format!("listening on {}", path.display()))?
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
            link::serve_usb(serial, functionfs.as_deref(), inputs_tx.clone()).context(what)?
        }
    };

    // Taps on the windows join the same queue.
    if let Some(taps) = taps {
        forward("taps", taps, inputs_tx.clone())?;
    }

    let (screens_tx, screens_rx) = mpsc::channel::<&'static str>();
    let runner = script::Runner {
        inputs: inputs_tx.clone(),
        screens: screens_rx,
        card: hand,
        camera: camera_control,
        card_camera: card_camera_control,
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

    let start = Instant::now();
    let mut chip_expiry: Option<u32> = None;
    let mut session = Session::new(Config { timeouts: Timeouts::default(), face_available, serial });
    let mut summary = Summary::default();
    let show = |state: &kaoyomi_core::ScreenState| {
        if show_screens {
            println!("[{}] {}", state.screen.name(), text_view::render(state));
        }
        if let Some(view) = &view {
            view(state);
        }
        let _ = screens_tx.send(state.screen.name());
    };
    show(&session.screen());
    log::info!("reader {serial} ready on board {}", board.name);

    loop {
        let input = match inputs.recv_timeout(Duration::from_millis(100)) {
            Ok(input) => input,
            Err(RecvTimeoutError::Timeout) => Input::Core(Event::Tick),
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let event = match input {
            Input::Core(event) => event,
            Input::DeviceInfo { seq } => {
                let info = DeviceInfo {
                    protocol_version: PROTOCOL_VERSION,
                    firmware_version: env!("CARGO_PKG_VERSION").into(),
                    board: board.name.clone(),
                    serial: serial.into(),
                    device_key: key.public(),
                    visual_mode: session.visual_mode(),
                };
                link.respond(seq, Response::DeviceInfo(info));
                continue;
            }
            Input::Quit(Ok(())) => break,
            Input::Quit(Err(message)) => bail!("{message}"),
        };
        // The chip's expiry (read without credentials with the card) checks the printed one.
        match &event {
            Event::CardRead { summary, .. } => chip_expiry = summary.expiry,
            Event::CardPlaced | Event::CardRemoved => chip_expiry = None,
            _ => {}
        }
        let commands = session.handle(now(start), event);
        for command in commands {
            match command {
                Command::Show(state) => show(&state),
                Command::Card(job) => {
                    let _ = jobs_tx.send(Work::Core(job));
                }
                Command::StartFaceCheck { op } => {
                    face_op.store(op, std::sync::atomic::Ordering::SeqCst);
                    let today = kaoyomi_core::today_jst(now(start).unix_ms);
                    let job = surface_service::SurfaceJob { op, today, chip_expiry };
                    if surface_tx.send(job).is_err() {
                        let result = FaceResult::Unavailable(FaceProblem::CardNumbers);
                        let _ = inputs_tx.send(Input::Core(Event::FaceChecked { op, result }));
                    }
                }
                Command::StopFaceCheck => {
                    face_op.store(0, std::sync::atomic::Ordering::SeqCst);
                }
                Command::Respond { to, response } => {
                    link.respond(to, response);
                }
                Command::Notify(notification) => {
                    link.send(Body::Notification(notification));
                }
                Command::SendReport(report) => {
                    let bytes = report.to_bytes();
                    let signature = key.sign(&bytes);
                    if link.send(Body::Notification(Notification::Result(SignedReport { report: bytes, signature }))) {
                        summary.reports_sent += 1;
                    } else {
                        summary.reports_lost += 1;
                        log::error!(
                            "session {} ended but no terminal is connected: the report is lost",
                            report.session_id
                        );
                    }
                }
                Command::Wipe => log::debug!("session data wiped"),
                Command::Log(entry) => log::info!("{entry:?}"),
            }
        }
        if once && summary.reports_sent + summary.reports_lost > 0 && session.screen().screen.name() == "place-card" {
            break;
        }
    }
    Ok(summary)
}
