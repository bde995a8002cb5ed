//! `kaoyomi-screens DIR`: every screen state in every language as PNG files, drawn headless by
//! the software renderer (what `cargo xtask demo --screenshots DIR` runs).

fn main() -> anyhow::Result<()> {
    let dir = std::env::args_os().nth(1).ok_or_else(|| anyhow::anyhow!("usage: kaoyomi-screens DIR"))?;
    let names = kaoyomi_ui::samples::write_all(std::path::Path::new(&dir))?;
    println!("{} screens written to {}", names.len(), std::path::Path::new(&dir).display());
    Ok(())
}
