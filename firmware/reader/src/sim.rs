//! The simulated board's devices (feature `sim`: the demo and the tests, never a device build):
//! the virtual card in an in-process slot, trusted through the simulated cards' test issuer, the
//! simulated 2.5D face camera and the simulated card camera showing the inserted persona's front.

use crate::card_service::{self, Work};
use crate::devices::Hands;
use crate::face_service::{FaceJob, FaceSource, FrameSource, OpenCamera};
use crate::script;
use crate::surface_service::OpenCardCamera;
use anyhow::{Context, Result, bail};
use kaoyomi_core::Event;
use kaoyomi_hal_sim::card_camera::SimCardCameraControl;
use kaoyomi_hal_sim::{CounterStore, Scene, SimCameraControl, SimCardSlot, VirtualCard, persona, pki};
use kaoyomi_myna::surface::IssuerKeys;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};

/// Which persona's card is in the in-process slot now.
pub(crate) type PersonaInSlot = Arc<dyn Fn() -> Option<&'static str> + Send + Sync>;

/// The in-process slot with the virtual card (`persona` placed at start), the card thread on it,
/// and the test issuer trusted; the slot's hand goes to `hands`.
pub(crate) fn card_slot(
    start: Option<&str>,
    state: &Path,
    jobs: Receiver<Work>,
    events: Sender<Event>,
    photos: Sender<FaceJob>,
    hands: &mut Hands,
) -> Result<Arc<IssuerKeys>> {
    let slot = SimCardSlot::new();
    let control = slot.control();
    let issuers = Arc::new(IssuerKeys::default().with(pki::TEST_ISSUER_KEY_ID, pki::test_issuer_public()?));
    let store = CounterStore::new(state.join("sim-cards"));
    if let Some(id) = start {
        let p = persona::find(id).with_context(|| format!("board file names unknown persona {id:?}"))?;
        control.insert(VirtualCard::issue(p, store.clone())?);
    }
    let watched = control.clone();
    hands.persona = Some(Arc::new(move || watched.with_card(|c| c.persona().id)));
    card_service::spawn(
        slot.reader(),
        jobs,
        events,
        card_service::PhotoWiring { issuers: issuers.clone(), reply: photos },
    );
    hands.card = Some(Box::new(script::SlotHand { control, store }));
    Ok(issuers)
}

/// The simulated face camera showing `scene`; its control goes to `hands`.
pub(crate) fn face_camera(scene: &str, hands: &mut Hands) -> Result<OpenCamera> {
    let scene = Scene::parse(scene).with_context(|| format!("board file names unknown camera scene {scene:?}"))?;
    let control = SimCameraControl::new(scene);
    hands.camera = Some(control.clone());
    Ok(Box::new(move || Ok(Box::new(control.open()) as Box<dyn FaceSource>)))
}

/// The simulated card camera, showing the front of the card in the in-process slot.
pub(crate) fn card_camera(hands: &mut Hands) -> Result<OpenCardCamera> {
    let Some(persona) = hands.persona.clone() else {
        bail!("the simulated card camera needs the simulated card slot");
    };
    let control = SimCardCameraControl::new(move || persona());
    hands.card_camera = Some(control.clone());
    Ok(Box::new(move || Ok(Box::new(control.open()) as Box<dyn FrameSource>)))
}
