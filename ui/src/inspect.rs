//! Where the buttons of a sample screen are (feature `inspect`, host only): the QEMU test's host
//! taps the guest's touch panel at the places the software renderer gives for the same screen.
//!
//! Buttons are found through Slint's accessibility tree (role button, in the tree's order). A
//! button is named by its English label, whatever the screen's language: the screen is laid out
//! once in English and once in the language asked for, and the buttons are paired by their order
//! (the words change, the buttons do not). The PIN pad shows the digits in the order asked for: the
//! host draws it ten times, turned by one key each time, so that it knows how every digit looks on
//! every key (a key's place falls between pixels differently from its neighbour's), and reads the
//! guest's shuffled pad against them.

use crate::samples;
use anyhow::{Context, bail};
use i_slint_backend_testing::{AccessibleRole, ElementHandle, ElementQuery};
use slint::ComponentHandle;

/// One button: its English label and its place on the patient's panel in pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Button {
    /// The button's accessible label in English (a digit for a PIN key).
    pub label: String,
    /// Left, top, width, height.
    pub rect: [u32; 4],
}

/// The patient window's buttons in the tree's order, each once (the query meets an element once
/// per path to it).
fn buttons(ui: &crate::view::Ui) -> Vec<(String, [u32; 4])> {
    let mut found: Vec<(String, [u32; 4])> = Vec::new();
    for button in ElementQuery::from_root(&ui.patient)
        .match_descendants()
        .match_predicate(|e: &ElementHandle| e.accessible_role() == Some(AccessibleRole::Button))
        .find_all()
        .into_iter()
        .map(|e| {
            let (p, s) = (e.absolute_position(), e.size());
            let label = e.accessible_label().map(|l| l.to_string()).unwrap_or_default();
            (label, [p.x, p.y, s.width, s.height].map(|v| v.round().max(0.0) as u32))
        })
    {
        if !found.contains(&button) {
            found.push(button);
        }
    }
    found
}

/// The buttons of the sample screen `name` in language `code`, and the patient's picture of it
/// with the PIN pad's keys showing `pad` (ten digits, key by key: row by row, 0 last). Installs the
/// headless platform: once per process.
pub fn locate(name: &str, code: &str, pad: &[u8]) -> anyhow::Result<(Vec<Button>, image::RgbaImage)> {
    let mut digits = pad.to_vec();
    digits.sort_unstable();
    if digits != (0..10).collect::<Vec<u8>>() {
        bail!("the pad must show each digit once: {pad:?}");
    }
    let (_, state) =
        samples::all().into_iter().find(|(n, _)| *n == name).with_context(|| format!("no sample screen {name:?}"))?;
    crate::headless::install()?;
    let ui = crate::view::Ui::new(std::rc::Rc::new(|_| {}))?;
    let mut laid_out = Vec::new();
    // In English for the labels, then in the language asked for (once when that is English).
    let languages: &[&str] = if code == "en" { &["en"] } else { &["en", code] };
    for &language in languages {
        ui.show(&state);
        if ui.patient.global::<crate::Prefs>().get_language() != language {
            ui.set_language(language);
        }
        let keys: Vec<i32> = pad.iter().map(|&d| i32::from(d)).collect();
        ui.patient.set_pad(slint::ModelRc::new(slint::VecModel::from(keys)));
        let picture = crate::headless::snapshot(ui.patient.window())?;
        laid_out.push((buttons(&ui), picture));
    }
    let (local, picture) = laid_out.pop().context("laid out")?;
    let english = laid_out.pop().map_or_else(|| local.clone(), |(english, _)| english);
    if english.len() != local.len() {
        bail!("{name}: {} buttons in English, {} in {code}", english.len(), local.len());
    }
    let found = english.into_iter().zip(local).map(|((label, _), (_, rect))| Button { label, rect }).collect();
    Ok((found, picture))
}
