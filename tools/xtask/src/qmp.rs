//! The host's side of the QEMU guest's screens: QMP (QEMU's machine protocol, JSON lines over a
//! Unix socket) to take each display head's picture, and the comparison of a picture with what the
//! software renderer draws on the host for the same screen (both at a quarter of the size, the
//! thresholds of `ui/tests/reference.rs`).

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// A QMP connection, past the capabilities handshake.
pub struct Qmp {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Qmp {
    /// Connects to QEMU's QMP socket at `path`.
    pub fn connect(path: &Path) -> Result<Qmp> {
        let stream = UnixStream::connect(path).with_context(|| format!("connecting to QMP at {}", path.display()))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut qmp = Qmp { writer: stream.try_clone()?, reader: BufReader::new(stream) };
        let mut greeting = String::new();
        qmp.reader.read_line(&mut greeting)?;
        if !greeting.contains("\"QMP\"") {
            bail!("QEMU did not greet as QMP: {greeting}");
        }
        qmp.execute("{\"execute\":\"qmp_capabilities\"}")?;
        Ok(qmp)
    }

    /// Sends one command and returns its answer (events that arrive meanwhile are skipped).
    pub fn execute(&mut self, command: &str) -> Result<String> {
        writeln!(self.writer, "{command}")?;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("QEMU closed the QMP connection");
            }
            if line.contains("\"return\"") {
                return Ok(line);
            }
            if line.contains("\"error\"") {
                bail!("QMP {command}: {}", line.trim());
            }
        }
    }

    /// Writes `head` of the display device `device` as a PNG at `to` (a host path).
    pub fn screendump(&mut self, device: &str, head: u32, to: &Path) -> Result<()> {
        let _ = std::fs::remove_file(to);
        self.execute(&format!(
            "{{\"execute\":\"screendump\",\"arguments\":{{\"filename\":\"{}\",\"device\":\"{device}\",\"head\":{head},\"format\":\"png\"}}}}",
            to.display()
        ))?;
        Ok(())
    }
}

/// The picture at a quarter of its size, each pixel the mean of 4x4 (how references are kept).
fn quarter(picture: &::image::RgbaImage) -> ::image::RgbaImage {
    let (w, h) = (picture.width() / 4, picture.height() / 4);
    ::image::RgbaImage::from_fn(w, h, |x, y| {
        let mut sum = [0u32; 4];
        for dy in 0..4 {
            for dx in 0..4 {
                let p = picture.get_pixel(4 * x + dx, 4 * y + dy);
                for (s, c) in sum.iter_mut().zip(p.0) {
                    *s += u32::from(c);
                }
            }
        }
        ::image::Rgba(sum.map(|s| (s / 16) as u8))
    })
}

/// How far `picture` is from `reference` (both full size, compared at a quarter of it): the share
/// of pixels off by more than 48 in a channel and the mean difference per channel; None when the
/// sizes differ.
pub fn difference(picture: &Path, reference: &Path) -> Result<Option<(f64, f64)>> {
    let shot = ::image::open(picture).with_context(|| format!("reading {}", picture.display()))?.to_rgba8();
    let expected = ::image::open(reference).with_context(|| format!("reading {}", reference.display()))?.to_rgba8();
    let (small, expected) = (quarter(&shot), quarter(&expected));
    if small.dimensions() != expected.dimensions() {
        return Ok(None);
    }
    let (mut off, mut sum) = (0usize, 0u64);
    for (p, q) in small.pixels().zip(expected.pixels()) {
        let d: Vec<u8> = (0..3).map(|c| p[c].abs_diff(q[c])).collect();
        if d.iter().any(|&d| d > 48) {
            off += 1;
        }
        sum += d.iter().map(|&d| u64::from(d)).sum::<u64>();
    }
    let n = f64::from(small.width() * small.height());
    Ok(Some((off as f64 / n, sum as f64 / (3.0 * n))))
}

/// Whether a difference is within the references' tolerance.
pub fn matches(difference: Option<(f64, f64)>) -> bool {
    difference.is_some_and(|(off, mean)| off <= 0.005 && mean <= 2.0)
}
