//! The ARM64 side: `cargo xtask dist` (cross build with Debian's rustc-web), `cargo xtask image`
//! (the qemu-virt board: a read-only squashfs root booting Debian's systemd with the board's units,
//! a stage-one initramfs that mounts it and the ext4 state partition) and `cargo xtask qemu --test`
//! (boot it under qemu-system-aarch64 and read the in-guest checks from the console).
//!
//! Package versions are resolved through apt at each run, never pinned: Debian removes superseded
//! kernel builds. The mirror comes from the machine's own apt sources; no host is written here.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::packages::{Need, ensure};
use crate::root;
use crate::sh::{Cmd, cmd};

/// Guest userland (bookworm, arm64), unpacked without maintainer scripts.
const GUEST_PACKAGES: &[&str] = &[
    // systemd as PID 1 and what its programs link (the rest of its dependencies are loaded only
    // for features the image does not use: cryptsetup, repart, fdisk, p11-kit).
    "systemd",
    "libsystemd-shared",
    "libacl1",
    "libapparmor1",
    "libaudit1",
    "libcap-ng0",
    "libblkid1",
    "libcrypt1",
    "libssl3",
    "libip4tc2",
    "libkmod2",
    "libmount1",
    "libpam0g",
    "libpcre2-8-0",
    "libseccomp2",
    "libselinux1",
    // mount units run /bin/mount; modprobe@configfs and the checks' drivers need modprobe.
    "mount",
    "kmod",
    "busybox-static",
    "libc6",
    "libgcc-s1",
    "pcscd",
    "libccid",
    "libpcsclite1",
    "libasound2",
    "libasound2-data",
    // v4l2-ctl plays the camera test's picture into vivid's output (test rig, not product).
    "v4l-utils",
    "libv4l-0",
    "libv4lconvert0",
    "libjpeg62-turbo",
    "libstdc++6",
    "vsmartcard-vpcd",
    "libsystemd0",
    "libudev1",
    "libusb-1.0-0",
    "libqrencode4",
    // The staff keyboard's layouts: xkbcommon and the XKB data it compiles keymaps from.
    "libxkbcommon0",
    "xkb-data",
    "libcap2",
    "libgcrypt20",
    "libgpg-error0",
    "liblz4-1",
    "liblzma5",
    "libzstd1",
];

/// Kernel modules in the root, indexed for modprobe: ConfigFS and the USB gadget stack with the
/// guest's own host side (dummy_hcd), FunctionFS and the composite framework (loaded by
/// systemd-modules-load before the reader's unit), and for the self-tests gpio-sim (LEDs), uinput
/// and evdev (touch), vivid (camera), snd-aloop (speaker), loaded by the checks; the displays
/// (virtio-gpu, two outputs) and the touch panel (virtio tablet through evdev), loaded at boot.
const GUEST_MODULES: &[&str] = &[
    "configfs",
    "dummy_hcd",
    "libcomposite",
    "usb_f_fs",
    "virtio-gpu",
    "virtio_input",
    "evdev",
    "gpio-sim",
    "uinput",
    "vivid",
    "snd-aloop",
];

/// Modules stage one needs to mount the root and the state partition: the virtio block driver,
/// squashfs, ext4.
const BOOT_MODULES: &[&str] = &["virtio_blk", "squashfs", "ext4"];

/// Units the QEMU image masks: what a read-only root has no use for, what needs D-Bus or a login
/// prompt the image lacks, and udev with its coldplug (4 s under TCG; the image's devices come
/// from devtmpfs, its drivers from modules-load.d and the checks).
const MASKED_UNITS: &[&str] = &[
    "systemd-random-seed.service",
    "systemd-machine-id-commit.service",
    "systemd-firstboot.service",
    "systemd-sysusers.service",
    "systemd-remount-fs.service",
    "systemd-update-done.service",
    "ldconfig.service",
    "systemd-hwdb-update.service",
    "systemd-journal-catalog-update.service",
    "systemd-update-utmp.service",
    "systemd-update-utmp-runlevel.service",
    "systemd-tmpfiles-clean.timer",
    "systemd-repart.service",
    "systemd-pcrphase.service",
    "systemd-pcrphase-sysinit.service",
    "systemd-logind.service",
    "systemd-user-sessions.service",
    "getty.target",
    "getty-static.service",
    "serial-getty@ttyAMA0.service",
    "systemd-ask-password-wall.path",
    "systemd-ask-password-console.path",
    "kmod-static-nodes.service",
    "proc-sys-fs-binfmt_misc.automount",
    "systemd-binfmt.service",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "dev-hugepages.mount",
    "dev-mqueue.mount",
    "sys-fs-fuse-connections.mount",
    "systemd-journal-flush.service",
    "systemd-initctl.socket",
    "systemd-journald-audit.socket",
    "cryptsetup.target",
    "integritysetup.target",
    "veritysetup.target",
    "systemd-udevd.service",
    "systemd-udev-trigger.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
];

/// Units the image starts at boot: the reader (board/rootfs), pcscd on demand, and the test rig's
/// virtual card and in-guest checks (board/qemu-virt/rootfs).
const ENABLED_UNITS: &[(&str, &str)] = &[
    ("multi-user.target", "kaoyomi-qemu-devices.service"),
    ("multi-user.target", "kaoyomi-reader.service"),
    ("multi-user.target", "kaoyomi-cardsim.service"),
    ("multi-user.target", "kaoyomi-test.service"),
    ("sockets.target", "pcscd.socket"),
];

/// The device's target.
pub const TARGET: &str = "aarch64-unknown-linux-gnu";

/// The reader's features in each board's device build: never `sim` (`cargo xtask tidy` checks
/// the dependency tree, [`dist`] the binary). The QEMU board has no face camera: its reader is
/// built without the face check (tract and the models), which keeps the image small and CI's
/// cross build short. Both draw their two displays from the reader process (`kms`).
pub const DEVICE_FEATURES: &[(&str, &[&str])] = &[("qemu-virt", &["kms"]), ("rk3399", &["face", "kms"])];

/// The test rig beside the reader in the QEMU image: the terminal's program, the virtual card
/// behind pcscd, and (until the screens are driven in the guest) a simulator build of the reader
/// for the scripted sessions, installed as `kaoyomi-reader-sim`.
const RIG_BINARIES: &[&str] = &["kaoyomi-term", "kaoyomi-cardsim", "kaoyomi-reader-sim"];

fn out_dir() -> PathBuf {
    root().join("target/image")
}

/// Debian's cargo and rustc-web for aarch64, in the workspace, with their own target directory.
fn cross_cargo() -> Cmd {
    cross_env(cmd("/usr/bin/cargo"))
}

/// [`cross_cargo`] at the lowest CPU priority (`nice -n 19`): a build that only takes what the
/// other work leaves idle.
fn cross_cargo_niced() -> Cmd {
    cross_env(cmd("nice").args(["-n", "19", "/usr/bin/cargo"]))
}

fn cross_env(c: Cmd) -> Cmd {
    c.dir(root())
        .env("RUSTC", "/usr/bin/rustc")
        .env("RUSTDOC", "/usr/bin/rustdoc")
        .env("CARGO_TARGET_DIR", root().join("target/cross"))
        .env("PKG_CONFIG_ALLOW_CROSS", "1")
        .env("PKG_CONFIG_LIBDIR_aarch64_unknown_linux_gnu", "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
}

/// The test rig (terminal, virtual card, the reader's simulator build) for aarch64, in the dev
/// profile without debug information that the aarch64 tests share. None of these has default
/// features but the reader, whose face check the rig does not use.
pub fn build_rig() -> Result<()> {
    ensure(&[Need::Build, Need::Cross])?;
    let started = Instant::now();
    cross_cargo()
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        .env("CARGO_PROFILE_TEST_DEBUG", "0")
        .args(["build", "--target", TARGET, "-p", "kaoyomi-terminal", "-p", "kaoyomi-cardsim", "-p", "kaoyomi-reader"])
        .args(["--no-default-features", "--features", "kaoyomi-reader/sim"])
        .run(&format!("cross-building the test rig for {TARGET} with Debian's rustc-web"))?;
    eprintln!("xtask: cross-built the test rig in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// `cargo xtask dist --board qemu-virt`: the reader a device runs (no simulator: checked here on
/// its bytes) and the test rig, for aarch64.
pub fn dist(board: &str) -> Result<PathBuf> {
    dist_with(board, true)
}

/// [`dist`]; without `rig`, the test rig is taken as built already ([`build_rig`]).
fn dist_with(board: &str, rig: bool) -> Result<PathBuf> {
    let Some((_, features)) = DEVICE_FEATURES.iter().find(|(b, _)| *b == board) else {
        bail!("unknown board {board:?} (qemu-virt, rk3399)");
    };
    ensure(&[Need::Build, Need::Cross])?;
    let release = root().join(format!("target/cross/{TARGET}/release"));
    let dist = out_dir().join(format!("dist-{board}"));
    std::fs::create_dir_all(dist.join("bin"))?;
    std::fs::create_dir_all(dist.join("rig"))?;
    // The test rig in the dev profile without debug information, the profile `test-aarch64`
    // builds its tests in (the dependencies they share are built once); the device's reader in
    // release.
    let debug = root().join(format!("target/cross/{TARGET}/debug"));
    let build = |what: &str, release: bool, args: &[&str]| {
        let mut c = cross_cargo().args(["build", "--target", TARGET]);
        if release {
            c = c.arg("--release");
        } else {
            c = c.env("CARGO_PROFILE_DEV_DEBUG", "0").env("CARGO_PROFILE_TEST_DEBUG", "0");
        }
        let started = Instant::now();
        c.args(args).run(&format!("cross-building {what} for {TARGET} (board {board}) with Debian's rustc-web"))?;
        eprintln!("xtask: cross-built {what} in {:.0} s", started.elapsed().as_secs_f64());
        Ok::<(), anyhow::Error>(())
    };
    // The test rig first, so that the device build of the reader is the last one linked.
    if rig {
        build_rig()?;
    }
    std::fs::copy(debug.join("kaoyomi-reader"), dist.join("rig/kaoyomi-reader-sim"))?;
    // The scan below must still recognise the simulator in a build that has it.
    if crate::tidy::device_binary_problems(&std::fs::read(dist.join("rig/kaoyomi-reader-sim"))?)?.is_empty() {
        bail!("the scan for the simulator finds nothing in the rig's simulator build: update tidy's markers");
    }
    for bin in ["kaoyomi-term", "kaoyomi-cardsim"] {
        std::fs::copy(debug.join(bin), dist.join("rig").join(bin))?;
    }
    let features = features.join(",");
    let mut args = vec!["-p", "kaoyomi-reader", "--no-default-features"];
    if !features.is_empty() {
        args.extend(["--features", &features]);
    }
    build("the reader", true, &args)?;
    let reader = dist.join("bin/kaoyomi-reader");
    std::fs::copy(release.join("kaoyomi-reader"), &reader)?;
    let problems = crate::tidy::device_binary_problems(&std::fs::read(&reader)?)?;
    if !problems.is_empty() {
        bail!("the device build of the reader has the simulator in it:\n{}", problems.join("\n"));
    }
    std::fs::copy(root().join(format!("board/{board}.toml")), dist.join("board.toml")).context("board file")?;
    if board == "qemu-virt" {
        for rig in ["rig-socket.toml", "rig-usb.toml"] {
            std::fs::copy(root().join("board/qemu-virt").join(rig), dist.join("rig").join(rig))?;
        }
    }
    eprintln!(
        "xtask: dist in {}: the reader ({:.1} MB, no simulator) and the test rig",
        dist.display(),
        std::fs::metadata(&reader)?.len() as f64 / 1e6
    );
    Ok(dist)
}

/// apt with a private state, for arm64 downloads that leave the host's apt set-up alone.
struct PrivateApt {
    dir: PathBuf,
}

impl PrivateApt {
    fn new() -> Result<PrivateApt> {
        let dir = out_dir().join("apt");
        for d in ["lists/partial", "cache/archives/partial", "etc/preferences.d", "etc/apt.conf.d"] {
            std::fs::create_dir_all(dir.join(d))?;
        }
        std::fs::write(dir.join("status"), "")?;
        // The machine's own mirror, for bookworm (userland) and trixie-backports (the kernel).
        let sources = std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
        let mut uris = Vec::new();
        for line in sources.lines() {
            if let Some(u) = line.strip_prefix("URIs:") {
                uris.push(u.trim().to_string());
            }
        }
        let main = uris
            .iter()
            .find(|u| !u.contains("security"))
            .context("no Debian mirror in /etc/apt/sources.list.d/debian.sources")?;
        let security = uris.iter().find(|u| u.contains("security")).unwrap_or(main);
        let list = format!(
            "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {main} bookworm main\n\
             deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {security} bookworm-security main\n\
             deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {main} trixie-backports main\n\
             deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {main} trixie main\n"
        );
        std::fs::write(dir.join("sources.list"), list)?;
        Ok(PrivateApt { dir })
    }

    fn command(&self, tool: &str) -> Cmd {
        let d = &self.dir;
        cmd(tool)
            .arg(format!("-oDir::Etc::SourceList={}", d.join("sources.list").display()))
            .arg("-oDir::Etc::SourceParts=/nonexistent")
            .arg(format!("-oDir::Etc::Preferences={}", d.join("etc/preferences").display()))
            .arg(format!("-oDir::Etc::PreferencesParts={}", d.join("etc/preferences.d").display()))
            .arg(format!("-oDir::State::Lists={}", d.join("lists").display()))
            .arg(format!("-oDir::State::status={}", d.join("status").display()))
            .arg(format!("-oDir::Cache={}", d.join("cache").display()))
            .arg("-oAPT::Architecture=arm64")
            .arg("-oAPT::Architectures=arm64")
            .arg("-oDebug::NoLocking=1")
    }

    fn update(&self) -> Result<()> {
        self.command("apt-get").args(["update", "-qq"]).run("apt-get update (private state, arm64)")
    }

    fn depends(&self, package: &str) -> Result<Vec<String>> {
        let out = self.command("apt-cache").args(["depends", package]).read("apt-cache depends")?;
        Ok(out
            .lines()
            .filter_map(|l| l.trim().trim_start_matches('|').strip_prefix("Depends: "))
            .map(|p| p.trim().to_string())
            .collect())
    }

    /// The kernel packages that trixie-backports' `linux-image-arm64` points at now: the image
    /// package and the binary package it depends on (which carries vmlinuz and the modules).
    fn kernel_packages(&self) -> Result<Vec<String>> {
        let image = self
            .depends("linux-image-arm64/trixie-backports")?
            .into_iter()
            .find(|p| p.starts_with("linux-image-"))
            .context("cannot resolve linux-image-arm64 in trixie-backports")?;
        let mut packages: Vec<String> =
            self.depends(&image)?.into_iter().filter(|p| p.starts_with("linux-binary-")).collect();
        // The modules (dummy_hcd, usb_f_fs, vivid, gpio-sim...) and the module index live apart.
        let version = image.trim_start_matches("linux-image-").to_string();
        packages.push(format!("linux-modules-{version}"));
        packages.push(format!("linux-base-{version}"));
        packages.push(image);
        Ok(packages)
    }

    fn download(&self, packages: &[String], into: &Path) -> Result<()> {
        std::fs::create_dir_all(into)?;
        self.command("apt-get")
            .dir(into)
            .arg("download")
            .args(packages)
            .run(&format!("downloading {} arm64 packages", packages.len()))
    }
}

fn unpack(deb: &Path, root_dir: &Path) -> Result<()> {
    // tar keeps the image's /lib -> usr/lib link (merged /usr) where bookworm's packages ship /lib.
    let mut dpkg = cmd("dpkg-deb").arg("--fsys-tarfile").arg(deb).into_command()?.stdout(Stdio::piped()).spawn()?;
    let status = cmd("tar")
        .args(["-x", "--keep-directory-symlink", "-C"])
        .arg(root_dir)
        .into_command()?
        .stdin(dpkg.stdout.take().context("dpkg-deb stdout")?)
        .status()?;
    if !status.success() || !dpkg.wait()?.success() {
        bail!("unpacking {} failed", deb.display());
    }
    Ok(())
}

/// Copies `modules` and what they depend on (decompressed) into `rootfs`, and writes their load
/// order to `rootfs/etc/kaoyomi/modules` for stage one; with `index`, also the kernel's lists of
/// built-in modules and the index (`depmod`) that modprobe and systemd-modules-load read.
fn add_modules(kernel_dir: &Path, vmlinuz: &Path, rootfs: &Path, modules: &[&str], index: bool) -> Result<()> {
    let version =
        vmlinuz.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).context("kernel version")?.to_string();
    // Debian ships modules under /usr/lib; the host's depmod and modprobe look under /lib.
    let lib = kernel_dir.join("lib");
    if !lib.exists() {
        std::os::unix::fs::symlink("usr/lib", &lib)?;
    }
    cmd("depmod").arg("-b").arg(kernel_dir).arg(&version).run("indexing the guest kernel's modules")?;
    let out = cmd("modprobe")
        .arg("-d")
        .arg(kernel_dir)
        .args(["-S", &version, "-a", "--show-depends"])
        .args(modules)
        .output()?;
    if !out.status.success() {
        bail!("modprobe: {}", String::from_utf8_lossy(&out.stderr));
    }
    let dest = rootfs.join("usr/lib/modules").join(&version);
    std::fs::create_dir_all(&dest)?;
    let mut order = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(path) = line.strip_prefix("insmod ").map(|l| l.split_whitespace().next().unwrap_or_default()) else {
            continue;
        };
        let name = Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let plain = name.trim_end_matches(".xz").trim_end_matches(".zst").to_string();
        if order.contains(&plain) {
            continue;
        }
        let decompressed = if name.ends_with(".zst") { cmd("zstdcat") } else { cmd("xzcat") }.arg(path).output()?;
        if !decompressed.status.success() {
            bail!("cannot decompress {path}");
        }
        std::fs::write(dest.join(&plain), decompressed.stdout)?;
        order.push(plain);
    }
    std::fs::create_dir_all(rootfs.join("etc/kaoyomi"))?;
    std::fs::write(rootfs.join("etc/kaoyomi/modules"), order.join("\n") + "\n")?;
    if index {
        let from = kernel_dir.join("usr/lib/modules").join(&version);
        for list in ["modules.builtin", "modules.builtin.modinfo", "modules.order"] {
            if from.join(list).exists() {
                std::fs::copy(from.join(list), dest.join(list))?;
            }
        }
        cmd("depmod").arg("-b").arg(rootfs).arg(&version).run("indexing the image's modules")?;
    }
    eprintln!("xtask: {} kernel modules in the image: {}", order.len(), order.join(" "));
    Ok(())
}

fn find_file(dir: &Path, prefix: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() && !path.is_symlink() {
            if let Some(found) = find_file(&path, prefix) {
                return Some(found);
            }
        } else if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)) {
            return Some(path);
        }
    }
    None
}

/// A bootable qemu-virt image.
pub struct Image {
    /// The kernel.
    pub kernel: PathBuf,
    /// Stage one (mounts the root and the state partition).
    pub initramfs: PathBuf,
    /// The read-only root filesystem with the reader.
    pub root: PathBuf,
    /// The state partition (ext4, empty, as a new device's).
    pub state: PathBuf,
}

/// What the maintainer scripts of the unpacked packages would have done, and the image's boot
/// set-up for systemd: the users and groups of every sysusers.d file (the host's
/// `systemd-sysusers --root`, as the root is read-only at boot), an empty machine id (no first
/// boot), the default target, the enabled units and the masked ones, the generators masked but
/// fstab's.
fn systemd_setup(rootfs: &Path) -> Result<()> {
    cmd("systemd-sysusers").arg(format!("--root={}", rootfs.display())).run("making the image's users and groups")?;
    std::fs::write(rootfs.join("etc/machine-id"), "")?;
    std::fs::write(rootfs.join("etc/hostname"), "kaoyomi-qemu\n")?;
    std::fs::write(rootfs.join("etc/hosts"), "127.0.0.1 localhost kaoyomi-qemu\n")?;
    std::fs::write(rootfs.join("etc/nsswitch.conf"), "passwd: files\ngroup: files\nshadow: files\nhosts: files\n")?;
    if !rootfs.join("etc/os-release").exists() {
        std::fs::write(
            rootfs.join("etc/os-release"),
            "PRETTY_NAME=\"Kaoyomi QEMU test image (Debian 12 packages)\"\nNAME=Kaoyomi\nID=kaoyomi\nID_LIKE=debian\n",
        )?;
    }
    for (link, target) in [("var/run", "../run"), ("var/lock", "../run/lock")] {
        std::os::unix::fs::symlink(target, rootfs.join(link))?;
    }
    let system = rootfs.join("etc/systemd/system");
    std::fs::create_dir_all(&system)?;
    std::os::unix::fs::symlink("/lib/systemd/system/multi-user.target", system.join("default.target"))?;
    for (target, unit) in ENABLED_UNITS {
        let wants = system.join(format!("{target}.wants"));
        std::fs::create_dir_all(&wants)?;
        let path = if rootfs.join("etc/systemd/system").join(unit).exists() {
            format!("/etc/systemd/system/{unit}")
        } else {
            format!("/lib/systemd/system/{unit}")
        };
        if !rootfs.join(path.trim_start_matches('/')).exists() {
            bail!("the image has no unit {unit} to enable");
        }
        std::os::unix::fs::symlink(&path, wants.join(unit))?;
    }
    for unit in MASKED_UNITS {
        std::os::unix::fs::symlink("/dev/null", system.join(unit))?;
    }
    let generators = rootfs.join("etc/systemd/system-generators");
    std::fs::create_dir_all(&generators)?;
    for entry in std::fs::read_dir(rootfs.join("usr/lib/systemd/system-generators"))? {
        let name = entry?.file_name();
        if name != "systemd-fstab-generator" {
            std::os::unix::fs::symlink("/dev/null", generators.join(name))?;
        }
    }
    Ok(())
}

fn chmod_755(path: &Path) -> Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

/// `cargo xtask image --board qemu-virt`: the kernel, a stage-one initramfs and the read-only root.
pub fn image(board: &str) -> Result<Image> {
    if board != "qemu-virt" {
        bail!("only the qemu-virt image can be built here (rk3399: see board/rk3399/README.md)");
    }
    build_image(board, &fetch_guest()?, false)
}

/// Downloads the guest's arm64 packages and its kernel (apt with a private state, the versions
/// current in the suites now) into `target/image/debs`.
pub fn fetch_guest() -> Result<PathBuf> {
    let apt = PrivateApt::new()?;
    apt.update()?;
    let debs = out_dir().join("debs");
    let _ = std::fs::remove_dir_all(&debs);
    let mut wanted: Vec<String> = GUEST_PACKAGES.iter().map(|p| format!("{p}/bookworm")).collect();
    wanted.extend(apt.kernel_packages()?.into_iter().map(|p| format!("{p}/trixie-backports")));
    apt.download(&wanted, &debs)?;
    Ok(debs)
}

/// The image from the guest packages in `debs` and the reader cross-built for `board` (with the
/// test rig unless `rig_built`).
pub fn build_image(board: &str, debs: &Path, rig_built: bool) -> Result<Image> {
    ensure(&[Need::Image])?;
    let dist = dist_with(board, !rig_built)?;

    let rootfs = out_dir().join("rootfs");
    let _ = std::fs::remove_dir_all(&rootfs);
    for d in [
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "usr/lib",
        "etc",
        "proc",
        "sys",
        "dev",
        "run",
        "tmp",
        "var/lib/kaoyomi",
        "var/lib/systemd",
        "var/tmp",
        "var/log",
        "var/cache",
        "var/spool",
        "root",
    ] {
        std::fs::create_dir_all(rootfs.join(d))?;
    }
    // Debian's merged /usr: /lib -> usr/lib.
    std::os::unix::fs::symlink("usr/lib", rootfs.join("lib"))?;
    let kernel_dir = out_dir().join("kernel");
    let _ = std::fs::remove_dir_all(&kernel_dir);
    std::fs::create_dir_all(&kernel_dir)?;
    for entry in std::fs::read_dir(debs)? {
        let deb = entry?.path();
        let name = deb.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if name.starts_with("linux-") {
            unpack(&deb, &kernel_dir)?;
        } else {
            unpack(&deb, &rootfs)?;
        }
    }
    let vmlinuz = find_file(&kernel_dir, "vmlinuz").context("no vmlinuz in the kernel packages")?;
    add_modules(&kernel_dir, &vmlinuz, &rootfs, GUEST_MODULES, true)?;
    // busybox provides the shell and tools.
    for applet in [
        "sh", "mount", "ip", "poweroff", "sleep", "cat", "echo", "mkdir", "ls", "date", "grep", "dmesg", "uname", "ps",
        "kill", "sync", "cut", "sed", "head", "tail", "wc", "su", "chown", "chmod", "sysctl", "id", "stat", "insmod",
        "lsmod", "touch", "tr", "readlink",
    ] {
        let link = rootfs.join("bin").join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", &link)?;
        }
    }
    std::fs::copy(dist.join("bin/kaoyomi-reader"), rootfs.join("usr/bin/kaoyomi-reader"))?;
    for bin in RIG_BINARIES {
        std::fs::copy(dist.join("rig").join(bin), rootfs.join("usr/bin").join(bin))?;
    }
    std::fs::create_dir_all(rootfs.join("etc/kaoyomi"))?;
    std::fs::copy(dist.join("board.toml"), rootfs.join("etc/kaoyomi/board.toml"))?;
    for rig in ["rig-socket.toml", "rig-usb.toml"] {
        std::fs::copy(dist.join("rig").join(rig), rootfs.join("etc/kaoyomi").join(rig))?;
    }
    std::fs::copy(root().join("board/scripts/demo-pin.script"), rootfs.join("etc/kaoyomi/pin.script"))?;
    std::fs::copy(root().join("board/scripts/usb-unplug.script"), rootfs.join("etc/kaoyomi/unplug.script"))?;
    // The product's files (systemd unit, sysusers, sysctl, modprobe, udev, fstab), as on a device,
    // then the QEMU board's own (its fstab, the drivers a device's board has built in, the test
    // rig's units and the in-guest checks).
    for overlay in ["board/rootfs/.", "board/qemu-virt/rootfs/."] {
        cmd("cp").arg("-a").arg(root().join(overlay)).arg(&rootfs).run("adding the board's rootfs overlay")?;
    }
    systemd_setup(&rootfs)?;
    // The root filesystem: read-only squashfs    // The root filesystem: read-only squashfs, as the device's read-only root (LZ4: under TCG
    // its decompression costs a fraction of gzip's, the image grows by about half).
    let squashfs = out_dir().join("root.squashfs");
    let _ = std::fs::remove_file(&squashfs);
    cmd("mksquashfs")
        .arg(&rootfs)
        .arg(&squashfs)
        .args(["-noappend", "-all-root", "-quiet", "-no-progress", "-comp", "lz4"])
        .run("packing the read-only root (squashfs)")?;
    // Stage one: a small initramfs that loads the block and squashfs drivers, mounts the root
    // read-only, puts a tmpfs on /var/lib (the state partition's stand-in) and switches to it.
    let boot = out_dir().join("boot");
    let _ = std::fs::remove_dir_all(&boot);
    for d in ["bin", "dev", "newroot", "etc/kaoyomi"] {
        std::fs::create_dir_all(boot.join(d))?;
    }
    std::os::unix::fs::symlink("usr/lib", boot.join("lib"))?;
    std::fs::copy(rootfs.join("bin/busybox"), boot.join("bin/busybox"))?;
    for applet in ["sh", "mount", "umount", "insmod", "switch_root", "sleep", "echo", "cat", "uname", "poweroff"] {
        std::os::unix::fs::symlink("busybox", boot.join("bin").join(applet))?;
    }
    add_modules(&kernel_dir, &vmlinuz, &boot, BOOT_MODULES, false)?;
    std::fs::copy(root().join("board/qemu-virt/init-boot"), boot.join("init"))?;
    chmod_755(&boot.join("init"))?;
    let cpio = out_dir().join("initramfs.cpio");
    // sh runs find and cpio (both in the package table).
    cmd("sh")
        .arg("-c")
        .arg(format!("cd {} && find . | cpio -o -H newc --quiet > {}", boot.display(), cpio.display()))
        .run("packing the stage-one initramfs")?;
    let mb = |p: &Path| std::fs::metadata(p).map(|m| m.len() as f64 / 1e6).unwrap_or(0.0);
    eprintln!(
        "xtask: image: kernel {} + initramfs {:.1} MB + read-only root {:.1} MB",
        vmlinuz.display(),
        mb(&cpio),
        mb(&squashfs)
    );
    // The state partition: empty ext4, as on a new device (the reader makes its key there).
    let state = out_dir().join("state.ext4");
    let _ = std::fs::remove_file(&state);
    cmd("mkfs.ext4")
        .args(["-q", "-F", "-L", "kaoyomi-state"])
        .arg(&state)
        .arg("16M")
        .run("making the state partition (ext4)")?;
    Ok(Image { kernel: vmlinuz, initramfs: cpio, root: squashfs, state })
}

/// `cargo xtask qemu --test`: boots the image and reads the in-guest checks from the console.
pub fn qemu_test() -> Result<()> {
    build_screens()?;
    boot(image("qemu-virt")?)
}

/// Builds the host's renderer of the screens (`kaoyomi-screens`, feature `inspect`), which draws
/// what the guest's displays are compared with and says where its buttons are. `boot` needs it.
pub fn build_screens() -> Result<()> {
    crate::sh::cargo()
        .args(["build", "--quiet", "-p", "kaoyomi-ui", "--bin", "kaoyomi-screens", "--features", "inspect"])
        .run("building the screens' renderer")
}

/// The host's renderer of the screens built by [`build_screens`].
fn screens() -> crate::sh::Cmd {
    crate::sh::own(&root().join("target/debug/kaoyomi-screens"))
}

/// The PIN pad's keys in counting order, as the renderer draws them unless told otherwise.
const COUNTING: [u8; 10] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 0];

/// The QMP connection, made on first use.
fn connected<'a>(qmp: &'a mut Option<crate::qmp::Qmp>, socket: &Path) -> Result<&'a mut crate::qmp::Qmp> {
    if qmp.is_none() {
        *qmp = Some(crate::qmp::Qmp::connect(socket)?);
    }
    qmp.as_mut().context("QMP")
}

/// Moments of a screen's animation the guest's picture is compared with: 125 ms apart, so that a
/// picture taken between two of them is never more than about 60 ms of movement away (with 12,
/// the moving card of `place-card` once stayed 0.74% of pixels off in every try for 30 s).
const PHASES: u32 = 24;

/// The guest's display heads `heads` (0 the patient's panel, 1 the staff display) while it shows
/// the sample screen `screen` in the language `language`, compared with what the software
/// renderer draws on the host for the same screen (`kaoyomi-screens --phases`: the patient's
/// screen at [`PHASES`] moments of its 3-second animation, the staff display), tried for up to
/// 30 s (the guest draws in software under TCG): one check per head.
fn screen_checks(
    qmp: &mut Option<crate::qmp::Qmp>,
    socket: &Path,
    shots: &Path,
    (screen, language): (&str, &str),
    heads: &[u32],
) -> Vec<String> {
    let references = shots.join("reference");
    let drawn = screens()
        .args(["--phases", screen, language, &PHASES.to_string()])
        .arg(&references)
        .quiet()
        .run(&format!("drawing {screen} in {language} on the host"));
    if let Err(e) = drawn {
        eprintln!("xtask: {e:#}");
        return vec![format!("fail {screen}-drawn-on-the-host")];
    }
    let patient: Vec<PathBuf> =
        (0..PHASES).map(|i| references.join(format!("{screen}.{language}.p{i:02}.png"))).collect();
    let staff = vec![references.join(format!("staff-{screen}.png"))];
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut results = Vec::new();
    for (head, what, candidates) in [(0, "patient-panel", patient), (1, "staff-display", staff)] {
        if !heads.contains(&head) {
            continue;
        }
        let picture = shots.join(format!("{screen}-{what}.png"));
        let mut last = String::from("no picture");
        let passed = loop {
            let taken = (|| -> Result<Vec<Option<(f64, f64)>>> {
                connected(qmp, socket)?.screendump("video0", head, &picture)?;
                candidates.iter().map(|c| crate::qmp::difference(&picture, c)).collect()
            })();
            match taken {
                Ok(d) if d.iter().any(|d| crate::qmp::matches(*d)) => break true,
                Ok(d) => {
                    let best = d.into_iter().flatten().min_by(|a, b| a.0.total_cmp(&b.0));
                    last = match best {
                        Some((off, mean)) => format!("nearest: {:.2}% of pixels off, mean {mean:.1}", off * 100.0),
                        None => "the picture's size differs from the host's".into(),
                    };
                }
                Err(e) => last = format!("{e:#}"),
            }
            if Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        if passed {
            results.push(format!("pass {screen}-on-the-{what}-looks-as-drawn-on-the-host"));
        } else {
            eprintln!("xtask: {screen} on the {what} ({}): {last}", picture.display());
            results.push(format!("fail {screen}-on-the-{what}-looks-as-drawn-on-the-host"));
        }
    }
    results
}

/// The buttons of the sample screen `screen` in `language` as the host lays it out
/// (`kaoyomi-screens --buttons`), with the PIN pad's keys showing `pad` (counting order if None):
/// English label and place; its picture is written to `png`.
fn buttons(screen: &str, language: &str, png: &Path, pad: Option<&str>) -> Result<Vec<(String, [u32; 4])>> {
    let out = screens()
        .args(["--buttons", screen, language])
        .arg(png)
        .args(pad)
        .read(&format!("laying out {screen} in {language} on the host"))?;
    parse_buttons(&out)
}

/// `kaoyomi-screens --buttons`'s lines: `left top width height<TAB>label`.
fn parse_buttons(out: &str) -> Result<Vec<(String, [u32; 4])>> {
    out.lines()
        .map(|line| {
            let (place, label) = line.split_once('\t').with_context(|| format!("a button line: {line:?}"))?;
            let numbers: Vec<u32> = place.split(' ').map(str::parse).collect::<Result<_, _>>()?;
            let place: [u32; 4] = numbers.try_into().map_err(|_| anyhow::anyhow!("a button's place: {place:?}"))?;
            Ok((label.to_string(), place))
        })
        .collect()
}

/// The centre of a button's place.
fn centre([x, y, w, h]: [u32; 4]) -> (u32, u32) {
    (x + w / 2, y + h / 2)
}

/// The patient's size of panel (both heads are 1920x1080).
const PANEL: (u32, u32) = (1920, 1080);

/// The guest's request `KAOYOMI-TAP SCREEN LANGUAGE LABEL…`: once the patient's panel shows the
/// sample screen (its picture against the host's; otherwise nothing is tapped), a tap on the
/// button whose English label is (or begins with) LABEL, at the place the host's layout of the
/// same screen gives it.
fn tap_request(qmp: &mut Option<crate::qmp::Qmp>, socket: &Path, shots: &Path, words: &[&str]) -> Vec<String> {
    let [screen, language, label @ ..] = words else {
        return vec![format!("fail tap-request-understood {words:?}")];
    };
    let label = label.join(" ");
    let mut checks = screen_checks(qmp, socket, shots, (screen, language), &[0]);
    let name = format!("tap-{}-on-{screen}", label.to_lowercase().replace(|c: char| !c.is_alphanumeric(), "-"));
    let tapped = (|| -> Result<()> {
        if checks.iter().any(|c| !c.starts_with("pass")) {
            bail!("the panel does not show {screen}: no tap");
        }
        let found = buttons(screen, language, &shots.join(format!("{screen}.{language}.buttons.png")), None)?;
        let place = found
            .iter()
            .find(|(l, _)| *l == label || l.starts_with(&format!("{label} (")))
            .map(|(_, place)| *place)
            .with_context(|| format!("no button {label:?} on {screen}: {found:?}"))?;
        connected(qmp, socket)?.tap("video0", 0, centre(place), PANEL)
    })();
    match tapped {
        Ok(()) => checks.push(format!("pass {name}")),
        Err(e) => {
            eprintln!("xtask: {name}: {e:#}");
            checks.push(format!("fail {name}"));
        }
    }
    checks
}

/// The guest's request `KAOYOMI-PIN SCREEN LANGUAGE DIGITS`: the digits' places read from the
/// guest's shuffled pad (its picture against the host's keys, for up to 30 s while the guest
/// draws), then a tap on each digit's key in turn. The pad must be shuffled (ten keys in counting
/// order by chance: one in 3.6 million).
fn pin_request(qmp: &mut Option<crate::qmp::Qmp>, socket: &Path, shots: &Path, words: &[&str]) -> Vec<String> {
    let [screen, language, digits] = words else {
        return vec![format!("fail pin-request-understood {words:?}")];
    };
    let picture = shots.join(format!("{screen}-patient-panel.png"));
    let read = (|| -> Result<Vec<(u8, [u32; 4])>> {
        // The keys' places from the pad in counting order, then the pad drawn turned by one key
        // at a time: every digit on every key.
        let mut drawn = Vec::new();
        let mut places = Vec::new();
        for turn in 0..10 {
            let pad: Vec<u8> = (0..10).map(|i| COUNTING[(i + turn) % 10]).collect();
            let text: String = pad.iter().map(|d| char::from(b'0' + d)).collect();
            let png = shots.join(format!("{screen}.{language}.pad-{text}.png"));
            let keys = buttons(screen, language, &png, Some(&text))?;
            if turn == 0 {
                for digit in &pad {
                    let place = keys.iter().find(|(label, _)| *label == digit.to_string()).map(|(_, p)| *p);
                    places.push(place.with_context(|| format!("no key {digit} on {screen} on the host"))?);
                }
            }
            drawn.push((pad, ::image::open(&png)?.to_rgba8()));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            connected(qmp, socket)?.screendump("video0", 0, &picture)?;
            match crate::qmp::read_pad(&::image::open(&picture)?.to_rgba8(), &places, &drawn) {
                Ok(read) => return Ok(read),
                Err(e) if Instant::now() >= deadline => bail!("the pad on {} cannot be read: {e}", picture.display()),
                Err(_) => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    })();
    let read = match read {
        Ok(read) => read,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            return vec!["fail pin-pad-read-from-the-patient-panel".into()];
        }
    };
    let mut checks = vec!["pass pin-pad-read-from-the-patient-panel".to_string()];
    let shown: Vec<u8> = read.iter().map(|(d, _)| *d).collect();
    checks.push(format!("{} pin-pad-shuffled", if shown == COUNTING { "fail" } else { "pass" }));
    let tapped = (|| -> Result<()> {
        for c in digits.chars() {
            let digit = c.to_digit(10).context("a PIN digit")? as u8;
            let (_, place) = read.iter().find(|(d, _)| *d == digit).context("every digit is on the pad")?;
            connected(qmp, socket)?.tap("video0", 0, centre(*place), PANEL)?;
            std::thread::sleep(Duration::from_millis(300));
        }
        Ok(())
    })();
    match tapped {
        Ok(()) => checks.push("pass pin-tapped-on-the-touch-panel".into()),
        Err(e) => {
            eprintln!("xtask: tapping the PIN: {e:#}");
            checks.push("fail pin-tapped-on-the-touch-panel".into());
        }
    }
    checks
}

/// The staff display: head 1 of the virtio GPU, with the staff's keyboard and mouse bound to it.
const STAFF_HEAD: (&str, u32) = ("video0", 1);

/// The guest's request `KAOYOMI-CLICK NAME LABEL…`: a click of the staff's mouse on the staff
/// display's button (toggle, choice, tab) whose English label is LABEL, at the place the host's
/// layout of NAME gives it (a sample screen's staff display, or `maintenance-<page>`).
fn click_request(qmp: &mut Option<crate::qmp::Qmp>, socket: &Path, words: &[&str]) -> Vec<String> {
    let [name, label @ ..] = words else {
        return vec![format!("fail click-request-understood {words:?}")];
    };
    let label = label.join(" ");
    let check = format!("click-{}-on-{name}", label.to_lowercase().replace(|c: char| !c.is_alphanumeric(), "-"));
    let clicked = (|| -> Result<()> {
        let out = screens().args(["--staff-buttons", name]).read(&format!("laying out the staff display's {name}"))?;
        let found = parse_buttons(&out)?;
        let place = found
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, place)| *place)
            .with_context(|| format!("no button {label:?} on the staff display's {name}: {found:?}"))?;
        connected(qmp, socket)?.click(STAFF_HEAD, centre(place))
    })();
    match clicked {
        Ok(()) => vec![format!("pass {check}")],
        Err(e) => {
            eprintln!("xtask: {check}: {e:#}");
            vec![format!("fail {check}")]
        }
    }
}

/// The guest's request `KAOYOMI-TYPE WORD…`: the words typed one after another on the staff's
/// keyboard, `<tab>` and `<enter>` as those keys.
fn type_request(qmp: &mut Option<crate::qmp::Qmp>, socket: &Path, words: &[&str]) -> Vec<String> {
    let text: String = words
        .iter()
        .map(|w| match *w {
            "<tab>" => "\t",
            "<enter>" => "\n",
            w => w,
        })
        .collect();
    match connected(qmp, socket).and_then(|q| q.type_text(STAFF_HEAD, &text)) {
        Ok(()) => vec!["pass typed-on-the-staff-keyboard".into()],
        Err(e) => {
            // What was asked is not repeated: it may be a password.
            eprintln!("xtask: typing on the staff keyboard: {e:#}");
            vec!["fail typed-on-the-staff-keyboard".into()]
        }
    }
}

/// What one boot of the guest reported.
struct Run {
    checks: Vec<String>,
    ready: Option<Duration>,
    finished: bool,
    timed_out: bool,
    console: String,
    status: std::process::ExitStatus,
    took: Duration,
}

/// Boots `image` under qemu-system-aarch64 twice and reads the in-guest checks: the first boot
/// (at most 600 s) runs every check and ends in a power cut (QEMU killed once the guest says it
/// is done, before it powers off); the second (at most 180 s) starts on the same state disk and
/// checks what the first left there.
pub fn boot(image: Image) -> Result<()> {
    let size = std::fs::metadata(&image.initramfs)?.len() + std::fs::metadata(&image.root)?.len();
    let started = Instant::now();
    let first = boot_once(&image, false)?;
    std::fs::write(out_dir().join("qemu-console.log"), &first.console)?;
    eprintln!("xtask: the first boot ended in a power cut after {:.0} s; booting again", first.took.as_secs_f64());
    let second = boot_once(&image, true)?;
    std::fs::write(out_dir().join("qemu-console-after-power-cut.log"), &second.console)?;
    eprintln!(
        "xtask: image size {:.1} MB (initramfs + read-only root), console logs {}",
        size as f64 / 1e6,
        out_dir().join("qemu-console*.log").display()
    );
    for (run, which) in [(&first, "first boot"), (&second, "after the power cut")] {
        match run.ready {
            Some(t) => eprintln!(
                "xtask: boot-to-ready {:.1} s, {which} (QEMU start to the reader's unit up, its USB gadget bound; TCG)",
                t.as_secs_f64()
            ),
            None => eprintln!("xtask: the reader never became ready ({which})"),
        }
    }
    let mut failed = Vec::new();
    for (run, which) in [(&first, "first boot"), (&second, "after the power cut")] {
        let bad: Vec<&String> = run.checks.iter().filter(|c| !c.starts_with("pass")).collect();
        if run.timed_out {
            eprintln!("xtask: the guest was stopped after its time ({which})");
        }
        if !run.finished || run.checks.is_empty() || !bad.is_empty() {
            let tail: Vec<&str> = run.console.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
            eprintln!("{}", tail.join("\n"));
            failed.push(format!(
                "{which}: {} checks, failed {bad:?}, finished {}, qemu {}",
                run.checks.len(),
                run.finished,
                run.status
            ));
        }
    }
    if !failed.is_empty() {
        bail!("QEMU test failed: {}", failed.join("; "));
    }
    eprintln!(
        "xtask: QEMU test passed: {} checks in {:.0} s ({} after the power cut)",
        first.checks.len() + second.checks.len(),
        started.elapsed().as_secs_f64(),
        second.checks.len()
    );
    Ok(())
}

/// One boot of `image`: the first (checks, then the power cut) or the one after the power cut.
fn boot_once(image: &Image, after_power_cut: bool) -> Result<Run> {
    let Image { kernel, initramfs: initrd, root: rootfs, state } = image;
    let qmp_socket = out_dir().join("qmp.sock");
    let shots = out_dir().join("screens");
    let _ = std::fs::remove_file(&qmp_socket);
    if !after_power_cut {
        let _ = std::fs::remove_dir_all(&shots);
    }
    std::fs::create_dir_all(&shots)?;
    eprintln!(
        "xtask: booting the image under qemu-system-aarch64{}",
        if after_power_cut { " after the power cut" } else { "" }
    );
    let started = Instant::now();
    let mut append = String::from(
        "console=ttyAMA0 panic=-1 rdinit=/init quiet loglevel=3 systemd.show_status=false video=Virtual-2:e",
    );
    if after_power_cut {
        append.push_str(" kaoyomi.after=power-cut");
    }
    let mut qemu = cmd("qemu-system-aarch64")
        .args(["-machine", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", "1024"])
        .args(["-nographic", "-serial", "stdio", "-monitor", "none", "-no-reboot", "-nic", "none"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .arg("-drive")
        .arg(format!("file={},if=none,format=raw,id=root,readonly=on", rootfs.display()))
        .args(["-device", "virtio-blk-pci,drive=root"])
        .arg("-drive")
        .arg(format!("file={},if=none,format=raw,id=state", state.display()))
        .args(["-device", "virtio-blk-pci,drive=state"])
        // The two displays (the patient's panel on output 0, the staff display on output 1; QEMU
        // lights only output 0 without a UI, the guest's `video=` turns the second on), the
        // touch panel bound to the patient's head, and the staff's USB keyboard and mouse bound
        // to the staff display's.
        .args(["-device", "virtio-gpu-pci,id=video0,max_outputs=2,xres=1920,yres=1080"])
        .args(["-device", "virtio-tablet-pci,display=video0,head=0"])
        .args(["-device", "virtio-keyboard-pci,display=video0,head=1"])
        .args(["-device", "virtio-mouse-pci,display=video0,head=1"])
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", qmp_socket.display()))
        .args(["-append", &append])
        .into_command()?
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("booting the image under qemu-system-aarch64")?;
    let mut console_in = qemu.stdin.take().context("qemu stdin")?;
    let mut qmp: Option<crate::qmp::Qmp> = None;
    // The console's lines come through a channel, so that a guest that hangs is stopped.
    let out = qemu.stdout.take().context("qemu stdout")?;
    let (lines, console_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = started + Duration::from_secs(if after_power_cut { 180 } else { 600 });
    let mut checks = Vec::new();
    let mut ready = None;
    let mut finished = false;
    let mut timed_out = false;
    let mut console = String::new();
    loop {
        let line = match console_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => line,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                let _ = qemu.kill();
                break;
            }
        };
        console.push_str(&line);
        console.push('\n');
        if line.contains("KAOYOMI-READY") && ready.is_none() {
            ready = Some(started.elapsed());
        }
        if let Some(rest) = line.split("KAOYOMI-CHECK ").nth(1) {
            eprintln!("xtask: guest check: {rest}");
            checks.push(rest.trim().to_string());
        }
        if let Some(rest) = line.split("KAOYOMI-MEASURE ").nth(1) {
            eprintln!("xtask: guest measure: {rest}");
        }
        // The guest shows a screen and waits: each head's picture against its reference, then
        // the answer on the console.
        // The guest asks for taps on its touch panel: on a button, or a PIN on the shuffled pad;
        // for clicks of the staff's mouse and typing on the staff's keyboard.
        let request = ["KAOYOMI-SHOT ", "KAOYOMI-TAP ", "KAOYOMI-PIN ", "KAOYOMI-CLICK ", "KAOYOMI-TYPE "]
            .into_iter()
            .find_map(|mark| line.split(mark).nth(1).map(|rest| (mark, rest.split_whitespace().collect::<Vec<_>>())));
        if let Some((mark, words)) = request {
            let done = match (mark, &words[..]) {
                ("KAOYOMI-SHOT ", [screen, language]) => {
                    screen_checks(&mut qmp, &qmp_socket, &shots, (screen, language), &[0, 1])
                }
                ("KAOYOMI-TAP ", _) => tap_request(&mut qmp, &qmp_socket, &shots, &words),
                ("KAOYOMI-PIN ", _) => pin_request(&mut qmp, &qmp_socket, &shots, &words),
                ("KAOYOMI-CLICK ", _) => click_request(&mut qmp, &qmp_socket, &words),
                ("KAOYOMI-TYPE ", _) => type_request(&mut qmp, &qmp_socket, &words),
                _ => vec![format!("fail request-understood {}{words:?}", mark.trim())],
            };
            for check in done {
                eprintln!("xtask: host check: {check}");
                checks.push(check);
            }
            use std::io::Write;
            let _ = writeln!(console_in, "done");
        }
        if line.contains("KAOYOMI-DONE") {
            finished = true;
            if !after_power_cut {
                // The power cut: QEMU killed before the guest powers off (no unmount, no sync).
                let _ = qemu.kill();
            }
        }
    }
    let status = qemu.wait()?;
    Ok(Run { checks, ready, finished, timed_out, console, status, took: started.elapsed() })
}

/// The crates whose results can differ on ARM, tested for aarch64: the wire bytes (protocol),
/// the card's parsers and APDUs (myna), frames and sound (hal), the board files, the session
/// logic (core), and the numerics of the networks through tract with the pixel work around them
/// (models, vision: its `networks` test runs each model on real pictures). The composition
/// (reader, terminal, simulator, the end-to-end tests) runs on aarch64 in the QEMU guest instead.
pub const AARCH64_PACKAGES: &[&str] = &[
    "kaoyomi-core",
    "kaoyomi-protocol",
    "kaoyomi-myna",
    "kaoyomi-hal",
    "kaoyomi-board",
    "kaoyomi-models",
    "kaoyomi-vision",
];

/// The tests of [`AARCH64_PACKAGES`] built for aarch64 (Debian's rustc-web) and run under
/// `qemu-aarch64` user mode, so that byte-order, alignment and SIMD differences show up before
/// a device does.
pub fn test_aarch64() -> Result<()> {
    run_aarch64_tests(&build_aarch64_tests(false)?)
}

/// The aarch64 test executables, each with the package directory it runs in.
pub type Aarch64Tests = Vec<(PathBuf, PathBuf)>;

/// Builds the tests of [`AARCH64_PACKAGES`] for aarch64; `niced`: at the lowest CPU priority and
/// without progress lines (beside other work, once the test rig is built: they share its profile).
pub fn build_aarch64_tests(niced: bool) -> Result<Aarch64Tests> {
    ensure(&[Need::Build, Need::Cross, Need::Emulate])?;
    let mut build = if niced { cross_cargo_niced() } else { cross_cargo() }
        // No debug information: smaller executables, quicker links; panics still name the test
        // and the message.
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        .env("CARGO_PROFILE_TEST_DEBUG", "0")
        .args(["test", "--no-run", "--features", "kaoyomi-vision/models"]);
    if niced {
        build = build.arg("--quiet");
    }
    for p in AARCH64_PACKAGES {
        build = build.args(["-p", p]);
    }
    eprintln!("xtask: building the tests of {} crates for {TARGET}", AARCH64_PACKAGES.len());
    let build_started = Instant::now();
    let out = build
        .args(["--target", TARGET, "--message-format=json-render-diagnostics"])
        .read("building the tests for aarch64")?;
    // Test executables, each with the package directory it runs in (snapshots, fixtures).
    let mut tests = Vec::new();
    for line in out.lines() {
        if !line.contains("\"reason\":\"compiler-artifact\"") || !line.contains("\"test\":true") {
            continue;
        }
        let field = |name: &str| -> Option<String> {
            let start = line.find(&format!("\"{name}\":\""))? + name.len() + 4;
            Some(line[start..].split('"').next()?.to_string())
        };
        if let (Some(exe), Some(manifest)) = (field("executable"), field("manifest_path")) {
            tests.push((
                PathBuf::from(exe),
                PathBuf::from(manifest).parent().map(Path::to_path_buf).unwrap_or_else(root),
            ));
        }
    }
    if tests.is_empty() {
        bail!("no aarch64 test executables were built");
    }
    eprintln!("xtask: the aarch64 tests built in {:.0} s", build_started.elapsed().as_secs_f64());
    Ok(tests)
}

/// Runs the aarch64 tests under `qemu-aarch64` user mode.
pub fn run_aarch64_tests(tests: &Aarch64Tests) -> Result<()> {
    let started = Instant::now();
    for (exe, dir) in tests {
        cmd("qemu-aarch64")
            .dir(dir)
            .env("INSTA_UPDATE", "no")
            // Tests that run the face models over whole camera sessions take minutes per session
            // under emulation: they run on the host only (said in the test).
            .env("KAOYOMI_EMULATED", "qemu-aarch64")
            .args(["-L", "/"])
            .arg(exe)
            .arg("--quiet")
            .run(&format!("aarch64: {}", exe.file_name().and_then(|n| n.to_str()).unwrap_or("?")))?;
    }
    eprintln!(
        "xtask: {} aarch64 test executables passed under qemu-aarch64 in {:.0} s",
        tests.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
