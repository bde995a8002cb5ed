//! `kaoyomi-screens DIR`: every screen state in every language as PNG files, drawn headless by
//! the software renderer (what `cargo xtask demo --screenshots DIR` runs).
//! `kaoyomi-screens --phases STATE LANGUAGE COUNT DIR`: one state's patient screen at COUNT moments
//! of its 3-second animation and its staff display, for the QEMU test's comparison.

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
    let dir = args.first().ok_or_else(|| anyhow::anyhow!("usage: kaoyomi-screens DIR"))?;
    let names = kaoyomi_ui::samples::write_all(std::path::Path::new(dir))?;
    println!("{} screens written to {}", names.len(), std::path::Path::new(dir).display());
    Ok(())
}
