//! `kaoyomi-screens DIR`: every screen state in every language as PNG files, drawn headless by
//! the software renderer (what `cargo xtask demo --screenshots DIR` runs).
//! `kaoyomi-screens --phases STATE LANGUAGE COUNT DIR`: one state's patient screen at COUNT moments
//! of its 3-second animation and its staff display, for the QEMU test's comparison.
//! `kaoyomi-screens --buttons STATE LANGUAGE PNG [PAD]`: the state's buttons, one per line as
//! `left top width height<TAB>English label`, and its patient picture at PNG with the PIN pad's
//! keys showing PAD (ten digits; counting order `1234567890` if not given), for the QEMU test's
//! taps.
//! `kaoyomi-screens --staff-buttons NAME`: the staff display's buttons for the sample screen NAME
//! or the sample maintenance page `maintenance-<page>`, one per line as above, for the QEMU test's
//! mouse clicks.

fn main() -> anyhow::Result<()> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let text = |i: usize| args.get(i).and_then(|a| a.to_str()).unwrap_or_default().to_string();
    if text(0) == "--phases" {
        let [_, state, language, count, dir] = &args[..] else {
            anyhow::bail!("usage: kaoyomi-screens --phases STATE LANGUAGE COUNT DIR");
        };
        let count: u32 =
            count.to_str().and_then(|c| c.parse().ok()).ok_or_else(|| anyhow::anyhow!("COUNT: a number"))?;
        let (state, language) = (state.to_string_lossy(), language.to_string_lossy());
        let dir = std::path::Path::new(dir);
        kaoyomi_ui::samples::write_phases(dir, &state, &language, std::time::Duration::from_secs(3), count)?;
        println!("{state} in {language}: {count} moments and the staff display written to {}", dir.display());
        return Ok(());
    }
    if text(0) == "--buttons" {
        let (state, language, png, pad) = match &args[..] {
            [_, state, language, png] => (state, language, png, "1234567890".into()),
            [_, state, language, png, pad] => (state, language, png, pad.to_string_lossy()),
            _ => anyhow::bail!("usage: kaoyomi-screens --buttons STATE LANGUAGE PNG [PAD]"),
        };
        let pad: Vec<u8> = pad
            .chars()
            .map(|c| c.to_digit(10).map(|d| d as u8))
            .collect::<Option<_>>()
            .ok_or_else(|| anyhow::anyhow!("PAD: ten digits"))?;
        let (buttons, picture) =
            kaoyomi_ui::inspect::locate(&state.to_string_lossy(), &language.to_string_lossy(), &pad)?;
        picture.save(png).map_err(|e| anyhow::anyhow!("writing {}: {e}", png.to_string_lossy()))?;
        for b in buttons {
            let [x, y, w, h] = b.rect;
            println!("{x} {y} {w} {h}\t{}", b.label);
        }
        return Ok(());
    }
    if text(0) == "--staff-buttons" {
        let [_, name] = &args[..] else {
            anyhow::bail!("usage: kaoyomi-screens --staff-buttons NAME");
        };
        for b in kaoyomi_ui::inspect::locate_staff(&name.to_string_lossy())? {
            let [x, y, w, h] = b.rect;
            println!("{x} {y} {w} {h}\t{}", b.label);
        }
        return Ok(());
    }
    let dir = args.first().ok_or_else(|| anyhow::anyhow!("usage: kaoyomi-screens DIR"))?;
    let names = kaoyomi_ui::samples::write_all(std::path::Path::new(dir))?;
    println!("{} screens written to {}", names.len(), std::path::Path::new(dir).display());
    Ok(())
}
