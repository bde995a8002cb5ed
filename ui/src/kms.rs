//! Both displays from one process on the device: a Slint platform of our own on one DRM master,
//! one CRTC per output (the patient's panel, the staff display), each window drawn by Slint's
//! software renderer into memory and its changed part copied into the output's dumb buffer
//! (marked dirty, so that virtual GPUs upload it). Slint's own `linuxkms` backend drives one
//! output per process, which leaves the staff display dark; see `docs/device-display.md`.
//!
//! Taps come in through [`Taps`] from the reader's touch thread (evdev), in the patient panel's
//! pixels, and reach the patient window as a pointer press and release.

use drm::buffer::DrmFourcc;
use drm::control::{ClipRect, Device as ControlDevice, connector, crtc, dumbbuffer::DumbBuffer, framebuffer};
use slint::platform::software_renderer::{MinimalSoftwareWindow, PremultipliedRgbaColor, RepaintBufferType};
use slint::platform::{EventLoopProxy, Platform, PointerEventButton, WindowAdapter, WindowEvent};
use slint::{EventLoopError, LogicalPosition, PhysicalSize, PlatformError};
use std::cell::RefCell;
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
}

enum Message {
    Invoke(Box<dyn FnOnce() + Send>),
    Quit,
    Tap(u32, u32),
}

/// Where the touch thread sends taps (in the patient panel's pixels); cloneable, any thread.
#[derive(Clone)]
pub struct Taps(mpsc::Sender<Message>);

impl Taps {
    /// A tap at `x`, `y` on the patient's panel. False once the screens are gone.
    pub fn tap(&self, x: u32, y: u32) -> bool {
        self.0.send(Message::Tap(x, y)).is_ok()
    }
}

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
        heads.push(Head { name, size: (width, height), buffer, framebuffer, pixels, window: None });
    }
    if heads.is_empty() {
        anyhow::bail!("no display is connected to {}", device.display());
    }
    if heads.len() < OUTPUTS.len() {
        log::warn!("only {} display(s) connected: the staff display stays dark", heads.len());
    }
    let (sender, receiver) = mpsc::channel();
    let taps = Taps(sender.clone());
    let platform = Kms { card, heads: RefCell::new(heads), sender, receiver: RefCell::new(Some(receiver)) };
    slint::platform::set_platform(Box::new(platform))
        .map_err(|e| anyhow::anyhow!("the display platform cannot be installed: {e}"))?;
    Ok(taps)
}

impl Kms {
    /// Draws each head whose window changed and hands the changed part to the display.
    fn draw(&self) {
        for head in self.heads.borrow_mut().iter_mut() {
            let Some(window) = head.window.clone() else { continue };
            let (width, height) = head.size;
            let mut region = None;
            window.draw_if_needed(|renderer| {
                region = Some(renderer.render(&mut head.pixels, width as usize));
            });
            let Some(region) = region else { continue };
            let pitch = drm::buffer::Buffer::pitch(&head.buffer) as usize;
            let mut clips = Vec::new();
            match self.card.map_dumb_buffer(&mut head.buffer) {
                Ok(mut map) => {
                    let bytes = map.as_mut();
                    for (origin, size) in region.iter() {
                        let (x0, y0) = (origin.x.max(0) as usize, origin.y.max(0) as usize);
                        let x1 = (x0 + size.width as usize).min(width as usize);
                        let y1 = (y0 + size.height as usize).min(height as usize);
                        for y in y0..y1 {
                            let row = &head.pixels[y * width as usize + x0..y * width as usize + x1];
                            let out = &mut bytes[y * pitch + x0 * 4..y * pitch + x1 * 4];
                            for (p, o) in row.iter().zip(out.chunks_exact_mut(4)) {
                                o.copy_from_slice(&[p.blue, p.green, p.red, 0xff]);
                            }
                        }
                        clips.push(ClipRect::new(x0 as u16, y0 as u16, x1 as u16, y1 as u16));
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
                }
            }
        }
    }
}
