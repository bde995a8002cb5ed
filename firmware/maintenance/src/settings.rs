//! The reader's settings: what a facility or its engineer may change, each value validated
//! (a bad value is refused with the field and the reason), every change a new version in the
//! database, and a signed file to export them and import them again (on this reader, or by the
//! engineer on another one).

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use kaoyomi_store::{Role, SettingsSource, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How sure the face check must be (the calibrated false match rates of `kaoyomi-vision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaceAccuracy {
    /// One false match in 1,000 impostor sessions.
    Relaxed,
    /// One in 10,000 (the default).
    Standard,
    /// One in 100,000.
    Strict,
}

/// The encoding of the text the reader writes for the terminal (log and statistics exports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputEncoding {
    /// UTF-8.
    Utf8,
    /// Shift_JIS (Windows-31J), for older receipt systems.
    ShiftJis,
}

/// The layout of the staff display's USB keyboard, which decides what its keys type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyboardLayout {
    /// The Japanese 106/109-key keyboard (the default).
    #[default]
    Jis,
    /// The American 101/104-key keyboard.
    Us,
}

/// A language the patient screens offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Language {
    /// 日本語 (always offered).
    #[serde(rename = "ja")]
    Japanese,
    /// English.
    #[serde(rename = "en")]
    English,
    /// 简体中文.
    #[serde(rename = "zh_CN")]
    Chinese,
    /// 한국어.
    #[serde(rename = "ko")]
    Korean,
    /// Tiếng Việt.
    #[serde(rename = "vi")]
    Vietnamese,
    /// Português (Brasil).
    #[serde(rename = "pt_BR")]
    Portuguese,
}

impl Language {
    /// Every language the screens have, in the top bar's order.
    pub const ALL: [Language; 6] = [
        Language::Japanese,
        Language::English,
        Language::Chinese,
        Language::Korean,
        Language::Vietnamese,
        Language::Portuguese,
    ];

    /// The catalogue's code (`ja`, `en`, `zh_CN`, `ko`, `vi`, `pt_BR`).
    pub fn code(self) -> &'static str {
        match self {
            Language::Japanese => "ja",
            Language::English => "en",
            Language::Chinese => "zh_CN",
            Language::Korean => "ko",
            Language::Vietnamese => "vi",
            Language::Portuguese => "pt_BR",
        }
    }
}

/// A consent topic's wording in one language, as the facility words it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wording {
    /// The topic: `medical` (診療・薬剤情報), `checkup` (特定健診情報) or `limit` (限度額情報).
    pub topic: String,
    /// The language.
    pub language: Language,
    /// The text shown under the topic's title.
    pub text: String,
}

/// The consent topics a wording may name.
pub const TOPICS: [&str; 3] = ["medical", "checkup", "limit"];
/// The longest wording, in characters.
pub const MAX_WORDING: usize = 300;
/// The most lines of a wording.
pub const MAX_WORDING_LINES: usize = 8;

/// Everything a facility or its engineer may set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// How sure the face check must be.
    pub face_accuracy: FaceAccuracy,
    /// Whether staff's visual check (目視確認) is switched on when the reader starts.
    pub visual_check_default: bool,
    /// Seconds a patient screen waits for the patient.
    pub patient_timeout_s: u32,
    /// Seconds before that time-out the screen warns.
    pub timeout_warning_s: u32,
    /// Seconds the face check may take.
    pub face_timeout_s: u32,
    /// The facility's own consent wording, per topic and language (none: the standard text).
    pub consent_wording: Vec<Wording>,
    /// The languages the patient screens offer (Japanese always).
    pub languages: Vec<Language>,
    /// The encoding of the text written for the terminal.
    pub output_encoding: OutputEncoding,
    /// The staff keyboard's layout (settings saved before it existed read as JIS).
    #[serde(default)]
    pub keyboard_layout: KeyboardLayout,
    /// The speaker's volume, 0 (mute) to 10.
    pub volume: u8,
    /// The screens' brightness, in percent (20 to 100).
    pub brightness: u8,
    /// Days the logs and statistics are kept.
    pub log_retention_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            face_accuracy: FaceAccuracy::Standard,
            visual_check_default: false,
            patient_timeout_s: 60,
            timeout_warning_s: 15,
            face_timeout_s: 60,
            consent_wording: Vec::new(),
            languages: Language::ALL.to_vec(),
            output_encoding: OutputEncoding::Utf8,
            keyboard_layout: KeyboardLayout::Jis,
            volume: 6,
            brightness: 80,
            log_retention_days: 90,
        }
    }
}

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Outside the allowed range.
    OutOfRange {
        /// The smallest allowed.
        min: u32,
        /// The largest allowed.
        max: u32,
    },
    /// The warning must come before the time-out.
    WarningNotBeforeTimeout,
    /// Japanese must always be offered.
    JapaneseRequired,
    /// A language named twice.
    Duplicate,
    /// A wording for a topic that does not exist.
    UnknownTopic,
    /// A wording in a language the screens do not offer.
    LanguageNotOffered,
    /// A wording that is empty.
    Empty,
    /// A wording longer than [`MAX_WORDING`] characters or [`MAX_WORDING_LINES`] lines.
    TooLong,
    /// A wording with control characters (other than line breaks).
    ControlCharacters,
    /// The settings as a whole are larger than [`MAX_SETTINGS_BYTES`] (too much wording to send
    /// to or from the terminal in one message).
    TooLarge,
}

/// The largest settings (compact JSON): a settings file then fits in one protocol frame.
pub const MAX_SETTINGS_BYTES: usize = 8 * 1024;

/// One refused value: the field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The field (`patient-timeout-s`, `consent-wording[2]`, …).
    pub field: String,
    /// Why.
    pub reason: Reason,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reason {
            Reason::OutOfRange { min, max } => write!(f, "{}: must be from {min} to {max}", self.field),
            Reason::WarningNotBeforeTimeout => {
                write!(f, "{}: the warning must come at least 5 s before the time-out", self.field)
            }
            Reason::JapaneseRequired => write!(f, "{}: Japanese is always offered", self.field),
            Reason::Duplicate => write!(f, "{}: a language named twice", self.field),
            Reason::UnknownTopic => write!(f, "{}: the topic must be one of {}", self.field, TOPICS.join(", ")),
            Reason::LanguageNotOffered => write!(f, "{}: a wording in a language the screens do not offer", self.field),
            Reason::Empty => write!(f, "{}: the wording is empty", self.field),
            Reason::TooLong => write!(
                f,
                "{}: the wording is longer than {MAX_WORDING} characters or {MAX_WORDING_LINES} lines",
                self.field
            ),
            Reason::ControlCharacters => write!(f, "{}: the wording holds control characters", self.field),
            Reason::TooLarge => {
                write!(
                    f,
                    "{}: the settings are larger than {MAX_SETTINGS_BYTES} bytes (shorten the wording)",
                    self.field
                )
            }
        }
    }
}

fn range(out: &mut Vec<Refusal>, field: &str, value: u32, min: u32, max: u32) {
    if !(min..=max).contains(&value) {
        out.push(Refusal { field: field.into(), reason: Reason::OutOfRange { min, max } });
    }
}

impl Settings {
    /// Every value checked; the refusals, in the fields' order (empty: valid).
    pub fn problems(&self) -> Vec<Refusal> {
        let mut out = Vec::new();
        range(&mut out, "patient-timeout-s", self.patient_timeout_s, 20, 300);
        range(&mut out, "timeout-warning-s", self.timeout_warning_s, 5, 60);
        if self.timeout_warning_s.saturating_add(5) > self.patient_timeout_s {
            out.push(Refusal { field: "timeout-warning-s".into(), reason: Reason::WarningNotBeforeTimeout });
        }
        range(&mut out, "face-timeout-s", self.face_timeout_s, 20, 180);
        for (i, w) in self.consent_wording.iter().enumerate() {
            let field = format!("consent-wording[{i}]");
            let reason = if !TOPICS.contains(&w.topic.as_str()) {
                Some(Reason::UnknownTopic)
            } else if !self.languages.contains(&w.language) {
                Some(Reason::LanguageNotOffered)
            } else if w.text.trim().is_empty() {
                Some(Reason::Empty)
            } else if w.text.chars().count() > MAX_WORDING || w.text.lines().count() > MAX_WORDING_LINES {
                Some(Reason::TooLong)
            } else if w.text.chars().any(|c| c.is_control() && c != '\n') {
                Some(Reason::ControlCharacters)
            } else if self.consent_wording[..i].iter().any(|o| o.topic == w.topic && o.language == w.language) {
                Some(Reason::Duplicate)
            } else {
                None
            };
            if let Some(reason) = reason {
                out.push(Refusal { field, reason });
            }
        }
        if !self.languages.contains(&Language::Japanese) {
            out.push(Refusal { field: "languages".into(), reason: Reason::JapaneseRequired });
        }
        if (1..self.languages.len()).any(|i| self.languages[..i].contains(&self.languages[i])) {
            out.push(Refusal { field: "languages".into(), reason: Reason::Duplicate });
        }
        range(&mut out, "volume", u32::from(self.volume), 0, 10);
        range(&mut out, "brightness", u32::from(self.brightness), 20, 100);
        range(&mut out, "log-retention-days", self.log_retention_days, 30, 1825);
        if serde_json::to_vec(self).map_or(true, |v| v.len() > MAX_SETTINGS_BYTES) {
            out.push(Refusal { field: "consent-wording".into(), reason: Reason::TooLarge });
        }
        out
    }

    /// The facility's wording for `topic` in `language`, if it set one.
    pub fn wording(&self, topic: &str, language: Language) -> Option<&str> {
        self.consent_wording.iter().find(|w| w.topic == topic && w.language == language).map(|w| w.text.as_str())
    }
}

/// The settings in force and their version (0: the defaults, never changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// Their version.
    pub version: u32,
    /// The settings.
    pub settings: Settings,
}

/// Why settings were not changed.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Values refused.
    #[error("refused: {}", .0.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Refusal>),
    /// The facility administrator may not change this (the engineer's settings: accuracy).
    #[error("only the engineer may change {0}")]
    EngineerOnly(&'static str),
    /// The database could not record them (nothing changed).
    #[error("the settings could not be stored: {0}")]
    Store(#[from] StoreError),
}

/// The settings in force: the newest stored version, or the defaults (a version that cannot be
/// read, from a damaged or foreign file, is reported and the defaults used).
pub fn load(store: &Store) -> Current {
    match store.settings() {
        Ok(Some(record)) => match serde_json::from_str::<Settings>(&record.body) {
            Ok(settings) if settings.problems().is_empty() => Current { version: record.version, settings },
            Ok(_) | Err(_) => {
                log::error!("the stored settings (version {}) are not valid: the defaults are used", record.version);
                Current { version: record.version, settings: Settings::default() }
            }
        },
        Ok(None) => Current { version: 0, settings: Settings::default() },
        Err(e) => {
            log::warn!("reading the settings: {e}; the defaults are used");
            Current { version: 0, settings: Settings::default() }
        }
    }
}

/// Stores `new` as the next version after `current`, if valid and `source` may change what
/// differs; returns the settings now in force.
pub fn change(
    store: &mut Store,
    now_ms: i64,
    source: SettingsSource,
    current: &Current,
    new: Settings,
) -> Result<Current, SettingsError> {
    let problems = new.problems();
    if !problems.is_empty() {
        return Err(SettingsError::Invalid(problems));
    }
    if matches!(source, SettingsSource::Menu(Role::FacilityAdmin) | SettingsSource::Import(Role::FacilityAdmin))
        && new.face_accuracy != current.settings.face_accuracy
    {
        return Err(SettingsError::EngineerOnly("face-accuracy"));
    }
    let version = current.version + 1;
    let body = serde_json::to_string(&new).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    store.put_settings(now_ms, source, version, &body)?;
    Ok(Current { version, settings: new })
}

/// The signed settings file's format name.
pub const FORMAT: &str = "kaoyomi-settings";
/// The largest settings file read.
pub const MAX_FILE: usize = 64 * 1024;
const CONTEXT: &[u8] = b"kaoyomi settings file v1\0";

/// What a settings file signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Body {
    format: String,
    format_version: u32,
    device_id: String,
    version: u32,
    exported_at_ms: i64,
    settings: Settings,
}

/// A settings file: the body, the exporting reader's public key and its signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    body: Body,
    key: String,
    signature: String,
}

/// The settings as a file signed with the device key (JSON, readable by a person).
pub fn export(key: &SigningKey, device_id: &str, current: &Current, now_ms: i64) -> Vec<u8> {
    let body = Body {
        format: FORMAT.into(),
        format_version: 1,
        device_id: device_id.into(),
        version: current.version,
        exported_at_ms: now_ms,
        settings: current.settings.clone(),
    };
    let signed = signed_bytes(&body);
    let signature = key.sign(&signed);
    let file =
        File { body, key: hex::encode(key.verifying_key().as_bytes()), signature: hex::encode(signature.to_bytes()) };
    let mut out = serde_json::to_vec_pretty(&file).unwrap_or_default();
    out.push(b'\n');
    out
}

fn signed_bytes(body: &Body) -> Vec<u8> {
    let mut signed = CONTEXT.to_vec();
    signed.extend(serde_json::to_vec(body).unwrap_or_default());
    signed
}

/// A settings file read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The reader that exported it.
    pub device_id: String,
    /// Its version there.
    pub version: u32,
    /// Whether it was exported by this reader.
    pub from_this_reader: bool,
    /// The settings.
    pub settings: Settings,
}

/// Why a settings file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Larger than [`MAX_FILE`].
    #[error("the file is larger than {MAX_FILE} bytes: not a settings file")]
    TooLarge,
    /// Not a settings file at all.
    #[error("not a Kaoyomi settings file: {0}")]
    NotSettings(String),
    /// A format this firmware does not know.
    #[error("a settings file of format version {0}, which this firmware does not know")]
    UnknownFormat(u32),
    /// The signature does not match: the file was changed after it was exported.
    #[error("the file's signature does not match its contents: it was changed after it was exported")]
    BadSignature,
    /// Exported by another reader, and only the engineer may copy settings between readers.
    #[error("the file was exported by another reader ({0}): only the engineer may import it")]
    OtherReader(String),
    /// Its values are not valid here.
    #[error("the file's settings are refused: {0}")]
    Invalid(String),
}

/// Reads a settings file for `role` on the reader whose key is `own`.
pub fn import(bytes: &[u8], own: &VerifyingKey, role: Role) -> Result<Imported, ImportError> {
    if bytes.len() > MAX_FILE {
        return Err(ImportError::TooLarge);
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ImportError::NotSettings(e.to_string()))?;
    let format = value.pointer("/body/format").and_then(|v| v.as_str());
    if format != Some(FORMAT) {
        return Err(ImportError::NotSettings("no settings body".into()));
    }
    let format_version = value.pointer("/body/format-version").and_then(|v| v.as_u64()).unwrap_or(0);
    if format_version != 1 {
        return Err(ImportError::UnknownFormat(u32::try_from(format_version).unwrap_or(u32::MAX)));
    }
    let file: File = serde_json::from_value(value).map_err(|e| ImportError::NotSettings(e.to_string()))?;
    let key_bytes: [u8; 32] = hex::decode(&file.key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ImportError::NotSettings("the key is not an Ed25519 public key".into()))?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| ImportError::BadSignature)?;
    let sig_bytes: [u8; 64] =
        hex::decode(&file.signature).ok().and_then(|b| b.try_into().ok()).ok_or(ImportError::BadSignature)?;
    key.verify(&signed_bytes(&file.body), &Signature::from_bytes(&sig_bytes)).map_err(|_| ImportError::BadSignature)?;
    // The Device ID a file names is the one its key gives: a file cannot claim to come from a
    // reader whose key did not sign it.
    if file.body.device_id != kaoyomi_protocol::serial_for(&key_bytes) {
        return Err(ImportError::BadSignature);
    }
    let from_this_reader = key == *own;
    if !from_this_reader && role != Role::Engineer {
        return Err(ImportError::OtherReader(file.body.device_id));
    }
    let problems = file.body.settings.problems();
    if !problems.is_empty() {
        return Err(ImportError::Invalid(problems.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("; ")));
    }
    Ok(Imported {
        device_id: file.body.device_id,
        version: file.body.version,
        from_this_reader,
        settings: file.body.settings,
    })
}

/// The settings' catalogue of fields (for the maintenance page and the terminal's view): each
/// field's name and its value as text.
pub fn fields(settings: &Settings) -> BTreeMap<&'static str, String> {
    let mut m = BTreeMap::new();
    let json = serde_json::to_value(settings).unwrap_or_default();
    for key in [
        "face-accuracy",
        "visual-check-default",
        "patient-timeout-s",
        "timeout-warning-s",
        "face-timeout-s",
        "languages",
        "output-encoding",
        "keyboard-layout",
        "volume",
        "brightness",
        "log-retention-days",
    ] {
        let v = json.get(key).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        m.insert(key, v.unwrap_or_default());
    }
    m
}
