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
}

/// A program from the package table (`packages.rs`); one it does not name is refused when run,
/// so that nothing reaches a fresh machine that the project does not install.
pub fn cmd(program: &str) -> Cmd {
    Cmd { inner: Command::new(program), program: program.to_string(), unknown: !crate::packages::known(program) }
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
    Cmd { inner: Command::new(path), program: path.display().to_string(), unknown: false }
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

    /// Runs it, printing `what` first; fails unless it exits with 0.
    pub fn run(mut self, what: &str) -> Result<()> {
        eprintln!("xtask: {what}");
        let status = self.checked()?.status().with_context(|| format!("starting {}: {what}", self.program))?;
        if !status.success() {
            bail!("failed: {what} ({status})");
        }
        Ok(())
    }

    /// Runs it with the outputs passed through and returns how it exited.
    pub fn status(mut self, what: &str) -> Result<std::process::ExitStatus> {
        let program = self.program.clone();
        self.checked()?.stdin(Stdio::null()).status().with_context(|| format!("starting {program}: {what}"))
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
