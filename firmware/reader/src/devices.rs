//! Device selection: what the board file names becomes the devices the reader runs with.
//!
//! The real devices (a PC/SC reader through pcscd, V4L2 cameras) are opened here. The simulated
//! ones come from [`crate::sim`] (feature `sim`, for the demo and the tests); a device build, which
//! has no simulator, refuses a board that names one and says so.

use crate::card_service::{self, Work};
use crate::face_service::{FaceJob, FaceSource, FrameSource, OpenCamera};
use crate::surface_service::OpenCardCamera;
use anyhow::{Context, Result};
use kaoyomi_board::{CardCameraDevice, CardDevice, FaceDevice};
use kaoyomi_core::Event;
use kaoyomi_myna::surface::IssuerKeys;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};

/// The error of a device build given a board with a simulated device.
#[cfg_attr(feature = "sim", allow(dead_code))]
pub(crate) fn without_simulator(what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the board file names a simulated {what}, but this reader is a device build without the simulator \
         (build with feature `sim` for the demo and the tests)"
    )
}

/// What the simulated devices let a script do (place cards, change what the cameras see); empty
/// on a device build.
#[derive(Default)]
pub(crate) struct Hands {
    /// Places and removes simulated cards.
    #[cfg(feature = "sim")]
    pub card: Option<Box<dyn crate::script::CardHand>>,
    /// Who stands before the simulated face camera.
    #[cfg(feature = "sim")]
    pub camera: Option<kaoyomi_hal_sim::SimCameraControl>,
    /// What the simulated card camera sees.
    #[cfg(feature = "sim")]
    pub card_camera: Option<kaoyomi_hal_sim::card_camera::SimCardCameraControl>,
    /// Which persona's card is in the in-process slot (the simulated card camera shows its front).
    #[cfg(feature = "sim")]
    pub persona: Option<crate::sim::PersonaInSlot>,
}

/// Opens the card reader the board names and starts the card thread on it; returns the card
/// issuers whose chips the reader trusts to prove themselves genuine (none for real cards until
/// the issuers' keys are configured, so the face check stays off; the simulated cards' test issuer
/// on the sim board).
pub(crate) fn card(
    device: &CardDevice,
    state: &Path,
    jobs: Receiver<Work>,
    events: Sender<Event>,
    photos: Sender<FaceJob>,
    hands: &mut Hands,
) -> Result<Arc<IssuerKeys>> {
    match device {
        CardDevice::Sim { persona } => {
            #[cfg(feature = "sim")]
            return crate::sim::card_slot(persona.as_deref(), state, jobs, events, photos, hands);
            #[cfg(not(feature = "sim"))]
            {
                let _ = (persona, state, jobs, events, photos, hands);
                Err(without_simulator("card reader (card kind \"sim\")"))
            }
        }
        CardDevice::Pcsc { reader, sim_control } => {
            if let Some(path) = sim_control {
                let control = if path.is_absolute() { path.clone() } else { state.join(path) };
                #[cfg(feature = "sim")]
                {
                    hands.card = Some(Box::new(crate::script::CardsimHand { control }));
                }
                #[cfg(not(feature = "sim"))]
                {
                    let _ = control;
                    return Err(without_simulator("card behind pcscd (`sim_control`)"));
                }
            }
            let pcsc =
                kaoyomi_hal_linux::pcsc::PcscReader::new(reader).context("connecting to pcscd (is it running?)")?;
            let issuers = Arc::new(IssuerKeys::default());
            card_service::spawn(
                pcsc,
                jobs,
                events,
                card_service::PhotoWiring { issuers: issuers.clone(), reply: photos },
            );
            Ok(issuers)
        }
    }
}

/// The face camera the board names, with the directory of its models; None when the board has
/// none.
pub(crate) fn face_camera(device: &FaceDevice, hands: &mut Hands) -> Result<Option<(PathBuf, OpenCamera)>> {
    match device {
        FaceDevice::None => Ok(None),
        FaceDevice::V4l2 { device, infrared, depth, models } => {
            let (Some(infrared), Some(depth)) = (infrared.clone(), depth.clone()) else {
                // Without them a photograph or a phone would pass the face check.
                log::warn!(
                    "face check off: the board's face camera names no infrared and depth streams, \
                     which the check needs to tell a live face from a picture"
                );
                return Ok(None);
            };
            let visible = device.clone();
            let open: OpenCamera = Box::new(move || {
                kaoyomi_hal_linux::camera::V4lFaceCamera::open(&visible, &infrared, &depth, 640, 480, 30)
                    .map(|c| Box::new(c) as Box<dyn FaceSource>)
                    .map_err(|e| e.to_string())
            });
            Ok(Some((models.clone(), open)))
        }
        FaceDevice::Sim { scene, models } => {
            #[cfg(feature = "sim")]
            return crate::sim::face_camera(scene, hands).map(|open| Some((models.clone(), open)));
            #[cfg(not(feature = "sim"))]
            {
                let _ = (scene, models, hands);
                Err(without_simulator("face camera"))
            }
        }
    }
}

/// The card camera the board names (it reads 照合番号B, which opens the card photo); None when
/// the board has none or when no card issuer is trusted (no chip could prove itself genuine, so
/// the photo would never be used: 照合番号B is not even read).
pub(crate) fn card_camera(
    device: &CardCameraDevice,
    issuers: &IssuerKeys,
    hands: &mut Hands,
) -> Result<Option<OpenCardCamera>> {
    match device {
        CardCameraDevice::None => Ok(None),
        _ if issuers.is_empty() => {
            log::warn!("face check off: no card issuer keys are configured (the chip authenticity check)");
            Ok(None)
        }
        CardCameraDevice::Sim => {
            #[cfg(feature = "sim")]
            return crate::sim::card_camera(hands).map(Some);
            #[cfg(not(feature = "sim"))]
            {
                let _ = hands;
                Err(without_simulator("card camera"))
            }
        }
        CardCameraDevice::V4l2 { device } => {
            let device = device.clone();
            Ok(Some(Box::new(move || {
                kaoyomi_hal_linux::camera::V4lCamera::open(&device, 1280, 720)
                    .map(|c| Box::new(c) as Box<dyn FrameSource>)
                    .map_err(|e| e.to_string())
            })))
        }
    }
}
