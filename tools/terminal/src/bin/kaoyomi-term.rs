//! `kaoyomi-term`: the terminal's command line. Pairs with a reader (the code its staff display
//! shows), connects to a paired reader over the authenticated channel, runs a session and verifies
//! the result (reader signature with the pinned key, the request it answers, card signature,
//! certificate chain); prints it for people or as JSON.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use kaoyomi_protocol::{
    AuthMethod, ConsentRequest, ConsentTopic, Credential, LogKind, Notification, Outcome, PairingCode, Progress,
    Request, Response, SessionRequest,
};
use kaoyomi_terminal::verify::describe_certificate;
use kaoyomi_terminal::{CardSignature, ChainCheck, Client, Expected, Store, verify_report};
use rand_core::{OsRng, RngCore};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "kaoyomi-term", version, about = "Terminal-side client of the Kaoyomi reader")]
struct Cli {
    /// Socket of a simulated reader.
    #[arg(long, conflicts_with = "usb")]
    socket: Option<PathBuf>,
    /// A reader on USB: its serial number, or nothing for the only reader on the bus.
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    usb: Option<String>,
    /// How long to keep trying to connect, in seconds.
    #[arg(long, default_value_t = 10)]
    connect_timeout: u64,
    /// On USB: when the link goes down (cable pulled), wait up to --connect-timeout for the same
    /// reader to come back and run the command again (the interrupted session is cancelled).
    #[arg(long, requires = "usb")]
    reconnect: bool,
    /// Where this terminal keeps its key and its paired readers (default: the user's
    /// configuration directory, kaoyomi-term).
    #[arg(long)]
    store: Option<PathBuf>,
    /// This terminal's name, shown on the reader's staff display when pairing.
    #[arg(long, default_value = "kaoyomi-term")]
    name: String,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List the readers on the USB bus.
    Readers,
    /// Print the reader's identity (and whether it is paired with this terminal).
    Info,
    /// Pair with the reader: once connected, type the code its staff display shows.
    Pair {
        /// The six digits on the reader's staff display, when known before connecting (they are
        /// new at each connection: normally typed when asked).
        #[arg(long, conflicts_with = "code_from")]
        code: Option<String>,
        /// Read the code from this file once connected (a maintenance console that sees the
        /// reader's runtime directory, `/run/kaoyomi-reader/pairing-code`; the tests).
        #[arg(long)]
        code_from: Option<PathBuf>,
    },
    /// Forget the pairing with this reader, on both sides.
    Unpair,
    /// List the readers this terminal is paired with.
    Paired,
    /// Run one patient session and print the verified result.
    Session {
        /// Consents to ask: any of medical, checkup, limit (comma-separated), or none.
        #[arg(long, default_value = "medical,checkup,limit")]
        consents: String,
        /// The card is not registered yet: ask for 初回登録.
        #[arg(long)]
        register: bool,
        /// Trust anchor (DER certificate) for the card's certificate; repeatable.
        #[arg(long)]
        trust_anchor: Vec<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// The outcome expected, with the method if one decided: `verified:face`,
        /// `not-verified:visual`, `cancelled`. Exit 0 when the verified result matches, 3 when not.
        #[arg(long)]
        expect: Option<String>,
        /// Progress the session must pass through, in this order (comma-separated names:
        /// `checking-face,staff-needed`); checked with `--expect`.
        #[arg(long, default_value = "")]
        expect_progress: String,
    },
    /// Switch the staff visual check on or off.
    Visual {
        /// on or off.
        state: String,
    },
    /// Collect a log as CSV (in the reader's output encoding), every page of it.
    Logs {
        /// operations or errors.
        #[arg(long, default_value = "operations")]
        log: String,
        /// Write it here (otherwise to standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Collect the statistics per day as CSV (in the reader's output encoding).
    Stats {
        /// How many days, today included.
        #[arg(long, default_value_t = 30)]
        days: u16,
        /// Write it here (otherwise to standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Save the reader's settings as the file it signs.
    SettingsExport {
        /// Where to write the file.
        out: PathBuf,
    },
    /// Send a settings file to the reader, as its field engineer.
    SettingsImport {
        /// The settings file as `settings-export` made it (from this reader, or from another one
        /// to copy its settings; a file changed after export is refused).
        file: PathBuf,
        /// A file whose first line is the engineer's password (otherwise it is read from
        /// standard input).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

/// Writes `bytes` to `out`, or to standard output.
fn emit(out: &Option<PathBuf>, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    match out {
        Some(path) => std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display())),
        None => std::io::stdout().write_all(bytes).context("writing to standard output"),
    }
}

/// Retries `open` until it works or the connect time-out passes (a reader that is still starting).
fn retry<T>(cli: &Cli, what: &str, mut open: impl FnMut() -> std::io::Result<T>) -> Result<T> {
    let deadline = Instant::now() + Duration::from_secs(cli.connect_timeout);
    loop {
        match open() {
            Ok(t) => return Ok(t),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(e).with_context(|| format!("connecting to the reader {what}")),
        }
    }
}

fn consents(text: &str) -> Result<ConsentRequest> {
    let mut c = ConsentRequest::default();
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty() && *w != "none") {
        match word {
            "medical" => c.medical = true,
            "checkup" => c.checkup = true,
            "limit" => c.limit = true,
            other => bail!("unknown consent {other:?} (medical, checkup, limit)"),
        }
    }
    Ok(c)
}

fn topic_name(t: ConsentTopic) -> &'static str {
    match t {
        ConsentTopic::Medical => "medical",
        ConsentTopic::Checkup => "checkup",
        ConsentTopic::Limit => "limit",
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let store = match &cli.store {
        Some(dir) => Store::new(dir),
        None => Store::new(&Store::default_dir().context("no configuration directory: say where with --store")?),
    };
    if let Cmd::Readers = cli.command {
        for r in kaoyomi_terminal::usb::find_readers().context("listing USB devices")? {
            println!("{}  ({})", r.serial, r.location);
        }
        return Ok(());
    }
    if let Cmd::Paired = cli.command {
        for r in store.readers()? {
            println!("{}  (device key {})", r.serial, &hex::encode(r.device_key)[..16]);
        }
        return Ok(());
    }
    let key = store.key().context("the terminal's key")?;
    let t = Duration::from_secs(10);
    match (&cli.socket, &cli.usb) {
        (Some(path), _) => {
            let stream = retry(&cli, &format!("at {}", path.display()), || UnixStream::connect(path))?;
            command(&cli, Client::connect(stream, &key, &cli.name, t)?, &store)
        }
        (None, Some(serial)) => {
            use kaoyomi_terminal::usb::UsbLink;
            let serial = (!serial.is_empty()).then_some(serial.as_str());
            let mut link = retry(&cli, "on USB", || UsbLink::open(serial))?;
            loop {
                let reader = link.serial().to_string();
                match Client::connect(link, &key, &cli.name, t)
                    .map_err(anyhow::Error::from)
                    .and_then(|client| command(&cli, client, &store))
                {
                    Err(e)
                        if cli.reconnect
                            && e.downcast_ref::<kaoyomi_terminal::ClientError>().is_some_and(|c| c.is_link_lost()) =>
                    {
                        eprintln!("the USB link to reader {reader} went down ({e}): the session is cancelled");
                        eprintln!("waiting up to {} s for reader {reader} to come back", cli.connect_timeout);
                        link = UsbLink::reconnect(&reader, Duration::from_secs(cli.connect_timeout))?;
                        eprintln!("reader {reader} is back: starting again");
                    }
                    other => return other,
                }
            }
        }
        (None, None) => bail!("say how to reach the reader: --socket PATH or --usb [SERIAL]"),
    }
}

fn command<S: kaoyomi_terminal::client::Link>(cli: &Cli, mut client: Client<S>, store: &Store) -> Result<()> {
    let t = Duration::from_secs(10);
    let serial = client.reader_serial().to_string();
    let pinned = store.find(&serial)?;
    match (&cli.command, &pinned) {
        (Cmd::Pair { code, code_from }, _) => {
            let typed = match (code, code_from) {
                (Some(code), _) => code.clone(),
                (None, Some(path)) => {
                    let deadline = Instant::now() + Duration::from_secs(cli.connect_timeout);
                    loop {
                        match std::fs::read_to_string(path) {
                            Ok(text) if !text.trim().is_empty() => break text,
                            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                            Ok(_) => bail!("{} is empty", path.display()),
                            Err(e) => {
                                return Err(e).with_context(|| format!("reading the code from {}", path.display()));
                            }
                        }
                    }
                }
                (None, None) => {
                    eprint!("reader {serial}: type the six digits its staff display shows: ");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line
                }
            };
            let code =
                PairingCode::parse(&typed).context("the code is six digits, as the reader's staff display shows")?;
            let reader = client.pair(code, t)?;
            store.add(&reader)?;
            println!("paired with reader {} (device key {})", reader.serial, &hex::encode(reader.device_key)[..16]);
            return Ok(());
        }
        (Cmd::Info, None) => {
            let keys = client.reader_keys().context("no channel")?;
            println!("reader {serial} (not paired with this terminal)");
            println!("device key {}", hex::encode(keys.device_key));
            return Ok(());
        }
        (_, None) => return Err(kaoyomi_terminal::ClientError::NotPaired(serial).into()),
        (_, Some(pinned)) => client.check_pinned(pinned)?,
    }
    let device_key = pinned.map(|p| p.device_key).unwrap_or_default();
    match &cli.command {
        Cmd::Readers | Cmd::Paired | Cmd::Pair { .. } => {}
        Cmd::Unpair => {
            match client.request(Request::Unpair, t)? {
                Response::Ok => {}
                other => bail!("the reader answered {other:?} to unpairing"),
            }
            store.remove(&serial)?;
            println!("reader {serial} and this terminal are no longer paired");
        }
        Cmd::Info => {
            let info = client.device_info(t)?;
            println!(
                "reader {} (board {}, firmware {}, protocol {})",
                info.serial, info.board, info.firmware_version, info.protocol_version
            );
            println!("device key {}", hex::encode(info.device_key));
            println!("visual mode {}", if info.visual_mode { "on" } else { "off" });
        }
        Cmd::Logs { log, out } => {
            let kind = match log.as_str() {
                "operations" => LogKind::Operations,
                "errors" => LogKind::Errors,
                other => bail!("--log operations|errors, got {other:?}"),
            };
            let (mut all, mut after, mut pages) = (Vec::new(), 0u64, 0);
            loop {
                match client.request(Request::ExportLog { log: kind, after_id: after }, t)? {
                    Response::LogPage { csv, last_id, more, .. } => {
                        all.extend_from_slice(&csv);
                        pages += 1;
                        if !more || last_id == after {
                            break;
                        }
                        after = last_id;
                    }
                    other => bail!("the reader answered {other:?} to a log export"),
                }
            }
            emit(out, &all)?;
            eprintln!("{log} log of reader {serial}: {} bytes in {pages} page(s)", all.len());
        }
        Cmd::Stats { days, out } => match client.request(Request::ExportStatistics { days: *days }, t)? {
            Response::Statistics { csv, encoding } => {
                emit(out, &csv)?;
                eprintln!("statistics of reader {serial}: {days} days ({encoding:?})");
            }
            other => bail!("the reader answered {other:?} to a statistics export"),
        },
        Cmd::SettingsExport { out } => match client.request(Request::ExportSettings, t)? {
            Response::SettingsFile { version, file } => {
                emit(&Some(out.clone()), &file)?;
                println!("settings version {version} of reader {serial} written to {}", out.display());
            }
            other => bail!("the reader answered {other:?} to a settings export"),
        },
        Cmd::SettingsImport { file, password_file } => {
            let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let mut password = match password_file {
                Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
                None => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).context("reading the password")?;
                    line
                }
            };
            let credential =
                Credential { device_id: serial.clone(), password: password.lines().next().unwrap_or_default().into() };
            zeroize::Zeroize::zeroize(&mut password);
            match client.request(Request::ImportSettings { credential, file: bytes }, t)? {
                Response::SettingsChanged { version } => println!("reader {serial} now has settings version {version}"),
                Response::Error { code, message } => bail!("the reader refused the settings ({code:?}): {message}"),
                other => bail!("the reader answered {other:?} to a settings import"),
            }
        }
        Cmd::Visual { state } => {
            let enabled = match state.as_str() {
                "on" => true,
                "off" => false,
                other => bail!("visual on|off, got {other:?}"),
            };
            client.request(Request::SetVisualMode { enabled }, t)?;
            println!("visual mode {state}");
        }
        Cmd::Session { consents: wanted, register, trust_anchor, json, timeout, expect, expect_progress } => {
            let mut seen: Vec<&'static str> = Vec::new();
            let info = client.device_info(t)?;
            if info.device_key != device_key || info.serial != serial {
                bail!("reader {serial} describes itself with another key or serial than the one pinned: refusing it");
            }
            let anchors = trust_anchor
                .iter()
                .map(|p| std::fs::read(p).with_context(|| format!("reading trust anchor {}", p.display())))
                .collect::<Result<Vec<_>>>()?;
            let mut nonce = [0u8; 32];
            OsRng.fill_bytes(&mut nonce);
            let request = SessionRequest { nonce, consents: consents(wanted)?, registration_needed: *register };
            let session_id = client.start_session(request.clone(), t)?;
            eprintln!("session {session_id} armed on reader {}: waiting for the patient", info.serial);
            let deadline = Instant::now() + Duration::from_secs(*timeout);
            let signed = loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match client.next_notification(left)? {
                    Notification::Progress { progress, .. } => {
                        seen.push(progress_name(progress));
                        if !json {
                            eprintln!("  progress: {}", progress_text(progress));
                        }
                    }
                    Notification::Result(signed) => break signed,
                }
            };
            let now_ms =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64)?;
            let expected =
                Expected { device_key: &device_key, serial: &info.serial, session_id, request: &request, now_ms };
            let verified = verify_report(&signed, &expected, &anchors).context("the result failed verification")?;
            let r = &verified.report;
            let cert = r.auth_certificate.as_deref().and_then(describe_certificate);
            if *json {
                let value = serde_json::json!({
                    "reader": info.serial,
                    "session_id": r.session_id,
                    "outcome": format!("{:?}", r.outcome),
                    "method": r.method.map(|m| format!("{m:?}")),
                    "token": r.token.map(|t| format!("{t:?}")),
                    "reader_signature": "valid",
                    "card_signature": verified.card_signature,
                    "certificate_chain": verified.chain,
                    "certificate": cert.as_ref().map(|(subject, serial, validity)| serde_json::json!({"subject": subject, "serial": serial, "validity": validity})),
                    "consents": r.consents.iter().map(|c| serde_json::json!({"topic": topic_name(c.topic), "agreed": c.agreed})).collect::<Vec<_>>(),
                    "registration": r.registration,
                    "started_ms": r.started_ms,
                    "finished_ms": r.finished_ms,
                });
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                let how = match r.method {
                    Some(AuthMethod::Pin) => " by PIN",
                    Some(AuthMethod::Face) => " by face",
                    Some(AuthMethod::Visual) => " by staff (visual)",
                    None => "",
                };
                println!("session {} on reader {}: {:?}{how}", r.session_id, info.serial, r.outcome);
                println!("  reader signature: valid (Ed25519 device key {})", &hex::encode(device_key)[..16]);
                println!(
                    "  card signature:   {}",
                    match verified.card_signature {
                        CardSignature::Valid =>
                            "valid (利用者証明用 key, RSA-2048 PKCS#1 v1.5 SHA-256 over this session's challenge)",
                        CardSignature::NotPresent => "none in this result",
                    }
                );
                // The certificate's subject and serial name the card holder's certificate: they
                // are in `--json` for the software that needs them, not in this summary, which
                // ends up in consoles and logs.
                if let Some((_, _, validity)) = &cert {
                    println!("  certificate:      利用者証明用, valid {validity} (subject and serial in --json)");
                }
                println!(
                    "  chain:            {}",
                    match &verified.chain {
                        ChainCheck::Trusted(anchor) => format!("trusted ({anchor})"),
                        ChainCheck::NotChecked => "not checked (no --trust-anchor)".into(),
                        ChainCheck::NoCertificate => "no certificate".into(),
                    }
                );
                let consents: Vec<String> = r
                    .consents
                    .iter()
                    .map(|c| format!("{} {}", topic_name(c.topic), if c.agreed { "yes" } else { "no" }))
                    .collect();
                println!(
                    "  consents:         {}",
                    if consents.is_empty() { "none".into() } else { consents.join(", ") }
                );
                if let Some(reg) = r.registration {
                    println!("  registration:     {}", if reg { "yes" } else { "no" });
                }
                println!("  duration:         {:.1} s", r.finished_ms.saturating_sub(r.started_ms) as f64 / 1000.0);
            }
            if let Some(expect) = expect {
                let got = match r.method {
                    Some(m) => format!("{}:{}", outcome_name(r.outcome), method_name(m)),
                    None => outcome_name(r.outcome).to_string(),
                };
                let wanted: Vec<&str> = expect_progress.split(',').map(str::trim).filter(|w| !w.is_empty()).collect();
                let mut rest = seen.iter();
                let missing: Vec<&str> = wanted.iter().copied().filter(|w| !rest.any(|s| s == w)).collect();
                if &got != expect || !missing.is_empty() {
                    eprintln!(
                        "kaoyomi-term: expected {expect} through [{expect_progress}], got {got} through [{}]",
                        seen.join(",")
                    );
                    std::process::exit(3);
                }
                eprintln!("kaoyomi-term: as expected: {got}");
            } else if r.outcome != Outcome::Verified {
                std::process::exit(2);
            }
        }
    }
    Ok(())
}

/// The name `--expect-progress` gives a progress.
fn progress_name(p: Progress) -> &'static str {
    match p {
        Progress::WaitingForCard => "waiting-for-card",
        Progress::CardPlaced => "card-placed",
        Progress::CardRemoved => "card-removed",
        Progress::ChoosingMethod => "choosing-method",
        Progress::Checking(AuthMethod::Face) => "checking-face",
        Progress::Checking(AuthMethod::Pin) => "checking-pin",
        Progress::Checking(AuthMethod::Visual) => "checking-visual",
        Progress::PinWrong { .. } => "pin-wrong",
        Progress::StaffNeeded => "staff-needed",
        Progress::Consents => "consents",
        Progress::RemoveCard => "remove-card",
        Progress::CardRejected(_) => "card-rejected",
    }
}

/// The name `--expect` gives an outcome.
fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Verified => "verified",
        Outcome::NotVerified => "not-verified",
        Outcome::Cancelled(_) => "cancelled",
    }
}

/// The name `--expect` gives a method.
fn method_name(m: AuthMethod) -> &'static str {
    match m {
        AuthMethod::Face => "face",
        AuthMethod::Pin => "pin",
        AuthMethod::Visual => "visual",
    }
}

fn progress_text(p: Progress) -> String {
    match p {
        Progress::WaitingForCard => "waiting for the card".into(),
        Progress::CardPlaced => "card placed".into(),
        Progress::CardRemoved => "card removed before the end; waiting for it again".into(),
        Progress::ChoosingMethod => "patient is choosing the check".into(),
        Progress::Checking(m) => format!("checking ({m:?})"),
        Progress::PinWrong { tries_left } => format!("wrong PIN, {tries_left} tries left"),
        Progress::StaffNeeded => "staff needed at the reader".into(),
        Progress::Consents => "patient is answering consents".into(),
        Progress::RemoveCard => "done; waiting for the card to be removed".into(),
        Progress::CardRejected(why) => format!("card refused ({why:?}); waiting for another card"),
    }
}
