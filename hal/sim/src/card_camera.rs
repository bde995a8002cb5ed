//! The simulated card-surface camera: 1280x720 greyscale frames at 15 frames per second of
//! whatever lies in the reader's slot ([`SlotView`]): normally the front of the inserted
//! persona's card (rendered by `kaoyomi-cardgen --personas` into `assets/front-*.png`), lying a
//! little slanted, with the camera's noise, compression and small movements from frame to frame
//! (`crate::capture`). A script can make it show the slot empty, the card upside down, its back,
//! another card, glare over the numbers, or the camera unplugged.

use crate::capture::{self, Conditions, FRAME_HEIGHT, FRAME_WIDTH, Glare};
use kaoyomi_hal::camera::{Camera, Frame};
use kaoyomi_hal::{Error, ErrorKind};
use kaoyomi_vision::ocr::layout::{CARD_HEIGHT_MM, CARD_WIDTH_MM};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FRAME_TIME: Duration = Duration::from_nanos(66_666_667);

/// What the card camera sees in the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotView {
    /// The inserted card's front, as a patient lays it in.
    Front,
    /// Nothing in the slot.
    Empty,
    /// The card lying upside down.
    UpsideDown,
    /// The card's back.
    Back,
    /// A driver's licence on top of the card.
    Licence,
    /// An old 住民基本台帳カード.
    Juki,
    /// The inserted card's front with the room light reflected over the printed numbers.
    Glare,
    /// One frame, then the camera is unplugged.
    Unplugged,
}

impl SlotView {
    /// By name (`front`, `empty`, `upside-down`, `back`, `licence`, `juki`, `glare`, `unplugged`).
    pub fn parse(name: &str) -> Option<SlotView> {
        Some(match name {
            "front" => SlotView::Front,
            "empty" => SlotView::Empty,
            "upside-down" => SlotView::UpsideDown,
            "back" => SlotView::Back,
            "licence" => SlotView::Licence,
            "juki" => SlotView::Juki,
            "glare" => SlotView::Glare,
            "unplugged" => SlotView::Unplugged,
            _ => return None,
        })
    }
}

/// The front of a persona's card, by persona id (cloned and tampered cards print the ordinary
/// card's face).
fn front_png(persona: &str) -> Option<&'static [u8]> {
    Some(match persona {
        "normal" | "cloned" | "tampered" => include_bytes!("../assets/front-normal.png"),
        "last-try" => include_bytes!("../assets/front-last-try.png"),
        "blocked" => include_bytes!("../assets/front-blocked.png"),
        "pinless" => include_bytes!("../assets/front-pinless.png"),
        "expired" => include_bytes!("../assets/front-expired.png"),
        _ => return None,
    })
}

/// A camera error.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SimCardCameraError {
    kind: ErrorKind,
    message: &'static str,
}

impl Error for SimCardCameraError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// Which persona's card is in the slot (from the card slot), and the view; shared with scripts.
#[derive(Clone)]
pub struct SimCardCameraControl {
    view: Arc<Mutex<SlotView>>,
    persona: Arc<dyn Fn() -> Option<&'static str> + Send + Sync>,
}

impl core::fmt::Debug for SimCardCameraControl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SimCardCameraControl({:?})", self.view())
    }
}

impl SimCardCameraControl {
    /// A control showing the front of whichever persona `persona` names (the card in the slot).
    pub fn new(persona: impl Fn() -> Option<&'static str> + Send + Sync + 'static) -> SimCardCameraControl {
        SimCardCameraControl { view: Arc::new(Mutex::new(SlotView::Front)), persona: Arc::new(persona) }
    }

    /// Sets what the camera sees.
    pub fn set(&self, view: SlotView) {
        *self.view.lock().unwrap_or_else(|e| e.into_inner()) = view;
    }

    /// What the camera sees.
    pub fn view(&self) -> SlotView {
        *self.view.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A camera that starts streaming now.
    pub fn open(&self) -> SimCardCamera {
        SimCardCamera {
            control: self.clone(),
            index: 0,
            started: Instant::now(),
            rng: ChaCha8Rng::seed_from_u64(0x4341_5244),
            placement: None,
        }
    }
}

/// One stream of the simulated card camera.
pub struct SimCardCamera {
    control: SimCardCameraControl,
    index: u32,
    started: Instant,
    rng: ChaCha8Rng,
    placement: Option<Conditions>,
}

impl SimCardCamera {
    fn card(&self, view: SlotView) -> Result<Option<image::GrayImage>, SimCardCameraError> {
        let png: &[u8] = match view {
            SlotView::Empty => return Ok(None),
            SlotView::Back => include_bytes!("../assets/other-back.png"),
            SlotView::Licence => include_bytes!("../assets/other-licence.png"),
            SlotView::Juki => include_bytes!("../assets/other-juki.png"),
            _ => match (self.control.persona)().and_then(front_png) {
                Some(png) => png,
                None => return Ok(None),
            },
        };
        let img = image::load_from_memory_with_format(png, image::ImageFormat::Png).map_err(|_| {
            SimCardCameraError { kind: ErrorKind::Other, message: "the card camera's picture is corrupt" }
        })?;
        Ok(Some(img.into_luma8()))
    }
}

impl Camera for SimCardCamera {
    type Error = SimCardCameraError;

    fn next_frame(&mut self) -> Result<Frame, SimCardCameraError> {
        let i = self.index;
        let view = self.control.view();
        if view == SlotView::Unplugged && i >= 1 {
            return Err(SimCardCameraError { kind: ErrorKind::DeviceGone, message: "the card camera was unplugged" });
        }
        let due = self.started + FRAME_TIME * i;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        // The card lies where it was laid; each frame moves it by a pixel or so.
        let mut c = match &self.placement {
            Some(c) => c.clone(),
            None => {
                let c = Conditions::sample(&mut self.rng, capture::Difficulty::Placed, CARD_WIDTH_MM, CARD_HEIGHT_MM);
                self.placement = Some(c.clone());
                c
            }
        };
        for corner in &mut c.corners {
            corner.0 += f64::from(self.rng.next_u32() % 3) - 1.0;
            corner.1 += f64::from(self.rng.next_u32() % 3) - 1.0;
        }
        if view == SlotView::UpsideDown {
            c.corners.rotate_left(2);
        }
        if view == SlotView::Glare {
            c.glare = Some(Glare { x_mm: 26.0, y_mm: 41.0, radius_mm: 12.0, strength: 1.0 });
        }
        let pixels = match self.card(view)? {
            Some(card) => {
                let (w, h) = card.dimensions();
                capture::capture(card.as_raw(), w, h, CARD_WIDTH_MM, &c, &mut self.rng)
            }
            None => {
                let empty = Conditions { corners: [(-10.0, -10.0); 4], ..c };
                capture::capture(&[0], 1, 1, CARD_WIDTH_MM, &empty, &mut self.rng)
            }
        };
        self.index += 1;
        Ok(Frame::new(FRAME_WIDTH, FRAME_HEIGHT, pixels, i).expect("frame size"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slot_shows_the_inserted_card_or_nothing_and_an_unplugged_camera_says_so() {
        let control = SimCardCameraControl::new(|| Some("normal"));
        let mut cam = control.open();
        let f = cam.next_frame().unwrap();
        assert_eq!((f.width(), f.height()), (FRAME_WIDTH, FRAME_HEIGHT));
        assert!(f.mean() > 100.0, "the card's light face fills most of the frame: {}", f.mean());
        control.set(SlotView::Empty);
        assert!(control.open().next_frame().unwrap().mean() < 70.0);
        let nobody = SimCardCameraControl::new(|| None);
        assert!(nobody.open().next_frame().unwrap().mean() < 70.0);
        control.set(SlotView::Unplugged);
        let mut cam = control.open();
        cam.next_frame().unwrap();
        assert_eq!(cam.next_frame().unwrap_err().kind(), ErrorKind::DeviceGone);
    }
}
