//! Process plumbing: every program xtask starts goes through [`cmd`] (a program from the package
//! table, refused otherwise), [`cargo`] or [`own`] (the workspace's own binaries), and is run,
//! read or spawned here, with the step it serves printed first.

use anyhow::{Context, Result, bail};
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// A program to run, with what it is for.
pub struct Cmd {
    inner: Command,
    program: String,
    /// Set when the program is not in the package table: running it is refused.
    unknown: bool,
    /// A file that gets a copy of both outputs ([`Cmd::tee`]).
    tee: Option<std::path::PathBuf>,
}

/// A program from the package table (`packages.rs`); one it does not name is refused when run,
/// so that nothing reaches a fresh machine that the project does not install.
pub fn cmd(program: &str) -> Cmd {
    Cmd {
        inner: Command::new(program),
        program: program.to_string(),
        unknown: !crate::packages::known(program),
        tee: None,
    }
}

/// Cargo (the one that runs xtask), in the workspace root.
pub fn cargo() -> Cmd {
    let mut c = cmd("cargo");
    c.inner = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.inner.current_dir(crate::root());
    c
}

/// One of the workspace's own binaries (built by the task that runs it).
pub fn own(path: &Path) -> Cmd {
    Cmd { inner: Command::new(path), program: path.display().to_string(), unknown: false, tee: None }
}

impl Cmd {
    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Cmd {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Cmd {
        self.inner.env(key, value);
        self
    }

    /// Runs in `dir`.
    pub fn dir(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.inner.current_dir(dir);
        self
    }

    /// Standard output (and error) to `file`.
    pub fn log_to(mut self, file: &std::fs::File) -> Result<Cmd> {
        self.inner.stdout(file.try_clone()?).stderr(file.try_clone()?);
        Ok(self)
    }

    fn checked(&mut self) -> Result<&mut Command> {
        if self.unknown {
            bail!(
                "xtask would run {:?}, which tools/xtask/src/packages.rs does not name: add it there with its package",
                self.program
            );
        }
        Ok(&mut self.inner)
    }

    /// The plain command, for plumbing this type does not offer (pipes between two programs).
    pub fn into_command(mut self) -> Result<Command> {
        self.checked()?;
        Ok(self.inner)
    }

    /// Both outputs also appended to `file` (shown as they come all the same): the outputs
    /// `cargo xtask test` scans for personal data.
    pub fn tee(mut self, file: &Path) -> Cmd {
        self.tee = Some(file.to_path_buf());
        self
    }

    /// Runs it to the end, its outputs passed through (and copied where [`Cmd::tee`] says).
    fn wait(&mut self, what: &str) -> Result<std::process::ExitStatus> {
        let program = self.program.clone();
        let Some(file) = self.tee.clone() else {
            return self.checked()?.status().with_context(|| format!("starting {program}: {what}"));
        };
        let copy = std::sync::Arc::new(std::sync::Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&file)
                .with_context(|| format!("opening {}", file.display()))?,
        ));
        let mut child = self
            .checked()?
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {program}: {what}"))?;
        fn pump(
            from: impl std::io::Read + Send + 'static,
            to: fn(&[u8]),
            copy: std::sync::Arc<std::sync::Mutex<std::fs::File>>,
        ) -> std::thread::JoinHandle<()> {
            std::thread::spawn(move || {
                use std::io::{BufRead, Write};
                let mut lines = std::io::BufReader::new(from);
                let mut line = Vec::new();
                while lines.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                    to(&line);
                    let _ = copy.lock().unwrap_or_else(std::sync::PoisonError::into_inner).write_all(&line);
                    line.clear();
                }
            })
        }
        let out = pump(
            child.stdout.take().context("stdout")?,
            |b| {
                let _ = std::io::Write::write_all(&mut std::io::stdout(), b);
            },
            copy.clone(),
        );
        let err = pump(
            child.stderr.take().context("stderr")?,
            |b| {
                let _ = std::io::Write::write_all(&mut std::io::stderr(), b);
            },
            copy,
        );
        let status = child.wait().with_context(|| format!("waiting for {program}: {what}"))?;
        let _ = (out.join(), err.join());
        Ok(status)
    }

    /// Runs it, printing `what` first; fails unless it exits with 0.
    pub fn run(mut self, what: &str) -> Result<()> {
        eprintln!("xtask: {what}");
        let status = self.wait(what)?;
        if !status.success() {
            bail!("failed: {what} ({status})");
        }
        Ok(())
    }

    /// Runs it with the outputs passed through and returns how it exited.
    pub fn status(mut self, what: &str) -> Result<std::process::ExitStatus> {
        self.inner.stdin(Stdio::null());
        self.wait(what)
    }

    /// Runs it and returns its standard output; fails unless it exits with 0.
    pub fn read(mut self, what: &str) -> Result<String> {
        let program = self.program.clone();
        let out = self
            .checked()?
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("starting {program}: {what}"))?;
        if !out.status.success() {
            bail!("failed: {what} ({})", out.status);
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs it with both outputs captured, whatever its exit.
    pub fn output(mut self) -> Result<Output> {
        let program = self.program.clone();
        self.checked()?.stdin(Stdio::null()).output().with_context(|| format!("starting {program}"))
    }

    /// Starts it with standard output piped to the caller.
    pub fn spawn_piped(mut self, what: &str) -> Result<Child> {
        eprintln!("xtask: {what}");
        let program = self.program.clone();
        self.checked()?
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {program}: {what}"))
    }

    /// Its outputs discarded.
    pub fn quiet(mut self) -> Cmd {
        self.inner.stdout(Stdio::null()).stderr(Stdio::null());
        self
    }

    /// Starts it in the background with its outputs as set (`log_to`).
    pub fn spawn(mut self, what: &str) -> Result<Child> {
        let program = self.program.clone();
        self.checked()?.stdin(Stdio::null()).spawn().with_context(|| format!("starting {program}: {what}"))
    }
}

/// Whether xtask runs as root (the owner of this process's `/proc/self`).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Whether `program` is found on `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Whether cargo has the subcommand `name` (`cargo NAME --version` answers).
pub fn has_cargo_subcommand(name: &str) -> bool {
    cargo().args([name, "--version"]).output().is_ok_and(|o| o.status.success())
}
