//! The face check on its own thread, off the main loop and the screen: the card photo arrives
//! from the card thread, the 2.5D camera streams (visible, infrared, depth), each moment goes
//! through `kaoyomi_vision::check` with its liveness check, guidance and the decision go to core
//! as events (a presentation attack as [`FaceResult::NotLive`], counted in the log's line about
//! the check, with numbers only). When core stops the check (card removed, the
//! patient chose another method, time-out) the main loop clears [`ActiveOp`], and that, or a new
//! job, ends the running check between two frames; the
//! camera is closed after every check and every frame, the photo and the embeddings are wiped
//! when they go out of scope.

use kaoyomi_core::FaceProblem;
use kaoyomi_hal::camera::{Camera, FaceCamera, FaceFrames, Frame};
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use zeroize::Zeroizing;
#[cfg(feature = "face")]
use {
    kaoyomi_core::{Event, FaceHint, FaceResult},
    kaoyomi_vision::check::{Decision, Depth25, FaceCheck, HINTS, Liveness, Models, Settings, Step},
    kaoyomi_vision::pad::DepthView,
    kaoyomi_vision::{GreyView, check, portrait},
    std::sync::atomic::Ordering,
    std::sync::mpsc::{Receiver, Sender, TryRecvError},
    std::time::Instant,
};

/// The card photo (JPEG 2000 bytes from the chip): wiped on drop, never printed.
pub struct Photo(Zeroizing<Vec<u8>>);

impl Photo {
    /// Wraps the bytes.
    pub fn new(bytes: Vec<u8>) -> Photo {
        Photo(Zeroizing::new(bytes))
    }
}

impl core::fmt::Debug for Photo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Photo({} bytes, withheld)", self.0.len())
    }
}

/// A face check to run: core's operation number and the card photo (or why there is none).
#[derive(Debug)]
pub struct FaceJob {
    /// Core's operation number.
    pub op: u32,
    /// The card photo, or why it could not be read.
    pub photo: Result<Photo, FaceProblem>,
}

/// A 2.5D face camera as the face thread uses it.
pub trait FaceSource: Send {
    /// The next moment of the three streams, or what went wrong, in words.
    fn next(&mut self) -> Result<FaceFrames, String>;
}

impl<C: FaceCamera + Send> FaceSource for C {
    fn next(&mut self) -> Result<FaceFrames, String> {
        self.next_frames().map_err(|e| e.to_string())
    }
}

/// A camera as the card-surface thread uses it.
pub trait FrameSource: Send {
    /// The next frame, or what went wrong, in words.
    fn next(&mut self) -> Result<Frame, String>;
}

impl<C: Camera + Send> FrameSource for C {
    fn next(&mut self) -> Result<Frame, String> {
        self.next_frame().map_err(|e| e.to_string())
    }
}

/// The widest preview frame handed to the screen (the preview box is about a third of the
/// panel; a 640x480 camera frame is halved).
#[cfg(feature = "face")]
const PREVIEW_WIDTH: u32 = 320;

/// Opens the face camera for one check.
pub type OpenCamera = Box<dyn FnMut() -> Result<Box<dyn FaceSource>, String> + Send>;

/// The operation number of the face check core is waiting for (0: none). The main loop sets it
/// when core starts a check and clears it when core stops one, so a photo that arrives after the
/// check was abandoned (the card was removed while it was read) never starts the camera.
pub type ActiveOp = Arc<AtomicU32>;

/// The face check's accuracy setting: changed by the main loop (the maintenance settings) and
/// read by the face thread when a check starts.
#[derive(Debug, Clone, Default)]
pub struct AccuracySetting(Arc<std::sync::atomic::AtomicU8>);

impl AccuracySetting {
    /// Takes the setting.
    pub fn set(&self, accuracy: kaoyomi_maintenance::FaceAccuracy) {
        let v = match accuracy {
            kaoyomi_maintenance::FaceAccuracy::Standard => 0,
            kaoyomi_maintenance::FaceAccuracy::Relaxed => 1,
            kaoyomi_maintenance::FaceAccuracy::Strict => 2,
        };
        self.0.store(v, std::sync::atomic::Ordering::SeqCst);
    }

    /// The setting now.
    pub fn get(&self) -> kaoyomi_maintenance::FaceAccuracy {
        match self.0.load(std::sync::atomic::Ordering::SeqCst) {
            1 => kaoyomi_maintenance::FaceAccuracy::Relaxed,
            2 => kaoyomi_maintenance::FaceAccuracy::Strict,
            _ => kaoyomi_maintenance::FaceAccuracy::Standard,
        }
    }

    /// The comparison's settings for the accuracy set now.
    #[cfg(feature = "face")]
    pub fn settings(&self) -> Settings {
        use kaoyomi_vision::calibration::Accuracy;
        Settings::for_accuracy(match self.get() {
            kaoyomi_maintenance::FaceAccuracy::Relaxed => Accuracy::Relaxed,
            kaoyomi_maintenance::FaceAccuracy::Standard => Accuracy::Standard,
            kaoyomi_maintenance::FaceAccuracy::Strict => Accuracy::Strict,
        })
    }
}

/// Starts the face thread: the accuracy setting and the liveness check's settings, the camera, …
#[cfg(feature = "face")]
pub fn spawn(
    mut models: Models,
    (accuracy, liveness): (AccuracySetting, Liveness),
    mut open: OpenCamera,
    active: ActiveOp,
    jobs: Receiver<FaceJob>,
    events: Sender<Event>,
    preview: Option<crate::PreviewView>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("face".into()).spawn(move || {
        let mut pending = None;
        loop {
            let job = match pending.take() {
                Some(job) => job,
                None => match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                },
            };
            let FaceJob { op, photo } = job;
            if active.load(Ordering::SeqCst) != op {
                log::debug!("face check {op} was abandoned before its photo arrived");
                continue;
            }
            let settings = accuracy.settings();
            let mut run = Run {
                models: &mut models,
                settings: &settings,
                liveness: &liveness,
                jobs: &jobs,
                events: &events,
                op,
                active: &active,
                preview: preview.as_ref(),
            };
            let outcome = match photo {
                Err(problem) => Some(FaceResult::Unavailable(problem)),
                Ok(photo) => run.check(photo, &mut open, &mut pending),
            };
            if let Some(result) = outcome
                && events.send(Event::FaceChecked { op, result }).is_err()
            {
                return;
            }
        }
    })
}

/// Whether a running check (`op`) must stop between two frames: core stopped it (`active` moved
/// on), a new job came (left in `pending`), or the job channel closed. Shared by the face and
/// card-surface threads.
#[cfg(feature = "face")]
pub(crate) fn stopped<J>(active: &AtomicU32, op: u32, jobs: &Receiver<J>, pending: &mut Option<J>) -> bool {
    if active.load(Ordering::SeqCst) != op {
        return true;
    }
    match jobs.try_recv() {
        Err(TryRecvError::Disconnected) => true,
        Ok(next) => {
            *pending = Some(next);
            true
        }
        Err(TryRecvError::Empty) => false,
    }
}

/// The process's peak resident memory (VmHWM), MB; 0 where /proc cannot tell.
#[cfg(feature = "face")]
fn peak_rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches(" kB").to_string()))
        })
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

#[cfg(feature = "face")]
struct Run<'a> {
    models: &'a mut Models,
    settings: &'a Settings,
    liveness: &'a Liveness,
    jobs: &'a Receiver<FaceJob>,
    events: &'a Sender<Event>,
    op: u32,
    active: &'a AtomicU32,
    preview: Option<&'a crate::PreviewView>,
}

#[cfg(feature = "face")]
impl Run<'_> {
    /// One check; `None` when it was stopped (a new start is left in `pending`).
    fn check(&mut self, photo: Photo, open: &mut OpenCamera, pending: &mut Option<FaceJob>) -> Option<FaceResult> {
        let card = match portrait::decode(&photo.0) {
            Ok(image) => image,
            Err(e) => {
                log::warn!("face check: the card photo cannot be used: {e}");
                return Some(FaceResult::Unavailable(FaceProblem::CardPhoto));
            }
        };
        drop(photo);
        let reference = match check::embed_reference(self.models, card.view()) {
            Ok(Some(e)) => e,
            Ok(None) => {
                log::warn!("face check: no face found in the card photo");
                return Some(FaceResult::Unavailable(FaceProblem::CardPhoto));
            }
            Err(e) => {
                log::error!("face check: the models failed on the card photo: {e}");
                return Some(FaceResult::Unavailable(FaceProblem::Models));
            }
        };
        drop(card);
        let mut camera = match open() {
            Ok(c) => c,
            Err(e) => {
                log::error!("face check: the camera does not open: {e}");
                return Some(FaceResult::Unavailable(FaceProblem::Camera));
            }
        };
        let mut check = FaceCheck::new(reference, self.settings.clone()).with_liveness(self.liveness.clone());
        let mut last_hint: Option<Option<FaceHint>> = None;
        let started = Instant::now();
        let mut busy = std::time::Duration::ZERO;
        loop {
            if stopped(self.active, self.op, self.jobs, pending) {
                log::info!("face check stopped after {} frames", check.report().frames);
                return None;
            }
            let frames = match camera.next() {
                Ok(f) => f,
                Err(e) => {
                    log::error!("face check: the camera stopped delivering: {e}");
                    return Some(FaceResult::Unavailable(FaceProblem::Camera));
                }
            };
            let t = Instant::now();
            let frame = frames.visible();
            let view = GreyView { width: frame.width(), height: frame.height(), pixels: frame.pixels() };
            let (ir, depth) = (frames.infrared(), frames.depth());
            let streams = Depth25 {
                infrared: GreyView { width: ir.width(), height: ir.height(), pixels: ir.pixels() },
                depth: DepthView { width: depth.width(), height: depth.height(), mm: depth.millimetres() },
            };
            let step = check.frame_25d(self.models, view, streams);
            busy += t.elapsed();
            if let Some(show) = self.preview {
                // The patient sees themselves, at the screen's size (at most PREVIEW_WIDTH wide);
                // the shrunk copy is wiped when it goes out of scope.
                let small = check::shrink(view, frame.width().div_ceil(PREVIEW_WIDTH).max(1));
                show(small.width(), small.height(), small.pixels());
            }
            drop(frames);
            let decision = match step {
                Err(e) => {
                    log::error!("face check: the models failed: {e}");
                    return Some(FaceResult::Unavailable(FaceProblem::Models));
                }
                Ok(Step::Continue(hint)) => {
                    if last_hint != Some(hint) {
                        last_hint = Some(hint);
                        let _ = self.events.send(Event::FaceGuidance { op: self.op, hint });
                    }
                    continue;
                }
                Ok(Step::Decided(d)) => d,
            };
            let r = check.report();
            let refused: Vec<String> =
                HINTS.iter().zip(r.refused).filter(|(_, n)| *n > 0).map(|(h, n)| format!("{h:?} {n}")).collect();
            log::info!(
                "face check: {decision:?} after {} frames in {:.1} s ({} good, {} compared, liveness {}, steadiness {}; refused: {}; {:.0} ms of work per frame; peak RSS {} MB)",
                r.frames,
                started.elapsed().as_secs_f64(),
                r.good,
                r.compared,
                r.liveness_median().map_or("not scored".to_string(), |m| format!("{m:.2}")),
                r.steadiness.map_or("not scored".to_string(), |m| format!("{m:.2}")),
                if refused.is_empty() { "none".to_string() } else { refused.join(", ") },
                busy.as_secs_f64() * 1000.0 / f64::from(r.frames.max(1)),
                peak_rss_mb()
            );
            return Some(match decision {
                Decision::Match => FaceResult::Match,
                Decision::NoMatch => FaceResult::NoMatch,
                Decision::NotCaptured => FaceResult::Unavailable(FaceProblem::NotCaptured),
                Decision::NotLive => FaceResult::NotLive,
            });
        }
    }
}
