//! `kaoyomi-cardsim`: serve the virtual My Number card to pcscd through vpcd.

use anyhow::Result;
use clap::Parser;
use kaoyomi_cardsim::CardSim;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "kaoyomi-cardsim", version, about = "Virtual My Number card for pcscd (through vsmartcard-vpcd)")]
struct Cli {
    /// vpcd's address (the first slot of Debian's vsmartcard-vpcd listens on port 35963).
    #[arg(long, default_value = "127.0.0.1:35963")]
    vpcd: String,
    /// State directory (the cards' retry counters live in its sim-cards/).
    #[arg(long)]
    state: PathBuf,
    /// Control socket (default: STATE/cardsim.sock).
    #[arg(long)]
    control: Option<PathBuf>,
    /// Insert this persona's card at start.
    #[arg(long)]
    persona: Option<String>,
}

fn main() -> Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    std::fs::create_dir_all(&cli.state)?;
    let sim = CardSim::new(&cli.vpcd, &cli.state);
    if let Some(p) = &cli.persona {
        sim.insert(p)?;
    }
    let control = cli.control.unwrap_or_else(|| cli.state.join("cardsim.sock"));
    log::info!("control socket {}", control.display());
    sim.serve_control(&control)
}
