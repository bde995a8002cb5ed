//! The reader's faces in Slint: the patient's 1920x1080 touch screen and the staff display.
//!
//! - [`view`] turns core's screen states ([`kaoyomi_core::ScreenState`]) into the screens'
//!   properties and the screens' taps into core's events; it shuffles the PIN pad from the
//!   operating system's CSPRNG at every entry.
//! - [`headless`] is a Slint platform drawing with the software renderer into memory (tests,
//!   `cargo xtask demo --screenshots`, the benchmark).
//! - `inspect` (feature `inspect`, host only) finds a sample screen's buttons for the QEMU test's
//!   taps.
//! - [`window`] runs the reader beside the windows (the event loop on the main thread).
//! - [`LANGUAGES`]: the patient's languages; the words are in `lang/<code>/LC_MESSAGES/kaoyomi-ui.po`
//!   (source text English), bundled into the binary by `build.rs` with the M+ font.

pub mod headless;
#[cfg(feature = "inspect")]
pub mod inspect;
#[cfg(feature = "kms")]
pub mod kms;
pub mod maintenance;
pub mod samples;
pub mod view;
pub mod window;
pub mod wording;

/// The code Slint generates from `ui/app.slint` (its items carry no docs of their own; the
/// Slint files document them).
#[allow(missing_docs, clippy::all, clippy::todo, clippy::unimplemented)]
mod generated {
    slint::include_modules!();
}
pub use generated::{
    DayBar, InfoRow, LogRow, MaintenanceDesk, MaintenancePage, PatientWindow, Prefs, ScreenKind, StaffWindow,
    StorageState, TestRow, TestVerdict, Theme, Words,
};

/// The patient's languages: code (as the translation bundle names it) and the language's own name.
pub const LANGUAGES: &[(&str, &str)] = &[
    ("ja", "日本語"),
    ("en", "English"),
    ("zh_CN", "中文"),
    ("ko", "한국어"),
    ("vi", "Tiếng Việt"),
    ("pt_BR", "Português"),
];

/// Selects the patient's language (a code of [`LANGUAGES`]) for every window of this process.
pub fn select_language(code: &str) -> anyhow::Result<()> {
    if !LANGUAGES.iter().any(|(c, _)| *c == code) {
        anyhow::bail!("unknown language {code:?}");
    }
    slint::select_bundled_translation(code).map_err(|e| anyhow::anyhow!("language {code}: {e}"))
}
