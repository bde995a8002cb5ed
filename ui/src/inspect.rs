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
//!
//! The staff display's buttons, choices and tabs ([`locate_staff`]) are found the same way, for the
//! QEMU test's mouse clicks on the staff display and its maintenance pages.

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
    clickable(&ui.patient, &[AccessibleRole::Button])
}

/// The elements of `window` with one of `roles`, in the tree's order, each once.
fn clickable(window: &impl ComponentHandle, roles: &[AccessibleRole]) -> Vec<(String, [u32; 4])> {
    let mut found: Vec<(String, [u32; 4])> = Vec::new();
    let roles = roles.to_vec();
    for button in ElementQuery::from_root(window)
        .match_descendants()
        .match_predicate(move |e: &ElementHandle| e.accessible_role().is_some_and(|r| roles.contains(&r)))
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
    Ok((paired(name, english, (code, local))?, picture))
}

/// The staff display's buttons, toggles, choices and tabs for `name`: a sample screen's staff
/// display, or `maintenance-<page>` for a sample maintenance page (`samples::maintenance`), each
/// with its English label and its place on the staff display. Installs the headless platform:
/// once per process.
pub fn locate_staff(name: &str) -> anyhow::Result<Vec<Button>> {
    crate::headless::install()?;
    let ui = crate::view::Ui::new(std::rc::Rc::new(|_| {}))?;
    match name.strip_prefix("maintenance-") {
        Some(page) => {
            let (_, _, view) = samples::maintenance()
                .into_iter()
                .find(|(n, _, _)| *n == page)
                .with_context(|| format!("no sample maintenance page {page:?}"))?;
            ui.show(&kaoyomi_core::ScreenState { screen: kaoyomi_core::Screen::Maintenance, timeout_warning_s: None });
            ui.show_maintenance(&view);
        }
        None => {
            let (_, state) = samples::all()
                .into_iter()
                .find(|(n, _)| *n == name)
                .with_context(|| format!("no sample screen {name:?}"))?;
            ui.show(&state);
        }
    }
    let roles = [AccessibleRole::Button, AccessibleRole::Checkbox, AccessibleRole::RadioButton, AccessibleRole::Tab];
    let mut laid_out = Vec::new();
    for language in ["en", "ja"] {
        ui.staff.global::<crate::Words>().set_lang(language.into());
        // Laid out as drawn: the places are those of a frame.
        crate::headless::snapshot(ui.staff.window())?;
        laid_out.push(clickable(&ui.staff, &roles));
    }
    let (japanese, english) = (laid_out.pop().unwrap_or_default(), laid_out.pop().unwrap_or_default());
    paired(name, english, ("ja", japanese))
}

/// Each button's English label with its place in the language `code` (the same buttons in the
/// same order: the words change, the buttons do not).
fn paired(
    name: &str,
    english: Vec<(String, [u32; 4])>,
    (code, local): (&str, Vec<(String, [u32; 4])>),
) -> anyhow::Result<Vec<Button>> {
    if english.len() != local.len() {
        bail!("{name}: {} buttons in English, {} in {code}", english.len(), local.len());
    }
    Ok(english.into_iter().zip(local).map(|((label, _), (_, rect))| Button { label, rect }).collect())
}
