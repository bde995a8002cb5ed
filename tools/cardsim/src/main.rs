//! `kaoyomi-cardsim`: serve the virtual My Number card to pcscd through vpcd, and the test rig's
//! hand on it (`insert`, `remove` over the control socket; `export-ca`, the test CA a terminal
//! trusts for the simulated cards). A test tool: the reader a device runs has none of this.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use kaoyomi_cardsim::CardSim;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "kaoyomi-cardsim", version, about = "Virtual My Number card for pcscd (through vsmartcard-vpcd)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// vpcd's address (the first slot of Debian's vsmartcard-vpcd listens on port 35963).
    #[arg(long, default_value = "127.0.0.1:35963")]
    vpcd: String,
    /// State directory (the cards' retry counters live in its sim-cards/).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Control socket (default: STATE/cardsim.sock).
    #[arg(long)]
    control: Option<PathBuf>,
    /// Insert this persona's card at start.
    #[arg(long)]
    persona: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Place a persona's card (on a running cardsim, through its control socket).
    Insert {
        /// The persona.
        persona: String,
    },
    /// Take the card away (on a running cardsim).
    Remove,
    /// Write the test CA certificate (DER) that issued every simulated card.
    ExportCa {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let control = |state: &Option<PathBuf>| -> Result<PathBuf> {
        match (&cli.control, state) {
            (Some(c), _) => Ok(c.clone()),
            (None, Some(s)) => Ok(s.join("cardsim.sock")),
            (None, None) => anyhow::bail!("give --state or --control"),
        }
    };
    match &cli.command {
        Some(Cmd::Insert { persona }) => {
            println!("{}", kaoyomi_cardsim::control(&control(&cli.state)?, &format!("insert {persona}"))?);
        }
        Some(Cmd::Remove) => println!("{}", kaoyomi_cardsim::control(&control(&cli.state)?, "remove")?),
        Some(Cmd::ExportCa { out }) => {
            let der = kaoyomi_hal_sim::pki::ca_certificate().context("making the test CA")?;
            std::fs::write(out, der).with_context(|| format!("writing {}", out.display()))?;
        }
        None => {
            let state = cli.state.clone().context("serving the card needs --state")?;
            std::fs::create_dir_all(&state)?;
            let sim = CardSim::new(&cli.vpcd, &state);
            if let Some(p) = &cli.persona {
                sim.insert(p)?;
            }
            let control = control(&cli.state)?;
            log::info!("control socket {}", control.display());
            sim.serve_control(&control)?;
        }
    }
    Ok(())
}
