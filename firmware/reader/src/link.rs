//! The terminal link: the protocol's frames over a Unix socket (sim boards) or the USB gadget.
//!
//! Every connection starts with the Noise handshake of `kaoyomi_protocol::channel`; after it every
//! frame is sealed. A terminal whose key is not pinned ([`crate::pairing`]) is served only the
//! pairing request: the code of its handshake goes to the staff display, and the right code typed
//! at the terminal pins its key. Only a paired terminal's requests reach the session, and only a
//! paired terminal hears the session's notifications and reports.
//!
//! One terminal at a time (the reader serves only its terminal); a second socket connection is
//! answered with `Busy` and closed. Garbage on the link is answered with a `Malformed` error and
//! skipped up to the next frame delimiter; the session is not disturbed by it. A terminal that goes
//! away (socket closed, USB cable pulled) becomes `TerminalDisconnected` for core.
//!
//! No peer can hold the reader hostage:
//! - the main loop never writes to the link itself: [`LinkWriter::send`] puts the frame in a
//!   bounded queue that a writer thread of the connection empties, each write with a time-out; a
//!   terminal that stops reading fills the queue or times a write out and loses the connection,
//!   while the patient's session goes on;
//! - a connection that sends half a frame and then nothing loses the slot after
//!   [`HALF_FRAME_TIMEOUT`];
//! - refused connections get a bounded number of threads, each for a bounded time;
//! - what is wrong with a peer's bytes is logged a few times and then counted
//!   ([`crate::log_limit`]), and garbage is answered at a bounded rate.

use crate::log_limit::{Admit, LogLimit};
use crate::pairing::{Pairing, Refusal};
use crate::{Input, PairingOffer};
use kaoyomi_core::Event;
use kaoyomi_protocol::channel::{Channel, ReaderHello, Responder, StaticKey};
use kaoyomi_protocol::{Body, DecodeError, ErrorCode, Frame, FrameReader, Request, Response};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Frames waiting for a terminal that is slow to read; one more and it loses the connection.
pub const QUEUE_FRAMES: usize = 64;
/// How long one write to the terminal may block before the connection is given up.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection may sit on half a frame before it loses the slot.
pub const HALF_FRAME_TIMEOUT: Duration = Duration::from_secs(5);
/// Refused connections served at once (each for at most [`REFUSAL_TIME`]); more are closed at once.
pub const MAX_REFUSALS: usize = 4;
/// How long a refused connection is kept open so that its first request meets the refusal.
pub const REFUSAL_TIME: Duration = Duration::from_secs(2);

/// The connection being served: a number that tells it from the next one, its queue (gone once
/// the connection is given up: nothing more is sent), and how to hang it up. The slot stays taken
/// until the connection's reading side has ended, so a newcomer never overlaps with it.
struct Conn {
    id: u64,
    /// A link that outlives its terminal programs (USB: the host keeps the device configured):
    /// a frame that cannot be written or queued is dropped, the link is not given up.
    lasting: bool,
    queue: Option<SyncSender<Vec<u8>>>,
    hang_up: Arc<dyn Fn() + Send + Sync>,
    /// The channel once the handshake is done; frames are sealed in it.
    channel: Option<Arc<Mutex<Channel>>>,
    /// Whether the terminal's key is pinned: only then does the session's traffic go to it.
    paired: bool,
}

impl Conn {
    /// Sends nothing more and hangs up (the reading side then ends and frees the slot).
    fn give_up(&mut self) {
        if self.queue.take().is_some() {
            (self.hang_up)();
        }
    }
}

/// The writing half, shared with the main loop. Sending never blocks on the terminal.
#[derive(Clone, Default)]
pub struct LinkWriter {
    conn: Arc<Mutex<Option<Conn>>>,
    seq: Arc<AtomicU32>,
    ids: Arc<AtomicU64>,
}

impl LinkWriter {
    /// Serves a new connection through `sink`, written by a thread of its own; `hang_up` is called
    /// once when the connection is given up (write failed or timed out, queue full), so that the
    /// reading side notices too. Returns the connection's number.
    fn attach(&self, sink: Box<dyn Write + Send>, hang_up: Box<dyn Fn() + Send + Sync>) -> std::io::Result<u64> {
        self.attach_link(sink, hang_up, false)
    }

    /// As [`LinkWriter::attach`]; a `lasting` link drops what it cannot send instead of being
    /// given up.
    fn attach_link(
        &self,
        mut sink: Box<dyn Write + Send>,
        hang_up: Box<dyn Fn() + Send + Sync>,
        lasting: bool,
    ) -> std::io::Result<u64> {
        let id = self.ids.fetch_add(1, Ordering::Relaxed) + 1;
        let (queue, frames) = std::sync::mpsc::sync_channel::<Vec<u8>>(QUEUE_FRAMES);
        let hang_up: Arc<dyn Fn() + Send + Sync> = Arc::from(hang_up);
        let writer = self.clone();
        std::thread::Builder::new().name("link-write".into()).spawn(move || {
            let mut dropped = LogLimit::new(3, Duration::from_secs(60));
            for bytes in frames {
                if let Err(e) = sink.write_all(&bytes).and_then(|()| sink.flush()) {
                    if lasting {
                        if let Admit::Write { left_out } = dropped.admit(Instant::now()) {
                            log::warn!("terminal link: a frame was not taken ({e}); dropped ({left_out} more before)");
                        }
                        continue;
                    }
                    log::warn!("terminal link: writing failed ({e}); the connection is given up");
                    if let Some(conn) = writer.lock().as_mut().filter(|c| c.id == id) {
                        conn.give_up();
                    }
                    return;
                }
            }
        })?;
        *self.lock() = Some(Conn { id, lasting, queue: Some(queue), hang_up, channel: None, paired: false });
        Ok(id)
    }

    /// Connection `id` finished its handshake.
    fn open_channel(&self, id: u64, channel: Arc<Mutex<Channel>>, paired: bool) {
        if let Some(conn) = self.lock().as_mut().filter(|c| c.id == id) {
            conn.channel = Some(channel);
            conn.paired = paired;
        }
    }

    /// Connection `id` was paired or unpaired.
    fn set_paired(&self, id: u64, paired: bool) {
        if let Some(conn) = self.lock().as_mut().filter(|c| c.id == id) {
            conn.paired = paired;
        }
    }

    /// Connection `id` starts over with a handshake (USB, which has no connection to close).
    fn reset_channel(&self, id: u64) {
        if let Some(conn) = self.lock().as_mut().filter(|c| c.id == id) {
            conn.channel = None;
            conn.paired = false;
        }
    }

    /// The current connection's number.
    fn current(&self) -> Option<u64> {
        self.lock().as_ref().map(|c| c.id)
    }

    /// Queues `frame` for connection `id` (any, when None), sealed when it has a channel; `paired_only`
    /// keeps it from a terminal that is not paired.
    fn queue(&self, id: Option<u64>, frame: Frame, paired_only: bool) -> bool {
        let mut conn = self.lock();
        let Some(current) = conn.as_mut().filter(|c| id.is_none_or(|id| c.id == id)) else { return false };
        if paired_only && !current.paired {
            return false;
        }
        let bytes = match &current.channel {
            Some(channel) => match channel.lock().unwrap_or_else(|e| e.into_inner()).seal(&frame) {
                Ok(sealed) => sealed.encode(),
                Err(e) => {
                    log::error!("terminal link: a frame could not be sealed: {e}");
                    return false;
                }
            },
            None if paired_only => return false,
            None => frame.encode(),
        };
        let Some(queue) = &current.queue else { return false };
        match queue.try_send(bytes) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) if current.lasting => false,
            Err(TrySendError::Full(_)) => {
                log::warn!(
                    "terminal link: the terminal stopped reading ({QUEUE_FRAMES} frames waiting); it is dropped"
                );
                current.give_up();
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                current.give_up();
                false
            }
        }
    }

    /// Answers connection `id` whether or not it is paired (handshake, pairing, refusals).
    fn reply(&self, id: u64, frame: Frame) -> bool {
        self.queue(Some(id), frame, false)
    }

    /// Forgets connection `id` (if it is still the current one); its writer thread ends once its
    /// queue is gone.
    fn detach(&self, id: u64) {
        let mut conn = self.lock();
        if conn.as_ref().is_some_and(|c| c.id == id) {
            *conn = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Conn>> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues one frame body for the paired terminal; returns false when no paired terminal is
    /// connected or it is too far behind (then the connection is given up).
    pub fn send(&self, body: Body) -> bool {
        let frame = Frame::new(self.seq.fetch_add(1, Ordering::Relaxed), body);
        self.queue(None, frame, true)
    }

    /// Answers request `to`.
    pub fn respond(&self, to: u32, response: Response) -> bool {
        self.send(Body::Response { to, response })
    }

    /// Whether a terminal holds the link (until its connection has ended, even when given up).
    pub fn connected(&self) -> bool {
        self.lock().is_some()
    }

    /// Whether frames can go to a paired terminal now.
    pub fn serving(&self) -> bool {
        self.lock().as_ref().is_some_and(|c| c.queue.is_some() && c.paired)
    }
}

/// Listens on `path` and feeds terminal requests to `inputs`. The socket is made readable and
/// writable by the reader's user and group only (0660): the terminal side is let in by the group.
pub fn serve(path: &Path, inputs: Sender<Input>, trust: Trust) -> std::io::Result<LinkWriter> {
    if path.symlink_metadata().is_ok() {
        // A stale socket from a previous run; a live reader would still hold it open, but the
        // state directory belongs to one reader, so it can only be ours.
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o660))?;
    let writer = LinkWriter::default();
    let shared = writer.clone();
    let path: PathBuf = path.to_path_buf();
    let refusals = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new().name("link".into()).spawn(move || {
        for conn in listener.incoming() {
            let Ok(stream) = conn else { continue };
            // A terminal that just closed its connection is noticed by its read thread at once;
            // give it that moment before calling the newcomer a second terminal.
            let deadline = Instant::now() + Duration::from_millis(500);
            while shared.connected() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if shared.connected() {
                refuse(stream, &refusals);
                continue;
            }
            if let Err(e) = accept(stream, &inputs, &shared, &trust) {
                log::error!("cannot serve the terminal: {e}");
                continue;
            }
            log::info!("terminal connected on {}", path.display());
        }
    })?;
    Ok(writer)
}

/// Serves `stream` as the terminal: a writer thread (through [`LinkWriter::attach`]) and a read
/// thread.
fn accept(stream: UnixStream, inputs: &Sender<Input>, shared: &LinkWriter, trust: &Trust) -> std::io::Result<()> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let read_half = stream.try_clone()?;
    let hang_up = stream.try_clone()?;
    let id = shared.attach(
        Box::new(stream),
        Box::new(move || {
            let _ = hang_up.shutdown(std::net::Shutdown::Both);
        }),
    )?;
    let (inputs, writer, trust) = (inputs.clone(), shared.clone(), trust.clone());
    let spawned = std::thread::Builder::new().name("link-read".into()).spawn(move || {
        let mut peer = Peer::new(trust, id);
        read_loop(read_half, &mut peer, &inputs, &writer);
        peer.ended(&inputs);
        writer.detach(id);
        log::info!("terminal disconnected");
        let _ = inputs.send(Input::Core(Event::TerminalDisconnected));
    });
    if let Err(e) = spawned {
        shared.detach(id);
        return Err(e);
    }
    Ok(())
}

/// Tells a second terminal that the reader is busy, on a thread of its own for at most
/// [`REFUSAL_TIME`] (so its first request meets the refusal instead of a broken pipe); past
/// [`MAX_REFUSALS`] at once, the connection is closed at once.
fn refuse(mut stream: UnixStream, refusals: &Arc<AtomicUsize>) {
    static LOG: Mutex<LogLimit> = Mutex::new(LogLimit::new(3, Duration::from_secs(60)));
    if let Admit::Write { left_out } = LOG.lock().unwrap_or_else(|e| e.into_inner()).admit(Instant::now()) {
        log::warn!("refused a second terminal: another one is connected ({left_out} more refusals not logged before)");
    }
    if refusals.fetch_add(1, Ordering::SeqCst) >= MAX_REFUSALS {
        refusals.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    let refusal = Frame::new(
        0,
        Body::Response {
            to: 0,
            response: Response::Error { code: ErrorCode::Busy, message: "another terminal is connected".into() },
        },
    );
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let _ = stream.write_all(&refusal.encode());
    let refusals = refusals.clone();
    let spawned = std::thread::Builder::new().name("link-refuse".into()).spawn({
        let refusals = refusals.clone();
        move || {
            let deadline = Instant::now() + REFUSAL_TIME;
            let mut sink = [0u8; 512];
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
                    break;
                }
                if !matches!(stream.read(&mut sink), Ok(n) if n > 0) {
                    break;
                }
            }
            refusals.fetch_sub(1, Ordering::SeqCst);
        }
    });
    if spawned.is_err() {
        refusals.fetch_sub(1, Ordering::SeqCst);
    }
}

fn read_loop(mut stream: UnixStream, peer: &mut Peer, inputs: &Sender<Input>, writer: &LinkWriter) {
    let mut buf = [0u8; 4096];
    // Short reads, so that half a frame left hanging is noticed.
    if stream.set_read_timeout(Some(Duration::from_millis(250))).is_err() {
        return;
    }
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => 0,
            Err(_) => return,
        };
        if peer.deliver(&buf[..n], Instant::now(), inputs, writer) != Verdict::Go {
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
pub fn serve_usb(
    serial: &str,
    functionfs: Option<&Path>,
    inputs: Sender<Input>,
    trust: Trust,
) -> std::io::Result<LinkWriter> {
    use kaoyomi_hal_linux::usb::{LinkState, UsbGadgetLink};
    use std::sync::atomic::AtomicBool;
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
                        // A host that stops reading times each write out (the endpoint's own
                        // time-out); what it does not take is dropped, and the next program on the
                        // link starts over with a handshake.
                        if let Err(e) = writer.attach_link(Box::new(sender.clone()), Box::new(|| {}), true) {
                            log::error!("cannot serve the terminal over USB: {e}");
                        }
                    }
                    Ok(Some(LinkState::Down)) if up.swap(false, Ordering::SeqCst) => {
                        log::info!("terminal disconnected (USB link down)");
                        if let Some(conn) = writer.lock().take() {
                            drop(conn);
                        }
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
            let mut peer: Option<Peer> = None;
            loop {
                // Each time the host configures the device, a connection of its own.
                let id = writer.current();
                if peer.as_ref().map(|p| Some(p.conn)) != Some(id) {
                    if let Some(old) = peer.take() {
                        old.ended(&inputs);
                    }
                    peer = id.map(|id| Peer::new(trust.clone(), id));
                }
                let data = match receiver.recv(Duration::from_millis(250)) {
                    Ok(data) => data,
                    Err(_) => {
                        // The endpoint is down until the host configures the device again.
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                };
                // The host may send as soon as it has configured the device, before the state
                // thread has seen it do so: those are the new connection's first bytes (a
                // terminal's handshake), kept for it rather than dropped.
                if peer.is_none() && !data.is_empty() {
                    let deadline = Instant::now() + Duration::from_secs(2);
                    while writer.current().is_none() && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    peer = writer.current().map(|id| Peer::new(trust.clone(), id));
                }
                let Some(p) = peer.as_mut() else { continue };
                match p.deliver(&data, Instant::now(), &inputs, &writer) {
                    Verdict::Go => {}
                    // USB has no connection to close: the terminal starts over with a handshake.
                    Verdict::Close => {
                        let id = p.conn;
                        writer.reset_channel(id);
                        if let Some(old) = peer.replace(Peer::new(trust.clone(), id)) {
                            old.ended(&inputs);
                        }
                    }
                    Verdict::Gone => return,
                }
            }
        })?;
    }
    Ok(writer)
}

/// What [`Peer::deliver`] says about the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on reading.
    Go,
    /// Close the connection: the peer sat on half a frame for longer than [`HALF_FRAME_TIMEOUT`],
    /// or its channel failed (a frame that does not open, a handshake out of order).
    Close,
    /// The main loop is gone.
    Gone,
}

/// What the link needs to open channels: the reader's channel key, what it tells terminals in the
/// handshake, and the pinned terminal keys.
#[derive(Clone)]
pub struct Trust {
    /// The reader's static channel key.
    pub key: Arc<StaticKey>,
    /// Serial and device key, told inside the handshake.
    pub hello: ReaderHello,
    /// The paired terminals.
    pub pairing: Arc<Pairing>,
}

/// Where a connection is in its handshake.
enum Stage {
    /// Waiting for the terminal's first handshake message.
    Hello,
    /// Answered; waiting for the terminal's last one.
    Answered(Box<Responder>),
    /// The channel is open.
    Open { channel: Arc<Mutex<Channel>>, paired: bool },
}

/// What the reader keeps about the bytes one peer sends: the frame being assembled, since when,
/// the handshake and channel, and how much of its bad input has been logged and answered.
pub struct Peer {
    trust: Trust,
    /// The connection's number in the [`LinkWriter`].
    conn: u64,
    stage: Stage,
    /// Whether the staff display shows this connection's pairing code.
    offered: bool,
    frames: FrameReader,
    /// When the unfinished frame's first bytes came.
    partial_since: Option<Instant>,
    logged: LogLimit,
    answered: LogLimit,
}

impl Peer {
    /// Connection `conn`, which has sent nothing yet.
    pub fn new(trust: Trust, conn: u64) -> Peer {
        Peer {
            trust,
            conn,
            stage: Stage::Hello,
            offered: false,
            frames: FrameReader::new(),
            partial_since: None,
            // A few lines, then one a minute counting the rest.
            logged: LogLimit::new(5, Duration::from_secs(60)),
            // Error answers to garbage: a few per second.
            answered: LogLimit::new(10, Duration::from_secs(1)),
        }
    }

    /// The connection ended: a pairing code it showed is taken off the staff display.
    pub fn ended(&self, inputs: &Sender<Input>) {
        if self.offered {
            let _ = inputs.send(Input::Pairing(None));
        }
    }

    /// Feeds bytes received at `now` (none: a read that timed out) to the frame reader, the
    /// handshake and the channel, and the paired terminal's requests to the main loop.
    pub fn deliver(&mut self, bytes: &[u8], now: Instant, inputs: &Sender<Input>, writer: &LinkWriter) -> Verdict {
        for frame in self.frames.push(bytes) {
            let frame = match frame {
                Ok(frame) => frame,
                Err(e) => {
                    let code =
                        if matches!(e, DecodeError::Version(_)) { ErrorCode::Version } else { ErrorCode::Malformed };
                    self.bad(now, writer, 0, code, &e.to_string());
                    continue;
                }
            };
            match self.frame(frame, now, inputs, writer) {
                Verdict::Go => {}
                other => return other,
            }
        }
        if !self.frames.mid_frame() {
            self.partial_since = None;
            return Verdict::Go;
        }
        let since = *self.partial_since.get_or_insert(now);
        if now.duration_since(since) > HALF_FRAME_TIMEOUT {
            log::warn!(
                "terminal link: half a frame and nothing more for {} s; the connection is closed",
                HALF_FRAME_TIMEOUT.as_secs()
            );
            self.frames = FrameReader::new();
            self.partial_since = None;
            return Verdict::Close;
        }
        Verdict::Go
    }

    /// One whole frame.
    fn frame(&mut self, frame: Frame, now: Instant, inputs: &Sender<Input>, writer: &LinkWriter) -> Verdict {
        match (std::mem::replace(&mut self.stage, Stage::Hello), &frame.body) {
            (Stage::Hello, Body::Handshake(_)) => {
                if let Err(e) = self.begin(&frame, writer) {
                    self.bad(now, writer, 0, ErrorCode::Malformed, &format!("handshake: {e}"));
                }
                Verdict::Go
            }
            (Stage::Hello, _) => {
                self.bad(now, writer, frame.seq, ErrorCode::NotPaired, "the channel's handshake comes first");
                Verdict::Go
            }
            (Stage::Answered(responder), Body::Handshake(_)) => match responder.finish(&frame) {
                Ok((channel, hello)) => {
                    let paired = self.trust.pairing.is_paired(&channel.remote_key());
                    let code = channel.pairing_code();
                    let channel = Arc::new(Mutex::new(channel));
                    writer.open_channel(self.conn, channel.clone(), paired);
                    self.stage = Stage::Open { channel, paired };
                    if paired {
                        log::info!("terminal link: channel open with a paired terminal");
                    } else {
                        log::info!("terminal link: a terminal that is not paired connected; it may ask to pair");
                        let terminal: String = hello.name.chars().filter(|c| !c.is_control()).take(40).collect();
                        self.offered = true;
                        if inputs.send(Input::Pairing(Some(PairingOffer { code, terminal }))).is_err() {
                            return Verdict::Gone;
                        }
                    }
                    Verdict::Go
                }
                // Not the last message of this handshake: the first of a new one (a terminal
                // program that started over on the same link, as on USB) begins again.
                Err(e) => match self.restart(&frame, inputs, writer) {
                    Ok(()) => Verdict::Go,
                    Err(_) => {
                        self.log(now, &format!("terminal link: handshake failed ({e}); the connection is closed"));
                        Verdict::Close
                    }
                },
            },
            (Stage::Answered(_), _) => {
                self.log(now, "terminal link: a frame in the middle of the handshake; the connection is closed");
                Verdict::Close
            }
            (Stage::Open { channel, paired }, Body::Sealed(_)) => {
                let opened = channel.lock().unwrap_or_else(|e| e.into_inner()).open(&frame);
                let inner = match opened {
                    Ok(inner) => inner,
                    Err(e) => {
                        self.log(now, &format!("terminal link: {e}; the connection is closed"));
                        return Verdict::Close;
                    }
                };
                let remote = channel.lock().unwrap_or_else(|e| e.into_inner()).remote_key();
                let code = channel.lock().unwrap_or_else(|e| e.into_inner()).pairing_code();
                self.stage = Stage::Open { channel, paired };
                let Frame { seq, body, .. } = inner;
                let request = match body {
                    Body::Request(request) => request,
                    _ => {
                        self.bad(now, writer, seq, ErrorCode::Malformed, "only requests go to the reader");
                        return Verdict::Go;
                    }
                };
                let answer = |response| Frame::new(0, Body::Response { to: seq, response });
                match (paired, request) {
                    (_, Request::Pair { code: typed }) => {
                        let response = match self.trust.pairing.pair(remote, code, typed, now) {
                            Ok(()) => {
                                writer.set_paired(self.conn, true);
                                self.stage = Stage::Open { channel: self.channel(), paired: true };
                                if std::mem::take(&mut self.offered) {
                                    let _ = inputs.send(Input::Pairing(None));
                                }
                                Response::Paired
                            }
                            Err(Refusal::WrongCode) => Response::Error {
                                code: ErrorCode::WrongCode,
                                message: "not the code the reader's staff display shows".into(),
                            },
                            Err(Refusal::Locked) => Response::Error {
                                code: ErrorCode::PairingLocked,
                                message: "too many wrong codes; pairing is refused for a while".into(),
                            },
                        };
                        writer.reply(self.conn, answer(response));
                        Verdict::Go
                    }
                    (false, _) => {
                        let response = Response::Error {
                            code: ErrorCode::NotPaired,
                            message: "this terminal is not paired with the reader".into(),
                        };
                        writer.reply(self.conn, answer(response));
                        Verdict::Go
                    }
                    (true, Request::Unpair) => {
                        let response = match self.trust.pairing.unpair(&remote) {
                            Ok(()) => {
                                writer.set_paired(self.conn, false);
                                self.stage = Stage::Open { channel: self.channel(), paired: false };
                                Response::Ok
                            }
                            Err(e) => {
                                log::error!("pairing: {e:#}");
                                Response::Error {
                                    code: ErrorCode::NotNow,
                                    message: "the reader could not forget the key".into(),
                                }
                            }
                        };
                        writer.reply(self.conn, answer(response));
                        Verdict::Go
                    }
                    (true, Request::GetDeviceInfo) => self.input(Input::DeviceInfo { seq }, inputs),
                    (
                        true,
                        request @ (Request::ExportLog { .. }
                        | Request::ExportStatistics { .. }
                        | Request::ExportSettings
                        | Request::ImportSettings { .. }),
                    ) => self.input(Input::Desk { seq, request }, inputs),
                    (true, request) => self.input(Input::Core(Event::Terminal { seq, request }), inputs),
                }
            }
            // A new handshake on an open channel: a terminal program that started over on the
            // same link (USB stays configured between programs). It must authenticate anew; the
            // old channel and what it was allowed end here.
            (Stage::Open { .. }, Body::Handshake(_)) => match self.restart(&frame, inputs, writer) {
                Ok(()) => Verdict::Go,
                Err(e) => {
                    self.log(now, &format!("terminal link: handshake failed ({e}); the connection is closed"));
                    Verdict::Close
                }
            },
            (stage @ Stage::Open { .. }, _) => {
                self.stage = stage;
                self.log(now, "terminal link: a frame outside the channel; the connection is closed");
                Verdict::Close
            }
        }
    }

    /// Answers a first handshake message.
    fn begin(&mut self, frame: &Frame, writer: &LinkWriter) -> Result<(), kaoyomi_protocol::channel::ChannelError> {
        let (responder, answer) = Responder::answer(&self.trust.key, frame, &self.trust.hello)?;
        writer.reply(self.conn, answer);
        self.stage = Stage::Answered(Box::new(responder));
        Ok(())
    }

    /// Drops the channel (and a pairing code shown for it) and begins a new handshake with `frame`.
    fn restart(
        &mut self,
        frame: &Frame,
        inputs: &Sender<Input>,
        writer: &LinkWriter,
    ) -> Result<(), kaoyomi_protocol::channel::ChannelError> {
        writer.reset_channel(self.conn);
        self.stage = Stage::Hello;
        if std::mem::take(&mut self.offered) {
            let _ = inputs.send(Input::Pairing(None));
        }
        log::info!("terminal link: a new handshake; the terminal starts over");
        self.begin(frame, writer)
    }

    fn channel(&self) -> Arc<Mutex<Channel>> {
        match &self.stage {
            Stage::Open { channel, .. } => channel.clone(),
            // Called only in the open stage.
            _ => unreachable!("no channel before the handshake ends"),
        }
    }

    fn input(&self, input: Input, inputs: &Sender<Input>) -> Verdict {
        if inputs.send(input).is_err() { Verdict::Gone } else { Verdict::Go }
    }

    /// A line about the peer, within the log limit.
    fn log(&mut self, now: Instant, line: &str) {
        if let Admit::Write { left_out } = self.logged.admit(now) {
            if left_out > 0 {
                log::warn!("{line} ({left_out} lines about this link left out before)");
            } else {
                log::warn!("{line}");
            }
        }
    }

    /// Bad input: logged and answered, each within its limit.
    fn bad(&mut self, now: Instant, writer: &LinkWriter, to: u32, code: ErrorCode, what: &str) {
        self.log(now, &format!("terminal link: {what}"));
        if matches!(self.answered.admit(now), Admit::Write { .. }) {
            writer.reply(
                self.conn,
                Frame::new(0, Body::Response { to, response: Response::Error { code, message: what.into() } }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(dir: &Path) -> Trust {
        Trust {
            key: Arc::new(StaticKey::from_secret([1; 32])),
            hello: ReaderHello { serial: "KY-TEST".into(), device_key: [2; 32], paired: false },
            pairing: Arc::new(Pairing::load(dir).unwrap()),
        }
    }

    #[test]
    fn half_a_frame_loses_the_slot_after_the_time_out() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let writer = LinkWriter::default();
        let mut peer = Peer::new(trust(dir.path()), 1);
        let t0 = Instant::now();
        let bytes = Frame::new(1, Body::Request(Request::GetDeviceInfo)).encode();
        // A whole frame (refused: no channel yet, it never reaches the session); half of the
        // next one waits.
        let mut stream = bytes.clone();
        stream.extend_from_slice(&bytes[..2]);
        assert_eq!(peer.deliver(&stream, t0, &tx, &writer), Verdict::Go);
        assert!(rx.try_recv().is_err(), "a request outside the channel reached the session");
        assert_eq!(peer.deliver(&[], t0 + HALF_FRAME_TIMEOUT, &tx, &writer), Verdict::Go, "within the time-out");
        let late = t0 + HALF_FRAME_TIMEOUT + Duration::from_millis(1);
        assert_eq!(peer.deliver(&[], late, &tx, &writer), Verdict::Close);
        // A peer that finishes its frames in time keeps the slot however long it is idle.
        let mut patient = Peer::new(trust(dir.path()), 2);
        assert_eq!(patient.deliver(&bytes[..2], t0, &tx, &writer), Verdict::Go);
        assert_eq!(patient.deliver(&bytes[2..], t0 + Duration::from_secs(1), &tx, &writer), Verdict::Go);
        assert_eq!(patient.deliver(&[], t0 + Duration::from_secs(3600), &tx, &writer), Verdict::Go);
    }

    #[test]
    fn a_terminal_that_starts_over_on_the_same_link_gets_a_new_handshake() {
        use kaoyomi_protocol::channel::{Initiator, TerminalHello};
        struct Sink(Sender<Vec<u8>>);
        impl Write for Sink {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                let _ = self.0.send(bytes.to_vec());
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let (inputs, events) = std::sync::mpsc::channel();
        let (sent, out) = std::sync::mpsc::channel();
        let writer = LinkWriter::default();
        let id = writer.attach(Box::new(Sink(sent)), Box::new(|| {})).unwrap();
        let mut peer = Peer::new(trust(dir.path()), id);
        let now = Instant::now();
        let mut handshake = || {
            let (initiator, first) = Initiator::start(&StaticKey::from_secret([9; 32])).unwrap();
            assert_eq!(peer.deliver(&first.encode(), now, &inputs, &writer), Verdict::Go);
            let answer = Frame::decode(&out.recv_timeout(Duration::from_secs(5)).unwrap()).unwrap();
            let (last, channel, hello) = initiator.finish(&answer, &TerminalHello { name: "t".into() }).unwrap();
            assert_eq!(hello.serial, "KY-TEST");
            assert_eq!(peer.deliver(&last.encode(), now, &inputs, &writer), Verdict::Go);
            channel
        };
        let first = handshake();
        assert!(matches!(events.try_recv(), Ok(Input::Pairing(Some(_)))));
        // The same link, a new terminal program: a new handshake, a new code, the old one cleared.
        let second = handshake();
        assert!(matches!(events.try_recv(), Ok(Input::Pairing(None))));
        assert!(matches!(events.try_recv(), Ok(Input::Pairing(Some(_)))));
        assert_ne!(first.pairing_code().0, second.pairing_code().0);
    }

    #[test]
    fn a_terminal_that_stops_reading_is_dropped_without_blocking_the_sender() {
        // A sink that never finishes a write: the writer thread blocks, the queue fills.
        struct Stuck;
        impl Write for Stuck {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                loop {
                    std::thread::park();
                }
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let writer = LinkWriter::default();
        let hung_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = hung_up.clone();
        let id = writer.attach(Box::new(Stuck), Box::new(move || flag.store(true, Ordering::SeqCst))).unwrap();
        let frame = || Frame::new(0, Body::Request(Request::GetDeviceInfo));
        let sent = (0..QUEUE_FRAMES + 2).take_while(|_| writer.reply(id, frame())).count();
        // The first frame is in the stuck write, QUEUE_FRAMES wait, the next one finds the queue full.
        assert!((QUEUE_FRAMES..=QUEUE_FRAMES + 1).contains(&sent), "sent {sent}");
        assert!(hung_up.load(Ordering::SeqCst), "the connection was not hung up");
        assert!(!writer.reply(id, frame()));
        // The slot stays taken until the connection's reading side ends.
        assert!(writer.connected());
        writer.detach(id);
        assert!(!writer.connected());
    }
}
