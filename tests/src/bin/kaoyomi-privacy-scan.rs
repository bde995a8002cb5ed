//! `kaoyomi-privacy-scan [--long-only] FILE…`: looks for the personas' data in the files (the
//! outputs `cargo xtask test` keeps of each step) and exits with 1, naming the file, the line
//! and the kind of data (never the value), if any holds some. `--long-only` leaves out the
//! four-digit values (PINs, security codes), for output full of unrelated numbers (a guest's
//! console: process ids, kernel times).

use kaoyomi_tests::privacy;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut short = true;
    let mut files = Vec::new();
    for arg in std::env::args_os().skip(1) {
        if arg == "--long-only" {
            short = false;
        } else {
            files.push(std::path::PathBuf::from(arg));
        }
    }
    if files.is_empty() {
        eprintln!("usage: kaoyomi-privacy-scan [--long-only] FILE…");
        return ExitCode::from(2);
    }
    let secrets = privacy::secrets(short);
    let (mut bad, mut bytes) = (0, 0);
    for file in &files {
        let text = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("kaoyomi-privacy-scan: {}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        bytes += text.len();
        for finding in privacy::findings(&String::from_utf8_lossy(&text), &secrets) {
            eprintln!("{}: {finding}", file.display());
            bad += 1;
        }
    }
    println!(
        "kaoyomi-privacy-scan: {bytes} bytes in {} file(s), {} values looked for, {bad} found",
        files.len(),
        secrets.len()
    );
    if bad > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
