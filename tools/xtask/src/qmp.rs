//! The host's side of the QEMU guest's screens: QMP (QEMU's machine protocol, JSON lines over a
//! Unix socket) to take each display head's picture, and the comparison of a picture with what the
//! software renderer draws on the host for the same screen (both at a quarter of the size, the
//! thresholds of `ui/tests/reference.rs`); taps on the touch panel bound to the patient's head
//! (`input-send-event`), and the reading of the guest's shuffled PIN pad from its picture.

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

/// The largest coordinate of QEMU's absolute pointer events (`INPUT_EVENT_ABS_MAX`): 0..=0x7fff
/// span the head.
const ABS_MAX: u64 = 0x7fff;

impl Qmp {
    /// A tap (press, then release 80 ms later) at pixel `x`, `y` of head `head` of the display
    /// device `device`, `width` x `height` pixels, on the touch device bound to that head.
    pub fn tap(&mut self, device: &str, head: u32, (x, y): (u32, u32), (width, height): (u32, u32)) -> Result<()> {
        let scale =
            |v: u32, size: u32| ((u64::from(v) * 2 + 1) * (ABS_MAX + 1) / (2 * u64::from(size.max(1)))).min(ABS_MAX);
        let send = |qmp: &mut Qmp, events: String| {
            qmp.execute(&format!(
                "{{\"execute\":\"input-send-event\",\"arguments\":{{\"device\":\"{device}\",\"head\":{head},\"events\":[{events}]}}}}"
            ))
        };
        let button = |down: bool| format!("{{\"type\":\"btn\",\"data\":{{\"down\":{down},\"button\":\"left\"}}}}");
        let axis = |axis: &str, v: u64| format!("{{\"type\":\"abs\",\"data\":{{\"axis\":\"{axis}\",\"value\":{v}}}}}");
        send(self, format!("{},{},{}", axis("x", scale(x, width)), axis("y", scale(y, height)), button(true)))?;
        std::thread::sleep(Duration::from_millis(80));
        send(self, button(false))?;
        Ok(())
    }

    /// Sends `events` (JSON objects) to the input devices bound to head `head` of the display
    /// device `device`.
    fn input(&mut self, (device, head): (&str, u32), events: &[String]) -> Result<()> {
        self.execute(&format!(
            "{{\"execute\":\"input-send-event\",\"arguments\":{{\"device\":\"{device}\",\"head\":{head},\"events\":[{}]}}}}",
            events.join(",")
        ))?;
        Ok(())
    }

    /// Types `text` on the keyboard bound to head `head` of the display device `device`, key by key (down, then up 30 ms later) with Shift
    /// where a JIS keyboard needs it; `\t` is Tab and `\n` Enter.
    pub fn type_text(&mut self, device: (&str, u32), text: &str) -> Result<()> {
        let key = |code: &str, down: bool| {
            format!(
                "{{\"type\":\"key\",\"data\":{{\"down\":{down},\"key\":{{\"type\":\"qcode\",\"data\":\"{code}\"}}}}}}"
            )
        };
        for c in text.chars() {
            let (code, shift) = jis_key(c).with_context(|| format!("{c:?} cannot be typed"))?;
            if shift {
                self.input(device, &[key("shift", true)])?;
            }
            self.input(device, &[key(&code, true)])?;
            std::thread::sleep(Duration::from_millis(30));
            self.input(device, &[key(&code, false)])?;
            if shift {
                self.input(device, &[key("shift", false)])?;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        Ok(())
    }

    /// Moves the relative mouse bound to head `head` of the display device `device` to its pixel
    /// `x`, `y` (first to
    /// the top-left corner, where the guest's pointer stops, then by the place's pixels: the
    /// guest moves one pixel per count) and clicks its left button.
    pub fn click(&mut self, device: (&str, u32), (x, y): (u32, u32)) -> Result<()> {
        let moved = |dx: i64, dy: i64| {
            [("x", dx), ("y", dy)]
                .map(|(axis, v)| format!("{{\"type\":\"rel\",\"data\":{{\"axis\":\"{axis}\",\"value\":{v}}}}}"))
                .to_vec()
        };
        let button =
            |down: bool| vec![format!("{{\"type\":\"btn\",\"data\":{{\"down\":{down},\"button\":\"left\"}}}}")];
        self.input(device, &moved(-10_000, -10_000))?;
        std::thread::sleep(Duration::from_millis(50));
        self.input(device, &moved(i64::from(x), i64::from(y)))?;
        std::thread::sleep(Duration::from_millis(100));
        self.input(device, &button(true))?;
        std::thread::sleep(Duration::from_millis(80));
        self.input(device, &button(false))
    }
}

/// QEMU's key code for `c` on a JIS (106/109-key) keyboard, and whether Shift is held: letters,
/// digits, `-`, `@`, Tab and Enter.
fn jis_key(c: char) -> Option<(String, bool)> {
    Some(match c {
        'a'..='z' | '0'..='9' => (c.to_string(), false),
        'A'..='Z' => (c.to_ascii_lowercase().to_string(), true),
        '-' => ("minus".into(), false),
        // The key right of P, which is [ on a US keyboard.
        '@' => ("bracket_left".into(), false),
        '\t' => ("tab".into(), false),
        '\n' => ("ret".into(), false),
        _ => return None,
    })
}

/// The share of pixels off by more than 48 in a channel between `a` and `b` over the rectangle
/// `[x, y, w, h]` (None when it lies outside either picture).
fn patch_difference(a: &::image::RgbaImage, b: &::image::RgbaImage, [x, y, w, h]: [u32; 4]) -> Option<f64> {
    if x + w > a.width().min(b.width()) || y + h > a.height().min(b.height()) {
        return None;
    }
    let mut off = 0u32;
    for y in y..y + h {
        for x in x..x + w {
            let (p, q) = (a.get_pixel(x, y), b.get_pixel(x, y));
            off += u32::from((0..3).any(|c| p[c].abs_diff(q[c]) > 48));
        }
    }
    Some(f64::from(off) / f64::from((w * h).max(1)))
}

/// Which digit each key of the guest's PIN pad shows, read from the guest's `picture`: `places`
/// are the keys' places (left, top, width, height; the pad's order), `drawn` the host's pictures
/// of the same screen with the keys showing the given digits (turned so that every digit is drawn
/// on every key). Each key of the guest's picture is compared with every digit drawn on the same
/// key; the nearest must be close (at most 0.4% of its pixels off; two digits' keys differ in 1.6%
/// or more) and clearly nearer than the next digit (by 1% of the pixels), and the keys must show
/// as many different digits as there are keys. Returns each key's digit and place.
pub fn read_pad(
    picture: &::image::RgbaImage,
    places: &[[u32; 4]],
    drawn: &[(Vec<u8>, ::image::RgbaImage)],
) -> std::result::Result<Vec<(u8, [u32; 4])>, String> {
    let mut found: Vec<(u8, [u32; 4])> = Vec::new();
    for (key, &place) in places.iter().enumerate() {
        let [x, y, ..] = place;
        let mut nearest: Vec<(f64, u8)> = drawn
            .iter()
            .filter_map(|(pad, host)| Some((patch_difference(picture, host, place)?, *pad.get(key)?)))
            .collect();
        nearest.sort_by(|a, b| a.0.total_cmp(&b.0));
        let best = nearest.first().copied();
        let next = best.and_then(|(_, digit)| nearest.iter().find(|(_, d)| *d != digit).copied());
        match (best, next) {
            (Some((best, digit)), Some((next, _))) if best <= 0.004 && next - best >= 0.01 => {
                found.push((digit, place))
            }
            (Some((best, _)), Some((next, _))) => {
                return Err(format!(
                    "the key at {x},{y} is unclear ({:.2}% of its pixels off the nearest digit, {:.2}% off the next)",
                    best * 100.0,
                    next * 100.0
                ));
            }
            _ => {
                return Err(format!("the key at {x},{y} lies outside the pictures or has fewer than two digits drawn"));
            }
        }
    }
    let mut digits: Vec<u8> = found.iter().map(|(d, _)| *d).collect();
    digits.sort_unstable();
    digits.dedup();
    if digits.len() != places.len() {
        return Err(format!("the pad shows {} different digits on {} keys", digits.len(), places.len()));
    }
    Ok(found)
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

#[cfg(test)]
mod tests {
    use super::read_pad;
    use ::image::{Rgba, RgbaImage};

    /// Ten keys of 20x20 in a row, key `i` showing digit `digits[i]` as a bar of that many pixels'
    /// height.
    fn pad(digits: &[u8]) -> RgbaImage {
        let mut picture = RgbaImage::from_pixel(240, 40, Rgba([255, 255, 255, 255]));
        for (i, &d) in digits.iter().enumerate() {
            for y in 0..(2 * u32::from(d) + 1) {
                for x in 5..12 {
                    picture.put_pixel(22 * i as u32 + x, 39 - y, Rgba([0, 0, 0, 255]));
                }
            }
        }
        picture
    }

    fn places() -> Vec<[u32; 4]> {
        (0..10).map(|i| [22 * i, 0, 20, 40]).collect()
    }

    #[test]
    fn a_shuffled_pad_is_read_and_a_damaged_one_refused() {
        let counting: Vec<u8> = (1..10).chain([0]).collect();
        let drawn: Vec<(Vec<u8>, RgbaImage)> = (0..10)
            .map(|r| {
                let turned: Vec<u8> = (0..10).map(|i| counting[(i + r) % 10]).collect();
                let picture = pad(&turned);
                (turned, picture)
            })
            .collect();
        let shuffled = [7, 3, 0, 9, 1, 4, 8, 2, 6, 5];
        let read = read_pad(&pad(&shuffled), &places(), &drawn).unwrap();
        let digits: Vec<u8> = read.iter().map(|(d, _)| *d).collect();
        assert_eq!(digits, shuffled);
        assert_eq!(read[2].1, places()[2], "each digit keeps the place it was read at");
        // A key the host cannot tell (here blank) and a pad showing a digit twice are refused.
        let mut blank = pad(&shuffled);
        for y in 0..40 {
            for x in 0..20 {
                blank.put_pixel(x, y, Rgba([255, 255, 255, 255]));
            }
        }
        assert!(read_pad(&blank, &places(), &drawn).unwrap_err().contains("unclear"));
        let twice = [7, 3, 0, 9, 1, 4, 8, 2, 6, 6];
        assert!(read_pad(&pad(&twice), &places(), &drawn).unwrap_err().contains("different digits"));
    }
}
