//! Every screen state in every language (and the staff display of each), drawn by the software
//! renderer at 1920x1080, compared with the reference pictures in `tests/reference/`. The
//! references are kept at a quarter of the size (480x270, each pixel the mean of 4x4) so that the
//! tree stays small; a picture differs when more than 0.5% of its reference pixels are off by more
//! than 48 in a channel, or when the mean difference exceeds 2. `KAOYOMI_UPDATE_SCREENSHOTS=1`
//! writes the references anew (look at them before committing).

use image::RgbaImage;
use kaoyomi_ui::samples::{self, quarter};
use std::collections::BTreeMap;
use std::path::Path;

/// (share of pixels off by more than 48 in some channel, mean absolute difference per channel)
fn difference(a: &RgbaImage, b: &RgbaImage) -> (f64, f64) {
    let (mut off, mut sum) = (0usize, 0u64);
    for (p, q) in a.pixels().zip(b.pixels()) {
        let d = (0..3).map(|c| p[c].abs_diff(q[c])).collect::<Vec<_>>();
        if d.iter().any(|&d| d > 48) {
            off += 1;
        }
        sum += d.iter().map(|&d| u64::from(d)).sum::<u64>();
    }
    let n = (a.width() * a.height()) as f64;
    (off as f64 / n, sum as f64 / (3.0 * n))
}

#[test]
fn every_screen_looks_as_its_reference() {
    let update = std::env::var_os("KAOYOMI_UPDATE_SCREENSHOTS").is_some();
    let refs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference");
    let out = tempfile::tempdir().unwrap();
    let mut pictures = BTreeMap::new();
    let names = samples::render_all(|name, full| {
        assert_eq!(full.dimensions(), (1920, 1080), "{name}");
        pictures.insert(name.to_string(), quarter(&full));
        Ok(())
    })
    .unwrap();
    assert_eq!(names.len(), samples::all().len() * (kaoyomi_ui::LANGUAGES.len() + 1) + samples::maintenance().len());
    // The comparison sees a change of words: the idle screen in Japanese and in English differ.
    let (off, mean) = difference(&pictures["place-card.ja.png"], &pictures["place-card.en.png"]);
    assert!(off > 0.005 || mean > 2.0, "a change of language went unnoticed ({off}, {mean})");
    let mut problems = Vec::new();
    std::fs::create_dir_all(&refs).unwrap();
    for name in &names {
        let small = &pictures[name];
        let reference = refs.join(name);
        if update {
            small.save(&reference).unwrap();
            continue;
        }
        let Ok(expected) = image::open(&reference) else {
            problems.push(format!("{name}: no reference (KAOYOMI_UPDATE_SCREENSHOTS=1 makes one)"));
            continue;
        };
        let expected = expected.to_rgba8();
        if expected.dimensions() != small.dimensions() {
            problems.push(format!("{name}: reference is {:?}", expected.dimensions()));
            continue;
        }
        let (off, mean) = difference(small, &expected);
        if off > 0.005 || mean > 2.0 {
            let diff = out.path().join(format!("actual-{name}"));
            small.save(&diff).unwrap();
            problems.push(format!("{name}: {:.2}% of pixels differ, mean {mean:.2}", off * 100.0));
        }
    }
    if !update {
        // References of states that no longer exist are stale.
        for entry in std::fs::read_dir(&refs).unwrap() {
            let file = entry.unwrap().file_name().to_string_lossy().into_owned();
            if !names.contains(&file) {
                problems.push(format!("{file}: reference of no screen"));
            }
        }
    }
    if !problems.is_empty() {
        let keep = std::env::temp_dir().join("kaoyomi-screenshots");
        let _ = std::fs::remove_dir_all(&keep);
        let _ = std::fs::rename(out.keep(), &keep);
        panic!("{} pictures differ (actual pictures in {}):\n{}", problems.len(), keep.display(), problems.join("\n"));
    }
}
