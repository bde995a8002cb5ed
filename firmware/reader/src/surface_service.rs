//! Reading 照合番号B from the card's printed front on its own thread: when core starts a face
//! check, the card camera streams, each frame goes through `kaoyomi_vision::ocr::read` and the
//! guard (`kaoyomi_vision::ocr::guard`), the patient is guided (no card, upside down, not the
//! front, glare, place it again), and only an accepted reading goes on to the card thread, which
//! presents it once. A refused attempt asks the patient to place the card again and tries once
//! more with fresh frames; a second refusal ends the face check with `CardNumbers`, so core offers
//! the PIN or staff instead. Frames and readings stay in memory and are wiped; the log says what
//! happened, never a digit.

use crate::face_service::FrameSource;
use kaoyomi_myna::surface::CollationB;
#[cfg(feature = "face")]
use {
    crate::face_service::ActiveOp,
    kaoyomi_core::{Event, FaceHint, FaceProblem, FaceResult},
    kaoyomi_models::ppocr::PpOcrRec,
    kaoyomi_vision::ocr::date::Date,
    kaoyomi_vision::ocr::guard::{Guard, Refusal, Settings, Verdict},
    kaoyomi_vision::ocr::read::read_frame,
    std::sync::atomic::Ordering,
    std::sync::mpsc::{Receiver, Sender},
    std::time::Duration,
};

/// One reading to do: core's face-check operation, today's date and the chip's expiry
/// (`YYYYMMDD`, read without credentials when the card was placed).
#[derive(Debug, Clone, Copy)]
pub struct SurfaceJob {
    /// Core's operation number.
    pub op: u32,
    /// Today, `YYYYMMDD` (Japan).
    pub today: u32,
    /// The chip's expiry, `YYYYMMDD`.
    pub chip_expiry: Option<u32>,
}

/// Opens the card camera for one reading.
pub type OpenCardCamera = Box<dyn FnMut() -> Result<Box<dyn FrameSource>, String> + Send>;

/// Where an accepted 照合番号B goes (the card thread, for the photo).
pub type Deliver = Box<dyn Fn(u32, CollationB) + Send>;

#[cfg(feature = "face")]
/// Attempts (the first, and one after asking the patient to place the card again).
const ATTEMPTS: usize = 2;

#[cfg(feature = "face")]
fn date(yyyymmdd: u32) -> Option<Date> {
    Date::new((yyyymmdd / 10_000) as u16, (yyyymmdd / 100 % 100) as u8, (yyyymmdd % 100) as u8)
}

#[cfg(feature = "face")]
/// The guidance for a guard's problem.
pub fn hint(r: Refusal) -> FaceHint {
    match r {
        Refusal::NoCard | Refusal::NotCardShaped => FaceHint::CardNotInView,
        Refusal::UpsideDown => FaceHint::TurnCardRound,
        Refusal::NotTheFront => FaceHint::ShowCardFront,
        Refusal::Glare => FaceHint::CardGlare,
        Refusal::Unreadable | Refusal::Conflicting | Refusal::Inconsistent(_) => FaceHint::RepositionCard,
    }
}

#[cfg(feature = "face")]
/// Starts the card-surface thread.
pub fn spawn(
    mut rec: PpOcrRec,
    mut open: OpenCardCamera,
    active: ActiveOp,
    jobs: Receiver<SurfaceJob>,
    events: Sender<Event>,
    deliver: Deliver,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("card-surface".into()).spawn(move || {
        let mut pending = None;
        loop {
            let job = match pending.take() {
                Some(job) => job,
                None => match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                },
            };
            if active.load(Ordering::SeqCst) != job.op {
                continue;
            }
            match read(&mut rec, &mut open, &active, &jobs, &events, job, &mut pending) {
                Some(Ok(collation)) => deliver(job.op, collation),
                Some(Err(problem)) => {
                    let result = FaceResult::Unavailable(problem);
                    if events.send(Event::FaceChecked { op: job.op, result }).is_err() {
                        return;
                    }
                }
                None => {}
            }
        }
    })
}

#[cfg(feature = "face")]
/// One reading; `None` when core stopped it (or a new job came, left in `pending`).
fn read(
    rec: &mut PpOcrRec,
    open: &mut OpenCardCamera,
    active: &ActiveOp,
    jobs: &Receiver<SurfaceJob>,
    events: &Sender<Event>,
    job: SurfaceJob,
    pending: &mut Option<SurfaceJob>,
) -> Option<Result<CollationB, FaceProblem>> {
    let Some(today) = date(job.today) else {
        log::error!("card surface: the clock gives no valid date");
        return Some(Err(FaceProblem::CardNumbers));
    };
    let chip_expiry = job.chip_expiry.and_then(date);
    let mut last_hint = None;
    let mut guide = |hint: Option<FaceHint>| {
        if last_hint != Some(hint) {
            last_hint = Some(hint);
            let _ = events.send(Event::FaceGuidance { op: job.op, hint });
        }
    };
    for attempt in 0..ATTEMPTS {
        let mut camera = match open() {
            Ok(c) => c,
            Err(e) => {
                log::error!("card surface: the card camera does not open: {e}");
                return Some(Err(FaceProblem::CardNumbers));
            }
        };
        let mut guard = Guard::new(Settings::new(today, chip_expiry));
        let verdict = loop {
            if crate::face_service::stopped(active, job.op, jobs, pending) {
                log::info!("card surface: stopped after {} frames", guard.frames());
                return None;
            }
            let frame = match camera.next() {
                Ok(f) => f,
                Err(e) => {
                    log::error!("card surface: the card camera stopped delivering: {e}");
                    return Some(Err(FaceProblem::CardNumbers));
                }
            };
            let read = read_frame(rec, frame.pixels(), frame.width(), frame.height());
            drop(frame);
            let read = match read {
                Ok(r) => r,
                Err(e) => {
                    log::error!("card surface: the recogniser failed: {e}");
                    return Some(Err(FaceProblem::Models));
                }
            };
            match guard.add(read) {
                Verdict::Pending(problem) => guide(problem.map(hint)),
                v => break v,
            }
        };
        match verdict {
            Verdict::Accept(collation) => {
                log::info!("card surface: 照合番号B read in {} frames (attempt {})", guard.frames(), attempt + 1);
                guide(None);
                return match CollationB::new(collation.digits()) {
                    Some(c) => Some(Ok(c)),
                    None => Some(Err(FaceProblem::CardNumbers)),
                };
            }
            Verdict::Refuse(r) => {
                log::warn!(
                    "card surface: no sure reading after {} frames: {r:?} (attempt {})",
                    guard.frames(),
                    attempt + 1
                );
                guide(Some(hint(r)));
                if attempt + 1 < ATTEMPTS {
                    // Give the patient a moment to act on the guidance.
                    drop(camera);
                    std::thread::sleep(Duration::from_millis(1500));
                }
            }
            Verdict::Pending(_) => {}
        }
    }
    Some(Err(FaceProblem::CardNumbers))
}
