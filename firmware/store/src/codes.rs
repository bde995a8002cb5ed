//! The codes the database holds: one fixed spelling for every operation, error, method and
//! outcome. Changing a spelling changes what old records mean: add codes, never respell them.

use kaoyomi_core::{CardProblem, LogEntry};
use kaoyomi_protocol::{AuthMethod, CancelReason, Outcome, TokenKind};

/// An operation-log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// What core reported about a session.
    Core(LogEntry),
    /// The reader started.
    ReaderStarted,
    /// The reader is stopping (asked to, not crashed).
    ReaderStopping,
    /// Old records were purged (the retention setting).
    Purged {
        /// How many.
        records: u64,
    },
    /// Someone logged in to the maintenance menu.
    MaintenanceStarted(Role),
    /// The maintenance menu was left (logged out, or its idle time-out).
    MaintenanceEnded(Role),
    /// A maintenance login was refused (wrong password); the value is the failures in a row.
    LoginRefused {
        /// Which account.
        role: Role,
        /// Failures in a row, this one included.
        failures: u32,
    },
    /// A maintenance account's password was changed.
    PasswordChanged(Role),
    /// The settings changed; the value is their new version.
    SettingsChanged {
        /// Where the change came from.
        source: SettingsSource,
        /// The new version.
        version: u32,
    },
    /// The settings were exported as a signed file; the value is their version.
    SettingsExported {
        /// The version exported.
        version: u32,
    },
    /// The logs and statistics were exported (to the terminal or a file).
    LogsExported,
    /// The database was set aside by the engineer and a fresh one started (recovery).
    DatabaseReset,
    /// The self-tests ran on the maintenance menu; the value is how many parts failed.
    SelfTest {
        /// Parts that failed.
        failed: u32,
    },
}

/// The maintenance menu's two accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The field engineer (保守): every page, settings from the terminal, recovery.
    Engineer,
    /// The facility's administrator: settings, logs and statistics, self-tests.
    FacilityAdmin,
}

impl Role {
    /// Both, in the order a login page offers them.
    pub const ALL: [Role; 2] = [Role::Engineer, Role::FacilityAdmin];

    /// The account's code.
    pub fn code(self) -> &'static str {
        match self {
            Role::Engineer => "engineer",
            Role::FacilityAdmin => "facility-admin",
        }
    }

    /// The role from its code.
    pub fn from_code(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// Where a settings change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsSource {
    /// The maintenance menu, by this role.
    Menu(Role),
    /// A signed settings file imported on the maintenance menu, by this role.
    Import(Role),
    /// The paired terminal, logged in as the engineer.
    Terminal,
}

impl SettingsSource {
    /// The source's code.
    pub fn code(self) -> &'static str {
        match self {
            SettingsSource::Menu(Role::Engineer) => "menu:engineer",
            SettingsSource::Menu(Role::FacilityAdmin) => "menu:facility-admin",
            SettingsSource::Import(Role::Engineer) => "import:engineer",
            SettingsSource::Import(Role::FacilityAdmin) => "import:facility-admin",
            SettingsSource::Terminal => "terminal",
        }
    }
}

impl Operation {
    /// The record's code.
    pub fn code(&self) -> &'static str {
        match self {
            Operation::ReaderStarted => "reader-started",
            Operation::ReaderStopping => "reader-stopping",
            Operation::Purged { .. } => "purged",
            Operation::MaintenanceStarted(Role::Engineer) => "maintenance-started:engineer",
            Operation::MaintenanceStarted(Role::FacilityAdmin) => "maintenance-started:facility-admin",
            Operation::MaintenanceEnded(Role::Engineer) => "maintenance-ended:engineer",
            Operation::MaintenanceEnded(Role::FacilityAdmin) => "maintenance-ended:facility-admin",
            Operation::LoginRefused { role: Role::Engineer, .. } => "login-refused:engineer",
            Operation::LoginRefused { role: Role::FacilityAdmin, .. } => "login-refused:facility-admin",
            Operation::PasswordChanged(Role::Engineer) => "password-changed:engineer",
            Operation::PasswordChanged(Role::FacilityAdmin) => "password-changed:facility-admin",
            Operation::SettingsChanged { source, .. } => match source {
                SettingsSource::Menu(Role::Engineer) => "settings-changed:menu:engineer",
                SettingsSource::Menu(Role::FacilityAdmin) => "settings-changed:menu:facility-admin",
                SettingsSource::Import(Role::Engineer) => "settings-changed:import:engineer",
                SettingsSource::Import(Role::FacilityAdmin) => "settings-changed:import:facility-admin",
                SettingsSource::Terminal => "settings-changed:terminal",
            },
            Operation::SettingsExported { .. } => "settings-exported",
            Operation::LogsExported => "logs-exported",
            Operation::DatabaseReset => "database-reset",
            Operation::SelfTest { .. } => "self-test",
            Operation::Core(entry) => match entry {
                LogEntry::SessionArmed => "session-armed",
                LogEntry::CardAccepted(TokenKind::Card) => "card-accepted",
                LogEntry::CardAccepted(TokenKind::AndroidPhone) => "phone-accepted:android",
                LogEntry::CardAccepted(TokenKind::IPhone) => "phone-accepted:iphone",
                LogEntry::CardRejected(CardProblem::NotMyNumberCard) => "card-rejected:not-my-number-card",
                LogEntry::CardRejected(CardProblem::Expired) => "card-rejected:expired",
                LogEntry::CardRejected(CardProblem::BadAnswer) => "card-rejected:bad-answer",
                LogEntry::CardRejected(CardProblem::NoAnswer) => "card-rejected:no-answer",
                LogEntry::PinWrong { .. } => "pin-wrong",
                LogEntry::VisualMode(true) => "visual-mode:on",
                LogEntry::VisualMode(false) => "visual-mode:off",
                LogEntry::SessionEnded { .. } => "session-ended",
                LogEntry::TerminalLost => "terminal-lost",
                LogEntry::PresentationAttack => "presentation-attack",
            },
        }
    }

    /// The number that goes with it, if any.
    pub fn value(&self) -> Option<i64> {
        match self {
            Operation::Core(LogEntry::PinWrong { tries_left }) => Some(i64::from(*tries_left)),
            Operation::Purged { records } => Some(i64::try_from(*records).unwrap_or(i64::MAX)),
            Operation::LoginRefused { failures, .. } | Operation::SelfTest { failed: failures } => {
                Some(i64::from(*failures))
            }
            Operation::SettingsChanged { version, .. } | Operation::SettingsExported { version } => {
                Some(i64::from(*version))
            }
            _ => None,
        }
    }
}

/// The session table's method code.
pub(crate) fn method(method: Option<AuthMethod>) -> Option<&'static str> {
    method.map(|m| match m {
        AuthMethod::Face => "face",
        AuthMethod::Pin => "pin",
        AuthMethod::Visual => "visual",
    })
}

/// The session table's outcome code.
pub(crate) fn outcome(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Verified => "verified",
        Outcome::NotVerified => "not-verified",
        Outcome::Cancelled(CancelReason::Terminal) => "cancelled:terminal",
        Outcome::Cancelled(CancelReason::Staff) => "cancelled:staff",
        Outcome::Cancelled(CancelReason::PatientTimeout) => "cancelled:patient-timeout",
        Outcome::Cancelled(CancelReason::Patient) => "cancelled:patient",
        Outcome::Cancelled(CancelReason::CardUnusable) => "cancelled:card-unusable",
    }
}

/// An error-log code, with what it means for the engineer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The card reader (PC/SC) went away.
    CardReaderLost,
    /// The face camera stopped delivering frames.
    FaceCameraLost,
    /// The card camera stopped delivering frames.
    CardCameraLost,
    /// The terminal's link dropped during a session.
    TerminalLinkLost,
    /// The terminal sent something the protocol does not allow.
    TerminalBadInput,
    /// The log database was corrupt: moved aside and made again.
    DatabaseRecovered,
    /// Too many wrong maintenance passwords in a row: the login is locked for a while.
    MaintenanceLockedOut,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 7] = [
        ErrorCode::CardReaderLost,
        ErrorCode::FaceCameraLost,
        ErrorCode::CardCameraLost,
        ErrorCode::TerminalLinkLost,
        ErrorCode::TerminalBadInput,
        ErrorCode::DatabaseRecovered,
        ErrorCode::MaintenanceLockedOut,
    ];

    /// The code as recorded and shown (`E` and three digits: 1xx devices, 3xx terminal link,
    /// 6xx storage, 7xx security).
    pub fn code(self) -> &'static str {
        match self {
            ErrorCode::CardReaderLost => "E101",
            ErrorCode::FaceCameraLost => "E102",
            ErrorCode::CardCameraLost => "E103",
            ErrorCode::TerminalLinkLost => "E301",
            ErrorCode::TerminalBadInput => "E302",
            ErrorCode::DatabaseRecovered => "E601",
            ErrorCode::MaintenanceLockedOut => "E701",
        }
    }

    /// What happened and what to do, in an engineer's words.
    pub fn advice(self) -> &'static str {
        match self {
            ErrorCode::CardReaderLost => {
                "The card reader stopped answering. Check its cable; if it recurs, run the card reader self-test."
            }
            ErrorCode::FaceCameraLost => {
                "The face camera stopped sending pictures. Check its cable; patients can still use the PIN or staff's visual check."
            }
            ErrorCode::CardCameraLost => {
                "The card camera stopped sending pictures. Check its cable; the face check cannot open the card photo meanwhile."
            }
            ErrorCode::TerminalLinkLost => {
                "The terminal's USB link dropped during a session. Check the cable and the terminal software."
            }
            ErrorCode::TerminalBadInput => {
                "The terminal sent a message the protocol does not allow; the reader refused it. Check the terminal software's version."
            }
            ErrorCode::DatabaseRecovered => {
                "The log database was damaged (often after a power cut): it was moved aside and a new one started. Older logs are in the moved file."
            }
            ErrorCode::MaintenanceLockedOut => {
                "Too many wrong maintenance passwords in a row: logins are refused for a while, longer after each further failure. If nobody at the facility was trying, someone may be guessing the password."
            }
        }
    }

    /// What happened and what to do, in a Japanese field engineer's words (the exports for the
    /// terminal carry this one).
    pub fn advice_ja(self) -> &'static str {
        match self {
            ErrorCode::CardReaderLost => {
                "カードリーダーが応答しなくなりました。ケーブルを確認し、繰り返す場合はカードリーダーの自己診断を行ってください。"
            }
            ErrorCode::FaceCameraLost => {
                "顔認証カメラの映像が止まりました。ケーブルを確認してください。その間も暗証番号と目視確認は使えます。"
            }
            ErrorCode::CardCameraLost => {
                "券面カメラの映像が止まりました。ケーブルを確認してください。その間は顔認証でカードの顔写真を開けません。"
            }
            ErrorCode::TerminalLinkLost => {
                "受付中に端末とのUSB接続が切れました。ケーブルと端末のソフトウェアを確認してください。"
            }
            ErrorCode::TerminalBadInput => {
                "端末から規約にない通信があり、リーダーは拒否しました。端末ソフトウェアの版を確認してください。"
            }
            ErrorCode::DatabaseRecovered => {
                "ログのデータベースが壊れていたため（停電の後など）、別名で保存して新しく作り直しました。古いログは保存したファイルにあります。"
            }
            ErrorCode::MaintenanceLockedOut => {
                "メンテナンスのパスワードの誤りが続いたため、ログインをしばらく止めています。施設の誰も試していない場合は、不正なログインの試みの可能性があります。"
            }
        }
    }

    /// The code from its recorded spelling.
    pub fn from_code(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.code() == code)
    }
}
