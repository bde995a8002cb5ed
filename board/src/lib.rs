//! Board files: which implementation each device of the reader uses on a given board.
//!
//! One firmware binary serves every board; the board file (TOML) picks real or simulated devices at
//! run time. `board/sim.toml` is the simulated board that `cargo xtask demo` runs.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The simulated board, built in.
pub const SIM_BOARD: &str = include_str!("../sim.toml");
/// The simulated board whose card sits behind pcscd.
pub const SIM_PCSC_BOARD: &str = include_str!("../sim-pcsc.toml");
/// The simulated board with the simulated face camera.
pub const SIM_FACE_BOARD: &str = include_str!("../sim-face.toml");

/// A board description.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Board name (reported to the terminal).
    pub name: String,
    /// The NFC card reader.
    pub card: CardDevice,
    /// The face camera (absent: the face check is not offered).
    #[serde(default)]
    pub face: FaceDevice,
    /// The card-surface camera that reads 照合番号B (absent: the face check is not offered, the
    /// card photo cannot be opened). Uses the face camera's model directory.
    #[serde(default)]
    pub card_camera: CardCameraDevice,
    /// The link to the terminal.
    pub terminal: TerminalLink,
}

/// Card reader choice.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CardDevice {
    /// The virtual My Number card in a simulated slot; `persona` is placed at start if given.
    Sim {
        /// Persona to place at start.
        #[serde(default)]
        persona: Option<String>,
    },
    /// A PC/SC reader through pcscd, chosen by a name pattern.
    Pcsc {
        /// Substring of the reader name.
        reader: String,
        /// Control socket of a `kaoyomi-cardsim` behind this reader (simulated boards only): where
        /// scripted `insert`/`remove` go. Relative paths are under the state directory.
        #[serde(default)]
        sim_control: Option<PathBuf>,
    },
}

/// Face camera choice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FaceDevice {
    /// No face camera on this board.
    #[default]
    None,
    /// A V4L2 2.5D camera: three capture nodes of one module, registered to each other.
    V4l2 {
        /// The visible stream's node (`GREY` or `YUYV`).
        device: PathBuf,
        /// The infrared stream's node (`GREY`, lit by the reader's IR LEDs). Without it and
        /// `depth` the face check is not offered: nothing would tell a photograph from a face.
        #[serde(default)]
        infrared: Option<PathBuf>,
        /// The depth stream's node (`Z16`, millimetres).
        #[serde(default)]
        depth: Option<PathBuf>,
        /// The model directory (`cargo xtask models`); relative paths are under the working directory.
        #[serde(default = "default_models")]
        models: PathBuf,
    },
    /// The simulated 2.5D camera (public-domain portraits at the counter, live or as attacks).
    Sim {
        /// Who stands at the counter at start (`holder`, `stranger`, `nobody`, `dark`, `unplugged`,
        /// or an attack: `photo-of-holder`, `screen-of-holder`, `replay-of-holder`, `card-front`,
        /// `mask-of-holder`).
        #[serde(default = "default_scene")]
        scene: String,
        /// The model directory (`cargo xtask models`); relative paths are under the working directory.
        #[serde(default = "default_models")]
        models: PathBuf,
    },
}

/// Card-surface camera choice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CardCameraDevice {
    /// No card camera on this board.
    #[default]
    None,
    /// A V4L2 camera.
    V4l2 {
        /// Device node.
        device: PathBuf,
    },
    /// The simulated card camera (the inserted persona's card front; a script's `slot VIEW`
    /// changes what it sees).
    Sim,
}

fn default_models() -> PathBuf {
    PathBuf::from("/usr/share/kaoyomi/models")
}

fn default_scene() -> String {
    "holder".into()
}

/// Terminal link choice.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TerminalLink {
    /// A Unix socket (sim board); relative paths are under the state directory.
    Socket {
        /// Socket path.
        path: PathBuf,
    },
    /// The USB gadget (device boards).
    UsbGadget {
        /// A FunctionFS that a privileged set-up (`kaoyomi-reader usb-gadget setup`) mounted for
        /// the reader's user. Without it the reader makes the gadget itself, which needs root.
        #[serde(default)]
        functionfs: Option<PathBuf>,
    },
}

/// Board file errors.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// The file could not be read.
    #[error("cannot read board file {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not a valid board description.
    #[error("board file {path} is invalid: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Board {
    /// Parses board TOML.
    pub fn parse(text: &str, origin: &Path) -> Result<Board, BoardError> {
        toml::from_str(text).map_err(|e| BoardError::Invalid { path: origin.to_path_buf(), message: e.to_string() })
    }

    /// Loads a board file.
    pub fn load(path: &Path) -> Result<Board, BoardError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| BoardError::Read { path: path.to_path_buf(), source })?;
        Board::parse(&text, path)
    }

    /// The simulated devices this board names (a device build of the reader refuses each, by
    /// these words): empty for a device's board.
    pub fn simulated_devices(&self) -> Vec<&'static str> {
        let mut sim = Vec::new();
        match &self.card {
            CardDevice::Sim { .. } => sim.push("card reader (card kind \"sim\")"),
            CardDevice::Pcsc { sim_control: Some(_), .. } => sim.push("card behind pcscd (`sim_control`)"),
            CardDevice::Pcsc { sim_control: None, .. } => {}
        }
        if matches!(self.face, FaceDevice::Sim { .. }) {
            sim.push("face camera");
        }
        if self.card_camera == CardCameraDevice::Sim {
            sim.push("card camera");
        }
        sim
    }

    /// The built-in simulated board with the card behind the real pcscd (kaoyomi-cardsim + vpcd).
    pub fn sim_pcsc() -> Board {
        Board::parse(SIM_PCSC_BOARD, Path::new("board/sim-pcsc.toml")).expect("built-in sim-pcsc board parses")
    }

    /// The built-in simulated board with the face camera.
    pub fn sim_face() -> Board {
        Board::parse(SIM_FACE_BOARD, Path::new("board/sim-face.toml")).expect("built-in sim-face board parses")
    }

    /// The built-in simulated board.
    pub fn sim() -> Board {
        // The built-in file is checked by a test; a broken one is a build bug.
        Board::parse(SIM_BOARD, Path::new("board/sim.toml")).expect("built-in sim board parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_board_parses() {
        let board = Board::sim();
        assert_eq!(board.name, "sim");
        assert_eq!(board.card, CardDevice::Sim { persona: None });
        assert_eq!(board.face, FaceDevice::None);
        assert_eq!(Board::sim_face().face, FaceDevice::Sim { scene: "holder".into(), models: "target/models".into() });
        assert_eq!(Board::sim_face().card_camera, CardCameraDevice::Sim);
        assert_eq!(board.card_camera, CardCameraDevice::None);
        let pcsc = Board::sim_pcsc();
        assert!(
            matches!(pcsc.card, CardDevice::Pcsc { ref reader, sim_control: Some(_) } if reader == "Virtual PCD 00 00")
        );
    }

    #[test]
    fn every_board_file_in_the_tree_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        for name in [
            "qemu-virt.toml",
            "qemu-virt/rig-socket.toml",
            "qemu-virt/rig-usb.toml",
            "rk3399.toml",
            "sim.toml",
            "sim-pcsc.toml",
            "sim-face.toml",
        ] {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).expect("board file");
            let board = Board::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"));
            if name == "qemu-virt.toml" || name == "rk3399.toml" {
                // Device boards hand the gadget's FunctionFS to the unprivileged reader and name
                // nothing simulated (their reader is built without the simulator).
                assert_eq!(board.terminal, TerminalLink::UsbGadget { functionfs: Some("/run/kaoyomi-usb".into()) });
                assert_eq!(board.simulated_devices(), Vec::<&str>::new(), "{name}");
            } else {
                assert!(!board.simulated_devices().is_empty(), "{name} is a simulated board");
            }
        }
        let plain = Board::parse("name = \"x\"\n[card]\nkind = \"sim\"\n[terminal]\nkind = \"usb-gadget\"\n", dir)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plain.terminal, TerminalLink::UsbGadget { functionfs: None });
    }

    #[test]
    fn bad_board_files_say_what_is_wrong() {
        let err = Board::parse("name = \"x\"\n[card]\nkind = \"nfc-magic\"\n", Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("x.toml"), "{err}");
        let err = Board::parse("name = \"x\"\n", Path::new("y.toml")).unwrap_err();
        assert!(err.to_string().contains("card"), "{err}");
    }
}
