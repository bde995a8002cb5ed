//! The terminal link: the protocol's frames over a Unix socket (sim boards) or the USB gadget.
//!
//! One terminal at a time (the reader serves only its terminal); a second socket connection is
//! answered with `Busy` and closed. Garbage on the link is answered with a `Malformed` error and
//! skipped up to the next frame delimiter; the session is not disturbed by it. A terminal that goes
//! away (socket closed, USB cable pulled) becomes `TerminalDisconnected` for core.

use crate::Input;
use kaoyomi_core::Event;
use kaoyomi_protocol::{Body, DecodeError, ErrorCode, Frame, FrameReader, Request, Response};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

/// The writing half, shared with the main loop.
#[derive(Clone, Default)]
pub struct LinkWriter {
    stream: Arc<Mutex<Option<Box<dyn Write + Send>>>>,
    seq: Arc<AtomicU32>,
}

impl LinkWriter {
    /// Sends one frame body; returns false when no terminal is connected or the write failed.
    pub fn send(&self, body: Body) -> bool {
        let frame = Frame::new(self.seq.fetch_add(1, Ordering::Relaxed), body);
        let mut guard = self.stream.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(stream) => match stream.write_all(&frame.encode()).and_then(|()| stream.flush()) {
                Ok(()) => true,
                Err(e) => {
                    log::warn!("terminal link write failed: {e}");
                    *guard = None;
                    false
                }
            },
            None => false,
        }
    }

    /// Answers request `to`.
    pub fn respond(&self, to: u32, response: Response) -> bool {
        self.send(Body::Response { to, response })
    }

    /// Whether a terminal is connected.
    pub fn connected(&self) -> bool {
        self.stream.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }
}

/// Listens on `path` and feeds terminal requests to `inputs`.
pub fn serve(path: &Path, inputs: Sender<Input>) -> std::io::Result<LinkWriter> {
    if path.exists() {
        // A stale socket from a previous run; a live reader would still hold it open, but the
        // state directory belongs to one reader, so it can only be ours.
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    let writer = LinkWriter::default();
    let shared = writer.clone();
    let path: PathBuf = path.to_path_buf();
    std::thread::Builder::new().name("link".into()).spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut stream) = conn else { continue };
            // A terminal that just closed its connection is noticed by its read thread at once;
            // give it that moment before calling the newcomer a second terminal.
            let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
            while shared.connected() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            if shared.connected() {
                let refusal = Frame::new(
                    0,
                    Body::Response {
                        to: 0,
                        response: Response::Error {
                            code: ErrorCode::Busy,
                            message: "another terminal is connected".into(),
                        },
                    },
                );
                let _ = stream.write_all(&refusal.encode());
                log::warn!("refused a second terminal: another one is connected");
                // Keep the refused connection open a moment, so its first request meets the
                // refusal instead of a broken pipe; then close it.
                let _ = std::thread::Builder::new().name("link-refuse".into()).spawn(move || {
                    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                    let mut sink = [0u8; 512];
                    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
                });
                continue;
            }
            let Ok(read_half) = stream.try_clone() else { continue };
            *shared.stream.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(stream));
            log::info!("terminal connected on {}", path.display());
            // Read on a thread of its own, so this one goes on accepting (and refusing) others.
            let (inputs, shared) = (inputs.clone(), shared.clone());
            let spawned = std::thread::Builder::new().name("link-read".into()).spawn(move || {
                read_loop(read_half, &inputs, &shared);
                *shared.stream.lock().unwrap_or_else(|e| e.into_inner()) = None;
                log::info!("terminal disconnected");
                let _ = inputs.send(Input::Core(Event::TerminalDisconnected));
            });
            if let Err(e) = spawned {
                log::error!("cannot serve the terminal: {e}");
            }
        }
    })?;
    Ok(writer)
}

fn read_loop(mut stream: UnixStream, inputs: &Sender<Input>, writer: &LinkWriter) {
    let mut frames = FrameReader::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !deliver(&mut frames, &buf[..n], inputs, writer) {
            return;
        }
    }
}

/// The product string of the USB device.
pub const PRODUCT: &str = "Kaoyomi face-authentication card reader";

/// The USB gadget link: frames over the bulk endpoints while the host has the device configured.
/// With `functionfs`, on a FunctionFS a privileged set-up prepared; otherwise the reader makes the
/// gadget itself (root).
#[cfg(target_os = "linux")]
pub fn serve_usb(serial: &str, functionfs: Option<&Path>, inputs: Sender<Input>) -> std::io::Result<LinkWriter> {
    use kaoyomi_hal_linux::usb::{LinkState, UsbGadgetLink};
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;
    let mut gadget = match functionfs {
        Some(dir) => UsbGadgetLink::open_functionfs(dir)?,
        None => UsbGadgetLink::register(serial, PRODUCT)?,
    };
    let sender = gadget.sender().ok_or_else(|| std::io::Error::other("no IN endpoint"))?;
    let mut receiver = gadget.receiver().ok_or_else(|| std::io::Error::other("no OUT endpoint"))?;
    let writer = LinkWriter::default();
    let up = Arc::new(AtomicBool::new(false));
    {
        let writer = writer.clone();
        let inputs = inputs.clone();
        let up = up.clone();
        std::thread::Builder::new().name("usb-state".into()).spawn(move || {
            loop {
                match gadget.next_state(Duration::from_millis(500)) {
                    Ok(Some(LinkState::Up)) if !up.swap(true, Ordering::SeqCst) => {
                        log::info!("terminal connected over USB");
                        *writer.stream.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(sender.clone()));
                    }
                    Ok(Some(LinkState::Down)) if up.swap(false, Ordering::SeqCst) => {
                        log::info!("terminal disconnected (USB link down)");
                        *writer.stream.lock().unwrap_or_else(|e| e.into_inner()) = None;
                        if inputs.send(Input::Core(Event::TerminalDisconnected)).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        log::error!("USB gadget: {e}");
                        std::thread::sleep(Duration::from_millis(500));
                    }
                }
            }
        })?;
    }
    {
        let writer = writer.clone();
        std::thread::Builder::new().name("usb-read".into()).spawn(move || {
            let mut frames = FrameReader::new();
            loop {
                match receiver.recv(Duration::from_millis(500)) {
                    Ok(data) if data.is_empty() => {}
                    Ok(data) => {
                        if !deliver(&mut frames, &data, &inputs, &writer) {
                            return;
                        }
                    }
                    Err(_) => {
                        // The endpoint is down until the host configures the device again.
                        frames = FrameReader::new();
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })?;
    }
    Ok(writer)
}

/// Feeds received bytes to the frame reader and the frames to the main loop; false once the
/// main loop is gone.
fn deliver(frames: &mut FrameReader, bytes: &[u8], inputs: &Sender<Input>, writer: &LinkWriter) -> bool {
    {
        for frame in frames.push(bytes) {
            let input = match frame {
                Ok(Frame { seq, body: Body::Request(Request::GetDeviceInfo), .. }) => Input::DeviceInfo { seq },
                Ok(Frame { seq, body: Body::Request(request), .. }) => Input::Core(Event::Terminal { seq, request }),
                Ok(Frame { seq, .. }) => {
                    writer.respond(
                        seq,
                        Response::Error {
                            code: ErrorCode::Malformed,
                            message: "only requests go to the reader".into(),
                        },
                    );
                    continue;
                }
                Err(e) => {
                    let code =
                        if matches!(e, DecodeError::Version(_)) { ErrorCode::Version } else { ErrorCode::Malformed };
                    log::warn!("terminal link: {e}");
                    writer.respond(0, Response::Error { code, message: e.to_string() });
                    continue;
                }
            };
            if inputs.send(input).is_err() {
                return false;
            }
        }
    }
    true
}
