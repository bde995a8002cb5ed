//! `kaoyomi-cardsim`: the virtual My Number card of kaoyomi-hal-sim, served to pcscd through vpcd
//! (Debian `vsmartcard-vpcd`), so that the reader's PC/SC code, OpenSC or any PC/SC client talks to
//! it through the real pcscd.
//!
//! vpcd listens on a TCP port (35963 for the first slot); a virtual card "is inserted" by connecting
//! to it and "removed" by closing the connection. Every message is a 2-byte big-endian length and
//! a payload: one byte is a control command (0 power off, 1 power on, 2 reset, 4 ATR request), more
//! is a command APDU, answered with the response APDU.
//!
//! Insert and remove come over a control socket, one line each: `insert PERSONA`, `remove`,
//! `status`; the answer is one line, `ok ...` or `error ...`.

use anyhow::{Context, Result, bail};
use kaoyomi_hal_sim::card::ATR;
use kaoyomi_hal_sim::{CounterStore, VirtualCard, persona};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

const CTRL_OFF: u8 = 0;
const CTRL_ON: u8 = 1;
const CTRL_RESET: u8 = 2;
const CTRL_ATR: u8 = 4;

/// Serves one inserted card until vpcd or a `remove` closes the connection.
fn serve(mut card: VirtualCard, mut stream: TcpStream) {
    let id = card.persona().id;
    let mut exchange = || -> std::io::Result<()> {
        loop {
            let mut len = [0u8; 2];
            stream.read_exact(&mut len)?;
            let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
            stream.read_exact(&mut msg)?;
            let answer = match msg.as_slice() {
                [CTRL_OFF] | [CTRL_ON] | [CTRL_RESET] => {
                    card.reset();
                    continue;
                }
                [CTRL_ATR] => ATR.to_vec(),
                [other] => {
                    log::warn!("vpcd sent unknown control byte {other:#04x}");
                    continue;
                }
                apdu => card.process(apdu),
            };
            let mut out = (answer.len() as u16).to_be_bytes().to_vec();
            out.extend_from_slice(&answer);
            stream.write_all(&out)?;
        }
    };
    match exchange() {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => log::info!("card {id} removed"),
        Err(e) => log::info!("card {id} removed ({e})"),
        Ok(()) => {}
    }
}

/// The card "in the field" now.
#[derive(Default)]
struct Slot {
    stream: Option<TcpStream>,
    persona: Option<&'static str>,
}

/// The simulator.
pub struct CardSim {
    vpcd: String,
    store: CounterStore,
    slot: Arc<Mutex<Slot>>,
}

impl CardSim {
    /// A simulator for the vpcd at `vpcd` (host:port) with counters in `state/sim-cards`.
    pub fn new(vpcd: &str, state: &Path) -> Self {
        CardSim { vpcd: vpcd.to_string(), store: CounterStore::new(state.join("sim-cards")), slot: Arc::default() }
    }

    /// Inserts `persona`'s card (removing any card there first).
    pub fn insert(&self, id: &str) -> Result<()> {
        let p = persona::find(id).with_context(|| format!("unknown persona {id:?}"))?;
        self.remove();
        let card = VirtualCard::issue(p, self.store.clone())?;
        let stream = TcpStream::connect(&self.vpcd)
            .with_context(|| format!("connecting to vpcd at {} (is pcscd with vsmartcard-vpcd running?)", self.vpcd))?;
        stream.set_nodelay(true)?;
        let serving = stream.try_clone()?;
        std::thread::Builder::new().name(format!("card-{id}")).spawn(move || serve(card, serving))?;
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        *slot = Slot { stream: Some(stream), persona: Some(p.id) };
        log::info!("card {id} inserted");
        Ok(())
    }

    /// Removes the card, if any.
    pub fn remove(&self) {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(stream) = slot.stream.take() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        slot.persona = None;
    }

    /// The persona in the slot.
    pub fn status(&self) -> Option<&'static str> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).persona
    }

    fn command(&self, line: &str) -> String {
        let mut words = line.split_whitespace();
        let result = match (words.next(), words.next()) {
            (Some("insert"), Some(id)) => self.insert(id).map(|()| "ok inserted".to_string()),
            (Some("remove"), None) => {
                self.remove();
                Ok("ok removed".into())
            }
            (Some("status"), None) => Ok(format!("ok {}", self.status().unwrap_or("empty"))),
            _ => Err(anyhow::anyhow!("unknown command {line:?} (insert PERSONA, remove, status)")),
        };
        match result {
            Ok(text) => text,
            Err(e) => format!("error {e:#}"),
        }
    }

    /// Serves the control socket at `path` (forever).
    pub fn serve_control(self, path: &Path) -> Result<()> {
        if path.exists() {
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
        let sim = Arc::new(self);
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let sim = sim.clone();
            std::thread::spawn(move || {
                let Ok(mut writer) = conn.try_clone() else { return };
                for line in BufReader::new(conn).lines() {
                    let Ok(line) = line else { return };
                    if writeln!(writer, "{}", sim.command(&line)).is_err() {
                        return;
                    }
                }
            });
        }
        Ok(())
    }
}

/// Sends one control line to a running cardsim and returns its answer.
pub fn control(path: &Path, line: &str) -> Result<String> {
    let mut stream =
        UnixStream::connect(path).with_context(|| format!("connecting to kaoyomi-cardsim at {}", path.display()))?;
    writeln!(stream, "{line}")?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer)?;
    let answer = answer.trim().to_string();
    if let Some(e) = answer.strip_prefix("error ") {
        bail!("kaoyomi-cardsim: {e}");
    }
    Ok(answer)
}
