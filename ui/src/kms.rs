//! Both displays from one process on the device: a Slint platform of our own on one DRM master,
//! one CRTC per output (the patient's panel, the staff display), each window drawn by Slint's
//! software renderer into memory and its changed part copied into the output's dumb buffer
//! (marked dirty, so that virtual GPUs upload it). Slint's own `linuxkms` backend drives one
//! output per process, which leaves the staff display dark; see `docs/device-display.md`.
//!
//! Input comes in through [`Taps`] from the reader's input threads (evdev): taps on the touch
//! panel, in the patient panel's pixels, reach the patient window as a pointer press and release;
//! the staff's USB keyboard (keys already translated in the facility's layout) and mouse reach the
//! staff display's window, where the mouse's pointer is drawn in software over the frame (it
//! shows from the mouse's first move; a board without a hardware cursor plane draws it too).

use drm::buffer::DrmFourcc;
use drm::control::{ClipRect, Device as ControlDevice, connector, crtc, dumbbuffer::DumbBuffer, framebuffer};
use slint::platform::software_renderer::{MinimalSoftwareWindow, PremultipliedRgbaColor, RepaintBufferType};
use slint::platform::{EventLoopProxy, Platform, PointerEventButton, WindowAdapter, WindowEvent};
use slint::{EventLoopError, LogicalPosition, PhysicalSize, PlatformError, SharedString};
use std::cell::{Cell, RefCell};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

/// The DRM device node, opened read-write.
struct Card(std::fs::File);

impl AsFd for Card {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl drm::Device for Card {}
impl ControlDevice for Card {}

/// One lit output: its mode's size, the buffer it scans out, the window drawn on it.
struct Head {
    name: String,
    size: (u32, u32),
    buffer: DumbBuffer,
    framebuffer: framebuffer::Handle,
    pixels: Vec<PremultipliedRgbaColor>,
    window: Option<Rc<MinimalSoftwareWindow>>,
    /// Where the mouse's pointer was last drawn on this head (its top-left corner).
    pointer_drawn: Option<(u32, u32)>,
}

enum Message {
    Invoke(Box<dyn FnOnce() + Send>),
    Quit,
    Tap(u32, u32),
    Key { pressed: bool, repeat: bool, text: SharedString },
    Moved(i32, i32),
    Button(bool),
    Wheel(i32),
}

/// A key that types nothing (Slint's names), for [`Taps::key`].
pub use slint::platform::Key;

/// Where the input threads send what the patient and the staff did; cloneable, any thread. Each
/// call is false once the screens are gone.
#[derive(Clone)]
pub struct Taps(mpsc::Sender<Message>);

impl Taps {
    /// A tap at `x`, `y` on the patient's panel.
    pub fn tap(&self, x: u32, y: u32) -> bool {
        self.0.send(Message::Tap(x, y)).is_ok()
    }

    /// A key of the staff's keyboard down (`repeat`: held) or up, typing `text` (a character, or
    /// a [`Key`]).
    pub fn key(&self, pressed: bool, repeat: bool, text: impl Into<SharedString>) -> bool {
        self.0.send(Message::Key { pressed, repeat, text: text.into() }).is_ok()
    }

    /// The staff's mouse moved by `dx`, `dy` counts (one count, one pixel).
    pub fn mouse_moved(&self, dx: i32, dy: i32) -> bool {
        self.0.send(Message::Moved(dx, dy)).is_ok()
    }

    /// The mouse's left button down or up.
    pub fn mouse_button(&self, pressed: bool) -> bool {
        self.0.send(Message::Button(pressed)).is_ok()
    }

    /// The mouse's wheel turned by `notches` (positive: away from the user).
    pub fn mouse_wheel(&self, notches: i32) -> bool {
        self.0.send(Message::Wheel(notches)).is_ok()
    }
}

/// The mouse pointer, an arrow drawn at twice this size: `#` outline, `.` fill.
const POINTER: [&str; 19] = [
    "#           ",
    "##          ",
    "#.#         ",
    "#..#        ",
    "#...#       ",
    "#....#      ",
    "#.....#     ",
    "#......#    ",
    "#.......#   ",
    "#........#  ",
    "#.........# ",
    "#......#####",
    "#...#..#    ",
    "#..##..#    ",
    "#.#  #..#   ",
    "##   #..#   ",
    "#     #..#  ",
    "      #..#  ",
    "       ##   ",
];
/// The pointer's drawn width and height in pixels.
const POINTER_SIZE: (u32, u32) = (24, 38);

/// The pointer's pixel at (`x`, `y`) of its drawn size: outline, fill or nothing.
fn pointer_pixel(x: u32, y: u32) -> Option<[u8; 4]> {
    match POINTER.get((y / 2) as usize)?.as_bytes().get((x / 2) as usize)? {
        b'#' => Some([0x10, 0x10, 0x10, 0xff]),
        b'.' => Some([0xff, 0xff, 0xff, 0xff]),
        _ => None,
    }
}

/// The staff display's head (the second output).
const STAFF: usize = 1;

struct Proxy(mpsc::Sender<Message>);

impl EventLoopProxy for Proxy {
    fn quit_event_loop(&self) -> Result<(), EventLoopError> {
        self.0.send(Message::Quit).map_err(|_| EventLoopError::EventLoopTerminated)
    }

    fn invoke_from_event_loop(&self, event: Box<dyn FnOnce() + Send>) -> Result<(), EventLoopError> {
        self.0.send(Message::Invoke(event)).map_err(|_| EventLoopError::EventLoopTerminated)
    }
}

struct Kms {
    card: Card,
    heads: RefCell<Vec<Head>>,
    /// The mouse pointer on the staff display, once the mouse has moved.
    pointer: Cell<Option<(u32, u32)>>,
    sender: mpsc::Sender<Message>,
    receiver: RefCell<Option<mpsc::Receiver<Message>>>,
}

/// The outputs the device has, in the order the windows are made: the patient's panel first,
/// then the staff display, each with the size its screens are drawn at.
pub const OUTPUTS: [(&str, u32, u32); 2] = [("patient panel", 1920, 1080), ("staff display", 1920, 1080)];

/// Lights the connected outputs of `device` (the first two, in connector order: patient, staff)
/// at the sizes of [`OUTPUTS`] and makes them this process's Slint platform. Call once, before the
/// windows are made.
pub fn install(device: &Path) -> anyhow::Result<Taps> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(device)
        .map_err(|e| anyhow::anyhow!("opening the display {}: {e}", device.display()))?;
    let card = Card(file);
    let resources = card.resource_handles().map_err(|e| anyhow::anyhow!("reading the display's outputs: {e}"))?;
    let mut heads = Vec::new();
    let mut used: Vec<crtc::Handle> = Vec::new();
    for &handle in resources.connectors() {
        if heads.len() == OUTPUTS.len() {
            break;
        }
        let info = card.get_connector(handle, true)?;
        if info.state() != connector::State::Connected {
            continue;
        }
        let (what, width, height) = OUTPUTS[heads.len()];
        let name = format!("{}-{}", info.interface().as_str(), info.interface_id());
        let Some(&mode) = info.modes().iter().find(|m| m.size() == (width as u16, height as u16)) else {
            anyhow::bail!("the {what} ({name}) offers no {width}x{height} mode");
        };
        let crtc = info
            .encoders()
            .iter()
            .filter_map(|&e| card.get_encoder(e).ok())
            .flat_map(|e| resources.filter_crtcs(e.possible_crtcs()))
            .find(|c| !used.contains(c))
            .ok_or_else(|| anyhow::anyhow!("no display controller is free for the {what} ({name})"))?;
        used.push(crtc);
        let mut buffer = card.create_dumb_buffer((width, height), DrmFourcc::Xrgb8888, 32)?;
        {
            let mut map = card.map_dumb_buffer(&mut buffer)?;
            map.as_mut().fill(0);
        }
        let framebuffer = card.add_framebuffer(&buffer, 24, 32)?;
        card.set_crtc(crtc, Some(framebuffer), (0, 0), &[handle], Some(mode))
            .map_err(|e| anyhow::anyhow!("lighting the {what} ({name}) at {width}x{height}: {e}"))?;
        log::info!("display: the {what} on {name} at {width}x{height}");
        let pixels = vec![PremultipliedRgbaColor::default(); (width * height) as usize];
        heads.push(Head {
            name,
            size: (width, height),
            buffer,
            framebuffer,
            pixels,
            window: None,
            pointer_drawn: None,
        });
    }
    if heads.is_empty() {
        anyhow::bail!("no display is connected to {}", device.display());
    }
    if heads.len() < OUTPUTS.len() {
        log::warn!("only {} display(s) connected: the staff display stays dark", heads.len());
    }
    let (sender, receiver) = mpsc::channel();
    let taps = Taps(sender.clone());
    let platform = Kms {
        card,
        heads: RefCell::new(heads),
        pointer: Cell::new(None),
        sender,
        receiver: RefCell::new(Some(receiver)),
    };
    slint::platform::set_platform(Box::new(platform))
        .map_err(|e| anyhow::anyhow!("the display platform cannot be installed: {e}"))?;
    Ok(taps)
}

impl Kms {
    /// Draws each head whose window changed and hands the changed part to the display.
    fn draw(&self) {
        let pointer = self.pointer.get();
        for (index, head) in self.heads.borrow_mut().iter_mut().enumerate() {
            let Some(window) = head.window.clone() else { continue };
            let (width, height) = head.size;
            let mut region = None;
            window.draw_if_needed(|renderer| {
                region = Some(renderer.render(&mut head.pixels, width as usize));
            });
            let pointer = if index == STAFF { pointer } else { None };
            let mut rects: Vec<(usize, usize, usize, usize)> = region
                .iter()
                .flat_map(|region| region.iter())
                .map(|(origin, size)| {
                    let (x0, y0) = (origin.x.max(0) as usize, origin.y.max(0) as usize);
                    (
                        x0,
                        y0,
                        (x0 + size.width as usize).min(width as usize),
                        (y0 + size.height as usize).min(height as usize),
                    )
                })
                .collect();
            // The pointer is drawn again where it moved from (the frame beneath), where it is
            // now, and whenever the frame beneath it was drawn.
            let pointer_rect = |(x, y): (u32, u32)| {
                let (x0, y0) = (x as usize, y as usize);
                (
                    x0,
                    y0,
                    (x0 + POINTER_SIZE.0 as usize).min(width as usize),
                    (y0 + POINTER_SIZE.1 as usize).min(height as usize),
                )
            };
            if pointer != head.pointer_drawn || (pointer.is_some() && !rects.is_empty()) {
                rects.extend(head.pointer_drawn.map(pointer_rect));
                rects.extend(pointer.map(pointer_rect));
                head.pointer_drawn = pointer;
            }
            if rects.is_empty() {
                continue;
            }
            let pitch = drm::buffer::Buffer::pitch(&head.buffer) as usize;
            let mut clips = Vec::new();
            match self.card.map_dumb_buffer(&mut head.buffer) {
                Ok(mut map) => {
                    let bytes = map.as_mut();
                    for &(x0, y0, x1, y1) in &rects {
                        for y in y0..y1 {
                            let row = &head.pixels[y * width as usize + x0..y * width as usize + x1];
                            let out = &mut bytes[y * pitch + x0 * 4..y * pitch + x1 * 4];
                            for (p, o) in row.iter().zip(out.chunks_exact_mut(4)) {
                                o.copy_from_slice(&[p.blue, p.green, p.red, 0xff]);
                            }
                        }
                        clips.push(ClipRect::new(x0 as u16, y0 as u16, x1 as u16, y1 as u16));
                    }
                    if let Some((px, py)) = pointer {
                        let (x0, y0, x1, y1) = pointer_rect((px, py));
                        for y in y0..y1 {
                            for x in x0..x1 {
                                if let Some(colour) = pointer_pixel((x - x0) as u32, (y - y0) as u32) {
                                    bytes[y * pitch + x * 4..y * pitch + x * 4 + 4].copy_from_slice(&colour);
                                }
                            }
                        }
                    }
                }
                Err(e) => log::error!("display {}: the frame cannot be written: {e}", head.name),
            }
            // Virtual GPUs copy only what is marked dirty; real ones may not need it.
            if !clips.is_empty()
                && let Err(e) = self.card.dirty_framebuffer(head.framebuffer, &clips)
                && e.raw_os_error() != Some(38)
            {
                log::warn!("display {}: marking the frame dirty failed: {e}", head.name);
            }
        }
    }

    fn tap(&self, x: u32, y: u32) {
        let Some(window) = self.heads.borrow().first().and_then(|h| h.window.clone()) else { return };
        let scale = window.scale_factor();
        let position = LogicalPosition::new(x as f32 / scale, y as f32 / scale);
        for event in [
            WindowEvent::PointerMoved { position },
            WindowEvent::PointerPressed { position, button: PointerEventButton::Left },
            WindowEvent::PointerReleased { position, button: PointerEventButton::Left },
            WindowEvent::PointerExited,
        ] {
            if let Err(e) = window.dispatch_event_with_result(event) {
                log::warn!("a tap could not reach the patient's window: {e}");
            }
        }
    }

    /// The staff display's window and its size.
    fn staff(&self) -> Option<(Rc<MinimalSoftwareWindow>, (u32, u32))> {
        self.heads.borrow().get(STAFF).and_then(|h| Some((h.window.clone()?, h.size)))
    }

    /// What the staff's keyboard or mouse did, to the staff display's window.
    fn staff_input(&self, message: Message) {
        let Some((window, (width, height))) = self.staff() else { return };
        let scale = window.scale_factor();
        let (x, y) = self.pointer.get().unwrap_or((width / 2, height / 2));
        let position = LogicalPosition::new(x as f32 / scale, y as f32 / scale);
        let event = match message {
            Message::Key { pressed: true, repeat: false, text } => WindowEvent::KeyPressed { text },
            Message::Key { pressed: true, repeat: true, text } => WindowEvent::KeyPressRepeated { text },
            Message::Key { pressed: false, text, .. } => WindowEvent::KeyReleased { text },
            Message::Moved(dx, dy) => {
                let at = |v: u32, d: i32, size: u32| (i64::from(v) + i64::from(d)).clamp(0, i64::from(size) - 1) as u32;
                let (x, y) = (at(x, dx, width), at(y, dy, height));
                self.pointer.set(Some((x, y)));
                WindowEvent::PointerMoved { position: LogicalPosition::new(x as f32 / scale, y as f32 / scale) }
            }
            Message::Button(true) => WindowEvent::PointerPressed { position, button: PointerEventButton::Left },
            Message::Button(false) => WindowEvent::PointerReleased { position, button: PointerEventButton::Left },
            Message::Wheel(notches) => {
                WindowEvent::PointerScrolled { position, delta_x: 0.0, delta_y: notches as f32 * 60.0 }
            }
            _ => return,
        };
        if let Err(e) = window.dispatch_event_with_result(event) {
            log::warn!("the keyboard or mouse could not reach the staff display's window: {e}");
        }
    }
}

impl Platform for Kms {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, PlatformError> {
        let window = MinimalSoftwareWindow::new(RepaintBufferType::ReusedBuffer);
        let mut heads = self.heads.borrow_mut();
        match heads.iter_mut().find(|h| h.window.is_none()) {
            Some(head) => {
                window.set_size(PhysicalSize::new(head.size.0, head.size.1));
                head.window = Some(window.clone());
            }
            // A window with no output left (a board with one display): drawn nowhere.
            None => window.set_size(PhysicalSize::new(OUTPUTS[1].1, OUTPUTS[1].2)),
        }
        Ok(window)
    }

    fn new_event_loop_proxy(&self) -> Option<Box<dyn EventLoopProxy>> {
        Some(Box::new(Proxy(self.sender.clone())))
    }

    fn run_event_loop(&self) -> Result<(), PlatformError> {
        let receiver = self
            .receiver
            .borrow_mut()
            .take()
            .ok_or_else(|| PlatformError::Other("the display's event loop runs once".into()))?;
        for head in self.heads.borrow().iter() {
            if let Some(window) = &head.window {
                window.request_redraw();
            }
        }
        loop {
            slint::platform::update_timers_and_animations();
            self.draw();
            let animating =
                self.heads.borrow().iter().any(|h| h.window.as_ref().is_some_and(|w| w.has_active_animations()));
            let wait = if animating {
                Some(Duration::from_millis(16))
            } else {
                slint::platform::duration_until_next_timer_update()
            };
            let message = match wait {
                Some(wait) => match receiver.recv_timeout(wait) {
                    Ok(message) => Some(message),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                },
                None => match receiver.recv() {
                    Ok(message) => Some(message),
                    Err(_) => return Ok(()),
                },
            };
            // Everything that arrived meanwhile, in order.
            for message in message.into_iter().chain(std::iter::from_fn(|| receiver.try_recv().ok())) {
                match message {
                    Message::Invoke(f) => f(),
                    Message::Quit => return Ok(()),
                    Message::Tap(x, y) => self.tap(x, y),
                    other => self.staff_input(other),
                }
            }
        }
    }
}
