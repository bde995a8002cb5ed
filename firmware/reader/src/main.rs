//! `kaoyomi-reader`: the reader firmware binary.
//!
//! `kaoyomi-reader run --board FILE` runs the reader on a board. A build with feature `sim` (the
//! demo and the tests, never a device) also has the built-in simulated boards (the default there),
//! scripted or typed input, and `kaoyomi-reader sim ...` for the simulated cards (personas, test
//! CA, counters).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use kaoyomi_board::Board;
#[cfg(feature = "sim")]
use kaoyomi_hal_sim::{CounterStore, persona, pki};
use kaoyomi_reader::{InputSource, Options};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "kaoyomi-reader", version, about = "Kaoyomi face-authentication card reader firmware")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the reader.
    Run(RunArgs),
    /// Print what the reader can see of the card without credentials (token, certificate,
    /// retry counters read without a try, expiry).
    CardInfo {
        /// Board file (a simulator build also knows `sim` and `sim-pcsc`, `sim` by default).
        #[cfg_attr(feature = "sim", arg(long, default_value = "sim"))]
        #[cfg_attr(not(feature = "sim"), arg(long))]
        board: PathBuf,
        /// On the sim board: the persona whose card to place.
        #[cfg(feature = "sim")]
        #[arg(long, default_value = "normal")]
        persona: String,
        /// State directory (the sim cards' counters).
        #[cfg(feature = "sim")]
        #[arg(long, default_value = "/var/lib/kaoyomi")]
        state: PathBuf,
    },
    /// Device self-test for engineers.
    Selftest {
        #[command(subcommand)]
        command: SelftestCmd,
    },
    /// Forget every terminal paired with this reader (the maintenance side); each must pair again.
    Unpair {
        /// State directory.
        #[arg(long, default_value = "/var/lib/kaoyomi")]
        state: PathBuf,
    },
    /// Print the maintenance accounts' initial passwords (for the sheet that goes with the
    /// device; each must be changed at its first login). Needs the device key: root on a device.
    InitialPasswords {
        /// State directory.
        #[arg(long, default_value = "/var/lib/kaoyomi")]
        state: PathBuf,
    },
    /// The privileged halves of the USB set-up, so the reader itself never runs as root.
    UsbGadget {
        #[command(subcommand)]
        command: UsbCmd,
    },
    /// Simulated cards.
    #[cfg(feature = "sim")]
    Sim {
        #[command(subcommand)]
        command: SimCmd,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Board file. A simulator build also knows the built-in boards `sim` (its default),
    /// `sim-pcsc` (the card behind pcscd) and `sim-face` (with the simulated face camera).
    #[cfg_attr(not(feature = "sim"), arg(long, required = true))]
    #[cfg_attr(feature = "sim", arg(long))]
    board: Option<PathBuf>,
    /// State directory: device key, terminal socket (and the simulated cards' counters).
    #[arg(long, default_value = "/var/lib/kaoyomi")]
    state: PathBuf,
    /// Script of patient and staff actions (see the script module); without it, type them.
    #[cfg(feature = "sim")]
    #[arg(long)]
    script: Option<PathBuf>,
    /// Stop after the first session ended and the card was removed.
    #[arg(long)]
    once: bool,
    /// Show the patient's touch screen and the staff display (built with feature `window`
    /// for a desktop, `linuxkms` for the device).
    #[arg(long)]
    window: bool,
    /// Milliseconds to pause before each scripted action (to watch a script on the windows).
    #[cfg(feature = "sim")]
    #[arg(long, default_value_t = 0)]
    pace_ms: u64,
}

#[derive(Subcommand)]
enum SelftestCmd {
    /// Tap a touch panel and read the tap back through evdev; without `--device`, a uinput
    /// touchscreen stands in for the panel (QEMU guest, development machines).
    Touch {
        /// The panel's event device (`/dev/input/eventN`).
        #[arg(long)]
        device: Option<PathBuf>,
    },
    /// Drive the LEDs on GPIO lines 0.. of a chip with a pattern (`1` on, `0` off), hold it, then
    /// turn them all off.
    Leds {
        /// GPIO character device.
        #[arg(long)]
        chip: PathBuf,
        /// One digit per line, from line 0.
        #[arg(long, default_value = "1111")]
        pattern: String,
        /// How long to hold the pattern, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        hold_ms: u64,
    },
    /// Stream frames from a V4L2 camera and report size, rate and drops; with `--looped`, route
    /// vivid's HDMI output into the camera and check that the test picture (played into that
    /// output, see `test-picture`) comes back.
    Camera {
        /// The camera's video device.
        #[arg(long)]
        device: PathBuf,
        /// Frames to stream.
        #[arg(long, default_value_t = 30)]
        frames: u32,
        /// Width asked for (the driver may choose the nearest it has).
        #[arg(long, default_value_t = 1280)]
        width: u32,
        /// Height asked for.
        #[arg(long, default_value_t = 720)]
        height: u32,
        /// Expect the test picture through vivid's loop-back.
        #[arg(long)]
        looped: bool,
    },
    /// Write the camera self-test's picture as raw 8-bit greyscale.
    TestPicture {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Width.
        #[arg(long, default_value_t = 1280)]
        width: u32,
        /// Height.
        #[arg(long, default_value_t = 720)]
        height: u32,
    },
    /// Play the chime on an ALSA device; with `--loopback`, record that capture device meanwhile
    /// (snd-aloop) and check the chime was heard.
    Speaker {
        /// ALSA PCM device to play on.
        #[arg(long, default_value = "default")]
        device: String,
        /// ALSA capture device that hears the speaker.
        #[arg(long)]
        loopback: Option<String>,
    },
}

#[derive(Subcommand)]
enum UsbCmd {
    /// Register the reader's gadget (serial from the device key in `--state`) and mount its
    /// FunctionFS for the reader's user; run as root before the reader starts.
    Setup {
        /// The reader's state directory (the device key, made here if missing, owned by `--uid`).
        #[arg(long)]
        state: PathBuf,
        /// Where to mount FunctionFS (the board file's `functionfs`).
        #[arg(long)]
        functionfs: PathBuf,
        /// The reader's user id.
        #[arg(long)]
        uid: u32,
        /// The reader's group id.
        #[arg(long)]
        gid: u32,
    },
    /// Bind the registered gadget to the USB device controller once the reader has written its
    /// descriptors; run as root after the reader starts.
    Bind {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 30)]
        timeout_s: u64,
    },
    /// Remove the gadget and unmount its FunctionFS; run as root after the reader stopped, so that
    /// a restart begins from nothing.
    Teardown {
        /// Where `setup` mounted FunctionFS.
        #[arg(long)]
        functionfs: PathBuf,
    },
}

#[cfg(feature = "sim")]
#[derive(Subcommand)]
enum SimCmd {
    /// List the personas and their test PINs.
    Personas,
    /// Write the test CA certificate (DER) that issued every simulated card.
    ExportCa {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Forget the simulated cards' retry counters (as if new cards were issued).
    ResetCards {
        /// State directory.
        #[arg(long)]
        state: PathBuf,
    },
}

#[cfg(feature = "sim")]
fn load_board(board: Option<PathBuf>) -> Result<Board> {
    Ok(match board {
        None => Board::sim(),
        Some(path) if path.as_os_str() == "sim" => Board::sim(),
        Some(path) if path.as_os_str() == "sim-pcsc" => Board::sim_pcsc(),
        Some(path) if path.as_os_str() == "sim-face" => Board::sim_face(),
        Some(path) => Board::load(&path)?,
    })
}

/// A device build knows no built-in board: the board file is required.
#[cfg(not(feature = "sim"))]
fn load_board(board: Option<PathBuf>) -> Result<Board> {
    let path = board.context("a board file is required (--board FILE)")?;
    Ok(Board::load(&path)?)
}

/// Patient and staff input besides the screens: a script or typed lines on a simulator build.
#[cfg(feature = "sim")]
fn input(args: &RunArgs) -> Result<(InputSource, std::time::Duration)> {
    let source = match &args.script {
        Some(path) => InputSource::Script(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading script {}", path.display()))?
                .lines()
                .map(String::from)
                .collect(),
        ),
        None => InputSource::Stdin,
    };
    Ok((source, std::time::Duration::from_millis(args.pace_ms)))
}

/// On a device the patient and staff act on the screens only; nothing reads standard input.
#[cfg(not(feature = "sim"))]
fn input(_: &RunArgs) -> Result<(InputSource, std::time::Duration)> {
    Ok((InputSource::None, std::time::Duration::ZERO))
}

fn main() -> Result<()> {
    // Before anything personal can exist in this process.
    kaoyomi_reader::harden::no_core_dumps().context("turning core dumps off")?;
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .target(env_logger::Target::Stderr)
        .init();
    match Cli::parse().command {
        Cmd::Run(args) => {
            let (input, pace) = input(&args)?;
            let RunArgs { board, state, once, window, .. } = args;
            let board = load_board(board)?;
            log::info!("core dumps off: {}", kaoyomi_reader::harden::is_hardened());
            let options = Options {
                board,
                state,
                input,
                once,
                show_screens: true,
                view: None,
                preview: None,
                taps: None,
                pairing_view: None,
                maintenance: None,
                maintenance_view: None,
                settings_view: None,
                touch: None,
                pace,
            };
            let summary = if window { run_windowed(options)? } else { kaoyomi_reader::run(options)? };
            log::info!("reader stopped: {} report(s) sent, {} lost", summary.reports_sent, summary.reports_lost);
        }
        #[cfg(feature = "sim")]
        Cmd::CardInfo { board, persona: id, state } => {
            let board = load_board(Some(board))?;
            let info = match &board.card {
                kaoyomi_board::CardDevice::Sim { .. } => {
                    let slot = kaoyomi_hal_sim::SimCardSlot::new();
                    let p = persona::find(&id).with_context(|| format!("unknown persona {id:?}"))?;
                    slot.control()
                        .insert(kaoyomi_hal_sim::VirtualCard::issue(p, CounterStore::new(state.join("sim-cards")))?);
                    kaoyomi_reader::card_info::read(&mut slot.reader())
                }
                kaoyomi_board::CardDevice::Pcsc { reader, .. } => {
                    let mut pcsc = kaoyomi_hal_linux::pcsc::PcscReader::new(reader).context("connecting to pcscd")?;
                    kaoyomi_hal::card::CardReader::wait_presence(&mut pcsc, std::time::Duration::from_millis(500))?;
                    kaoyomi_reader::card_info::read(&mut pcsc)
                }
            };
            println!("{}", info.context("reading the card")?);
        }
        #[cfg(not(feature = "sim"))]
        Cmd::CardInfo { board } => {
            let board = load_board(Some(board))?;
            if let Some(device) = board.simulated_devices().first() {
                anyhow::bail!(
                    "the board file names a simulated {device}; this is a device build without the simulator"
                );
            }
            let kaoyomi_board::CardDevice::Pcsc { reader, .. } = &board.card else {
                anyhow::bail!("the board file names no PC/SC card reader");
            };
            let mut pcsc = kaoyomi_hal_linux::pcsc::PcscReader::new(reader).context("connecting to pcscd")?;
            kaoyomi_hal::card::CardReader::wait_presence(&mut pcsc, std::time::Duration::from_millis(500))?;
            println!("{}", kaoyomi_reader::card_info::read(&mut pcsc).context("reading the card")?);
        }
        Cmd::Selftest { command: SelftestCmd::Touch { device } } => {
            use kaoyomi_hal_linux::touch::{EvdevTouch, UinputTouchscreen};
            let mut virtual_panel = match device {
                Some(_) => None,
                None => Some(UinputTouchscreen::create("Kaoyomi self-test touchscreen", 1920, 1080)?),
            };
            let node = match (&device, virtual_panel.as_mut()) {
                (Some(d), _) => d.clone(),
                (None, Some(panel)) => panel.event_node()?,
                (None, None) => unreachable!("a virtual panel exists when no device is given"),
            };
            let mut touch = EvdevTouch::open(&node).with_context(|| format!("opening {}", node.display()))?;
            match virtual_panel.as_mut() {
                Some(panel) => {
                    // Give the event device a moment to be listened to before tapping.
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    panel.tap(960, 540)?;
                }
                None => println!("tap the panel within 10 s"),
            }
            match touch.next_tap(std::time::Duration::from_secs(10))? {
                Some(tap) => println!("touch: tap at {},{} on {}", tap.x, tap.y, node.display()),
                None => anyhow::bail!("no tap arrived from {}", node.display()),
            }
        }
        Cmd::Selftest { command: SelftestCmd::Leds { chip, pattern, hold_ms } } => {
            let mut leds = Vec::new();
            for (line, digit) in pattern.chars().enumerate() {
                let mut led = kaoyomi_hal_linux::gpio::CdevLed::open(&chip, line as u32, "kaoyomi-selftest")?;
                led.set(digit == '1')?;
                println!("LED line {line}: {}", if digit == '1' { "on" } else { "off" });
                leds.push(led);
            }
            std::thread::sleep(std::time::Duration::from_millis(hold_ms));
            for led in &mut leds {
                led.set(false)?;
            }
        }
        Cmd::Selftest { command: SelftestCmd::Camera { device, frames, width, height, looped } } => {
            kaoyomi_reader::selftest::camera(&device, frames, width, height, looped)?;
        }
        Cmd::Selftest { command: SelftestCmd::TestPicture { out, width, height } } => {
            kaoyomi_reader::selftest::write_test_picture(&out, width, height)?;
        }
        Cmd::Selftest { command: SelftestCmd::Speaker { device, loopback } } => {
            kaoyomi_reader::selftest::speaker(&device, loopback.as_deref())?;
        }
        Cmd::UsbGadget { command: UsbCmd::Setup { state, functionfs, uid, gid } } => {
            // A key made here by root must stay readable by the reader alone; nothing in the
            // reader's directory is followed or reused (see `load_or_create_for`).
            let key = kaoyomi_reader::device_key::DeviceKey::load_or_create_for(&state, Some((uid, gid)))?;
            kaoyomi_hal_linux::usb::prepare_gadget(key.serial(), kaoyomi_reader::link::PRODUCT, &functionfs, uid, gid)
                .context("registering the USB gadget (needs root, ConfigFS and a USB device controller)")?;
            println!("usb-gadget: {} registered, FunctionFS at {} for user {uid}", key.serial(), functionfs.display());
        }
        Cmd::UsbGadget { command: UsbCmd::Bind { timeout_s } } => {
            kaoyomi_hal_linux::usb::bind_when_ready(std::time::Duration::from_secs(timeout_s))?;
            println!("usb-gadget: bound to the USB device controller");
        }
        Cmd::InitialPasswords { state } => {
            let key = kaoyomi_reader::device_key::DeviceKey::path(&state);
            if !key.exists() {
                anyhow::bail!("no device key at {}: start the reader once first", key.display());
            }
            let key = kaoyomi_reader::device_key::DeviceKey::load_or_create(&state)?;
            let accounts =
                kaoyomi_maintenance::Accounts::new(key.serial(), key.derive(kaoyomi_reader::desk::ACCOUNTS_LABEL));
            println!("Device ID {}", key.serial());
            for role in kaoyomi_maintenance::Role::ALL {
                println!("{:<15} {}", role.code(), accounts.initial_password(role).expose());
            }
        }
        Cmd::Unpair { state } => {
            let n = kaoyomi_reader::pairing::unpair_all(&state)?;
            println!("unpaired {n} terminal(s); a running reader forgets them when restarted");
        }
        Cmd::UsbGadget { command: UsbCmd::Teardown { functionfs } } => {
            kaoyomi_hal_linux::usb::teardown_gadget(&functionfs).context("removing the USB gadget")?;
            println!("usb-gadget: removed, {} unmounted", functionfs.display());
        }
        #[cfg(feature = "sim")]
        Cmd::Sim { command: SimCmd::Personas } => {
            for p in persona::PERSONAS {
                let pin = p.auth_pin.unwrap_or("(none)");
                println!("{:<11} PIN {pin:<6} starts with {} tries: {}", p.id, p.initial_auth_tries, p.about);
            }
        }
        #[cfg(feature = "sim")]
        Cmd::Sim { command: SimCmd::ExportCa { out } } => {
            std::fs::write(&out, pki::ca_certificate()?).with_context(|| format!("writing {}", out.display()))?;
        }
        #[cfg(feature = "sim")]
        Cmd::Sim { command: SimCmd::ResetCards { state } } => CounterStore::new(state.join("sim-cards")).reset()?,
    }
    Ok(())
}

/// The device's displays (feature `kms`): both outputs of the DRM device lit by our own Slint
/// platform, a thread handing the touch panel's taps (evdev) to the patient's window, and one
/// handing the staff's USB keyboards and mice to the staff display's window. Returns the
/// keyboard's layout switch (true: US), which the facility's settings set, and the touch
/// panel's status for the self-test.
#[cfg(feature = "kms")]
fn start_displays() -> Result<(std::sync::Arc<std::sync::atomic::AtomicBool>, kaoyomi_reader::self_tests::Touch)> {
    const DRM_DEVICE: &str = "/dev/dri/card0";
    let screen = kaoyomi_ui::kms::install(std::path::Path::new(DRM_DEVICE))?;
    let us_layout = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let status = kaoyomi_reader::self_tests::Touch::default();
    let (staff, layout) = (screen.clone(), us_layout.clone());
    std::thread::Builder::new().name("staff-input".into()).spawn(move || staff_input(&staff, &layout))?;
    let (_, width, height) = kaoyomi_ui::kms::OUTPUTS[0];
    let Some(panel) = kaoyomi_hal_linux::touch::EvdevTouch::find() else {
        log::warn!("no touch panel found among the input devices: the patient cannot tap");
        return Ok((us_layout, status));
    };
    let mut touch = kaoyomi_hal_linux::touch::EvdevTouch::open(&panel)
        .with_context(|| format!("opening the touch panel {}", panel.display()))?;
    log::info!("touch panel {}", panel.display());
    status.lock().unwrap_or_else(std::sync::PoisonError::into_inner).panel = Some(panel.display().to_string());
    let seen = status.clone();
    std::thread::Builder::new().name("touch".into()).spawn(move || {
        let note = |f: &dyn Fn(&mut kaoyomi_reader::self_tests::TouchStatus)| {
            f(&mut seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
        };
        loop {
            match touch.next_tap(std::time::Duration::from_secs(1)) {
                Ok(Some(tap)) => {
                    note(&|s| s.taps += 1);
                    let (x, y) = touch.to_screen(tap, width, height).unwrap_or((0, 0));
                    if !screen.tap(x, y) {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    log::error!("the touch panel stopped answering: {e}");
                    note(&|s| s.error = Some(e.to_string()));
                    return;
                }
            }
        }
    })?;
    Ok((us_layout, status))
}

/// The staff's keyboards and mice (plugged in whenever) to the staff display, keys translated in
/// the layout `us_layout` says, until the screens are gone. Nothing typed is logged.
#[cfg(feature = "kms")]
fn staff_input(screen: &kaoyomi_ui::kms::Taps, us_layout: &std::sync::atomic::AtomicBool) {
    use kaoyomi_hal_linux::keyboard::{Key as Typed, Keymap, Layout, Named, StaffEvent, StaffInput};
    use kaoyomi_ui::kms::Key;
    let mut input = StaffInput::new();
    let mut keymap: Option<Keymap> = None;
    let mut failed = None;
    loop {
        for event in input.next(std::time::Duration::from_secs(1)) {
            let delivered = match event {
                StaffEvent::Key { code, value } => {
                    let layout =
                        if us_layout.load(std::sync::atomic::Ordering::Relaxed) { Layout::Us } else { Layout::Jis };
                    if keymap.as_ref().is_none_or(|k| k.layout() != layout) && failed != Some(layout) {
                        match Keymap::new(layout) {
                            Ok(k) => {
                                log::info!("staff keyboard layout {layout:?}");
                                keymap = Some(k);
                            }
                            Err(e) => {
                                log::error!("the staff keyboard cannot type: {e}");
                                failed = Some(layout);
                            }
                        }
                    }
                    let Some(stroke) = keymap.as_mut().and_then(|k| k.key(code, value)) else { continue };
                    let (pressed, repeat) = (stroke.pressed, stroke.repeat);
                    match stroke.key {
                        Typed::Text(text) => screen.key(pressed, repeat, text),
                        Typed::Named(named) => screen.key(
                            pressed,
                            repeat,
                            match named {
                                Named::Backspace => Key::Backspace,
                                Named::Delete => Key::Delete,
                                Named::Tab => Key::Tab,
                                Named::BackTab => Key::Backtab,
                                Named::Enter => Key::Return,
                                Named::Escape => Key::Escape,
                                Named::Left => Key::LeftArrow,
                                Named::Right => Key::RightArrow,
                                Named::Up => Key::UpArrow,
                                Named::Down => Key::DownArrow,
                                Named::Home => Key::Home,
                                Named::End => Key::End,
                                Named::PageUp => Key::PageUp,
                                Named::PageDown => Key::PageDown,
                                Named::Shift => Key::Shift,
                                Named::Control => Key::Control,
                                Named::Alt => Key::Alt,
                            },
                        ),
                    }
                }
                StaffEvent::Moved { dx, dy } => screen.mouse_moved(dx, dy),
                StaffEvent::Button { pressed } => screen.mouse_button(pressed),
                StaffEvent::Wheel { notches } => screen.mouse_wheel(notches),
            };
            if !delivered {
                return;
            }
        }
    }
}

/// The reader with its windows: Slint's event loop on this thread, the reader on another.
#[cfg(feature = "ui")]
fn run_windowed(options: Options) -> Result<kaoyomi_reader::Summary> {
    #[cfg(feature = "kms")]
    let (us_layout, touch) = start_displays()?;
    #[cfg(not(feature = "kms"))]
    let touch = None;
    let (taps, taps_rx) = std::sync::mpsc::channel();
    let (actions, actions_rx) = std::sync::mpsc::channel();
    let wording = kaoyomi_ui::wording::Wording::for_facility(&options.state);
    kaoyomi_ui::window::run(taps, actions, wording, move |views| {
        kaoyomi_reader::run(Options {
            view: Some(views.screen),
            preview: Some(views.preview),
            taps: Some(taps_rx),
            maintenance: Some(actions_rx),
            maintenance_view: Some(views.maintenance),
            #[cfg(feature = "kms")]
            touch: Some(touch),
            #[cfg(not(feature = "kms"))]
            touch,
            settings_view: Some({
                let show = views.settings;
                Box::new(move |settings: &kaoyomi_maintenance::Settings| {
                    #[cfg(feature = "kms")]
                    us_layout.store(
                        settings.keyboard_layout == kaoyomi_maintenance::KeyboardLayout::Us,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                    show(settings)
                })
            }),
            ..options
        })
    })?
}

#[cfg(not(feature = "ui"))]
fn run_windowed(_: Options) -> Result<kaoyomi_reader::Summary> {
    anyhow::bail!("this reader was built without its screens (features `window` or `linuxkms`)")
}
