//! Every screen state in every language, drawn by the software renderer: no text is cut short
//! (each text box reports whether its text has the room it needs), in normal and in large text;
//! the PIN keys are at least 12 mm on the 8-inch panel; the patient's catalogue has every string
//! of the screens in every language.

use i_slint_backend_testing::{ElementHandle, ElementQuery};
use kaoyomi_core::{Screen, ScreenState};
use kaoyomi_ui::{LANGUAGES, Prefs, headless, samples, view::Ui};
use slint::ComponentHandle;
use std::collections::BTreeSet;
use std::rc::Rc;

/// One millimetre on the 8-inch 1920x1080 panel (177 mm wide).
const PX_PER_MM: f32 = 1920.0 / 177.0;

/// The texts that lack room in their box or lie (partly) outside the window.
fn overflowing(ui: &Ui) -> Vec<String> {
    let texts = ElementQuery::from_root(&ui.patient)
        .match_descendants()
        .match_predicate(|e| matches!(e.accessible_id().as_deref(), Some("text" | "text-overflow")))
        .find_all();
    assert!(!texts.is_empty(), "no text boxes found");
    texts
        .into_iter()
        .filter(|e| {
            let (p, s) = (e.absolute_position(), e.size());
            e.accessible_id().as_deref() == Some("text-overflow")
                || p.x < -0.5
                || p.y < -0.5
                || p.x + s.width > 1920.5
                || p.y + s.height > 1080.5
        })
        .map(|e| e.accessible_label().map(|l| l.to_string()).unwrap_or_default())
        .collect()
}

fn msgids(slint: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut rest = slint;
    while let Some(at) = rest.find("@tr(\"") {
        let s = &rest[at + 5..];
        let end = s.find('"').expect("a closed string");
        ids.insert(s[..end].to_string());
        rest = &s[end..];
    }
    ids
}

fn po_entries(po: &str) -> Vec<(String, String)> {
    let unquote = |l: &str, key: &str| l.strip_prefix(key).map(|v| v.trim().trim_matches('"').replace("\\\"", "\""));
    let mut entries = Vec::new();
    let mut id = None;
    for line in po.lines() {
        if let Some(v) = unquote(line, "msgid ") {
            id = Some(v);
        } else if let (Some(v), Some(i)) = (unquote(line, "msgstr "), id.take())
            && !i.is_empty()
        {
            entries.push((i, v));
        }
    }
    entries
}

#[test]
fn the_catalogue_has_every_string_in_every_language() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut ids = BTreeSet::new();
    for file in ["ui/theme.slint", "ui/patient.slint", "ui/staff.slint"] {
        ids.extend(msgids(&std::fs::read_to_string(dir.join(file)).unwrap()));
    }
    assert!(ids.len() > 90, "only {} strings found in the screens", ids.len());
    for (code, _) in LANGUAGES.iter().filter(|(c, _)| *c != "en") {
        let po = std::fs::read_to_string(dir.join(format!("lang/{code}/LC_MESSAGES/kaoyomi-ui.po"))).unwrap();
        let entries = po_entries(&po);
        let have: BTreeSet<String> = entries.iter().map(|(i, _)| i.clone()).collect();
        let missing: Vec<_> = ids.difference(&have).collect();
        assert!(missing.is_empty(), "{code}: not translated: {missing:?}");
        let stale: Vec<_> = have.difference(&ids).collect();
        assert!(stale.is_empty(), "{code}: no longer on any screen: {stale:?}");
        for (i, s) in &entries {
            assert!(!s.is_empty(), "{code}: empty translation of {i:?}");
            assert_eq!(i.matches("{}").count(), s.matches("{}").count(), "{code}: placeholders of {i:?}");
        }
    }
}

#[test]
fn every_screen_fits_in_every_language_and_the_keys_are_large() {
    headless::install().unwrap();
    let ui = Ui::new(Rc::new(|_| {})).unwrap();
    let mut problems = Vec::new();
    let mut screens = 0;
    for (code, _) in LANGUAGES {
        for large in [false, true] {
            for (name, state) in samples::all() {
                ui.show(&state);
                // The idle screen resets the patient's choices; make them again, as a patient would.
                ui.set_language(code);
                ui.patient.global::<Prefs>().set_large_text(large);
                screens += 1;
                for text in overflowing(&ui).into_iter().collect::<BTreeSet<_>>() {
                    problems.push(format!("{name}.{code}{}: {text:?}", if large { " (large text)" } else { "" }));
                }
            }
        }
    }
    assert_eq!(screens, LANGUAGES.len() * 2 * samples::all().len());
    assert!(problems.is_empty(), "text cut short:\n{}", problems.join("\n"));

    // The check can fail: with letters three times as large, text must be found cut short.
    ui.patient.global::<Prefs>().set_text_scale(3.0);
    ui.show(&samples::all()[0].1);
    headless::snapshot(ui.patient.window()).unwrap();
    assert!(!overflowing(&ui).is_empty(), "oversized text went unnoticed");
    ui.patient.global::<Prefs>().set_text_scale(1.0);

    // The PIN keys: ten digits plus delete, each at least 12 mm square on the panel.
    ui.patient.global::<Prefs>().set_large_text(false);
    ui.show(&ScreenState {
        screen: Screen::PinEntry { entered: 0, tries_left: 3, notice: None },
        timeout_warning_s: None,
    });
    headless::snapshot(ui.patient.window()).unwrap();
    for d in 0..10 {
        let keys = ElementHandle::find_by_accessible_label(&ui.patient, &d.to_string()).collect::<Vec<_>>();
        assert_eq!(keys.len(), 1, "key {d}");
        let size = keys[0].size();
        assert!(size.width / PX_PER_MM >= 12.0 && size.height / PX_PER_MM >= 12.0, "key {d} is {size:?}");
    }
}
