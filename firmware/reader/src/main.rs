//! `kaoyomi-reader`: the reader firmware binary.
//!
//! `kaoyomi-reader run` runs the reader on a board (the built-in sim board by default);
//! `kaoyomi-reader sim ...` helps with the simulated cards (personas, test CA, counters).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use kaoyomi_board::Board;
use kaoyomi_hal_sim::{CounterStore, persona, pki};
use kaoyomi_reader::{InputSource, Options};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "kaoyomi-reader", version, about = "Kaoyomi face-authentication card reader firmware")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the reader.
    Run {
        /// Board file, or a built-in board: `sim` (default) or `sim-pcsc` (the card behind pcscd).
        #[arg(long)]
        board: Option<PathBuf>,
        /// State directory: device key, simulated card counters, terminal socket.
        #[arg(long, default_value = "/var/lib/kaoyomi")]
        state: PathBuf,
        /// Script of patient and staff actions (see the script module); without it, type them.
        #[arg(long)]
        script: Option<PathBuf>,
        /// Stop after the first session ended and the card was removed.
        #[arg(long)]
        once: bool,
    },
    /// Simulated cards.
    Sim {
        #[command(subcommand)]
        command: SimCmd,
    },
}

#[derive(Subcommand)]
enum SimCmd {
    /// List the personas and their test PINs.
    Personas,
    /// Write the test CA certificate (DER) that issued every simulated card.
    ExportCa {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Forget the simulated cards' retry counters (as if new cards were issued).
    ResetCards {
        /// State directory.
        #[arg(long)]
        state: PathBuf,
    },
}

fn main() -> Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .target(env_logger::Target::Stderr)
        .init();
    match Cli::parse().command {
        Cmd::Run { board, state, script, once } => {
            let board = match board {
                None => Board::sim(),
                Some(path) if path.as_os_str() == "sim" => Board::sim(),
                Some(path) if path.as_os_str() == "sim-pcsc" => Board::sim_pcsc(),
                Some(path) => Board::load(&path)?,
            };
            let input = match script {
                Some(path) => InputSource::Script(
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading script {}", path.display()))?
                        .lines()
                        .map(String::from)
                        .collect(),
                ),
                None => InputSource::Stdin,
            };
            let summary = kaoyomi_reader::run(Options { board, state, input, once, show_screens: true })?;
            log::info!("reader stopped: {} report(s) sent, {} lost", summary.reports_sent, summary.reports_lost);
        }
        Cmd::Sim { command: SimCmd::Personas } => {
            for p in persona::PERSONAS {
                let pin = p.auth_pin.unwrap_or("(none)");
                println!("{:<11} PIN {pin:<6} starts with {} tries: {}", p.id, p.initial_auth_tries, p.about);
            }
        }
        Cmd::Sim { command: SimCmd::ExportCa { out } } => {
            std::fs::write(&out, pki::ca_certificate()?).with_context(|| format!("writing {}", out.display()))?;
        }
        Cmd::Sim { command: SimCmd::ResetCards { state } } => CounterStore::new(state.join("sim-cards")).reset()?,
    }
    Ok(())
}
