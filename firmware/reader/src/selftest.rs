//! Engineers' self-tests of the camera and the speaker (`kaoyomi-reader selftest camera|speaker`).
//!
//! Each proves the whole path through the kernel's own interface (V4L2, ALSA). With a loop-back
//! (vivid's HDMI output fed by a test tool, snd-aloop's capture side) the self-test also checks that what went in
//! came out, which is how the QEMU guest tests a board that has no camera and no speaker.

use anyhow::{Context, Result, bail};
use kaoyomi_hal::audio::{Speaker, chime, tone_share};
use kaoyomi_hal::camera::{Camera, Frame};
use kaoyomi_hal_linux::audio::{AlsaSpeaker, record};
use kaoyomi_hal_linux::camera::V4lCamera;
use std::path::Path;
use std::time::{Duration, Instant};

/// vivid's control "HDMI 000-0 Is Connected To" (its private control base 0x00f0f000 + 113).
const VIVID_HDMI_0_CONNECTED_TO: u32 = 0x00f0_f000 + 113;
/// The menu item after "Test Pattern Generator" and "Disconnected": the first HDMI output.
const VIVID_FIRST_OUTPUT: i64 = 2;

/// A picture of our own for the loop-back: a diagonal ramp with a dark block and a bright disc,
/// so that a shifted, scaled or replaced frame shows up in the comparison.
pub fn test_picture(width: u32, height: u32) -> Frame {
    let (w, h) = (width as i64, height as i64);
    let mut pixels = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let ramp = 40 + (150 * (x + y) / (w + h).max(1)) as u8;
            let block = x > w / 8 && x < w * 3 / 8 && y > h / 4 && y < h * 3 / 4;
            let (dx, dy) = (x - w * 2 / 3, y - h / 2);
            let disc = dx * dx + dy * dy < (h / 5) * (h / 5);
            pixels.push(if block {
                10
            } else if disc {
                240
            } else {
                ramp
            });
        }
    }
    Frame::new(width, height, pixels, 0).expect("the picture has width * height pixels")
}

/// Mean absolute difference between two frames of one size, over the lower three quarters (the
/// test driver writes its status text into the top rows).
fn difference(a: &Frame, b: &Frame) -> f64 {
    let (w, h) = (a.width() as usize, a.height() as usize);
    let skip = h / 4 * w;
    let (pa, pb) = (&a.pixels()[skip..], &b.pixels()[skip..]);
    pa.iter().zip(pb).map(|(&x, &y)| u64::from(x.abs_diff(y))).sum::<u64>() as f64 / pa.len().max(1) as f64
}

/// `selftest camera`: streams `frames` frames from `device` and reports size, rate and drops.
/// With `looped`, first routes vivid's HDMI output into the camera and checks that
/// [`test_picture`] (played into that output by a test tool) comes back.
pub fn camera(device: &Path, frames: u32, width: u32, height: u32, looped: bool) -> Result<()> {
    let mut camera = V4lCamera::open(device, width, height)?;
    let (w, h) = camera.size();
    println!("camera: {} on {}: {w}x{h} {}", camera.card_name(), device.display(), camera.pixel_format());
    if looped {
        camera
            .set_control(VIVID_HDMI_0_CONNECTED_TO, VIVID_FIRST_OUTPUT)
            .context("routing the test output into the camera (vivid's 'HDMI 000-0 Is Connected To')")?;
        let picture = test_picture(w, h);
        let mut best = f64::MAX;
        // What came instead, for the error: how much one frame differs from the one before
        // (test patterns stand still, the driver's "no signal" noise does not).
        let (mut previous, mut change) = (None::<Frame>, 0.0);
        for _ in 0..frames.max(10) {
            let frame = camera.next_frame()?;
            best = best.min(difference(&frame, &picture));
            if best < 4.0 {
                break;
            }
            if let Some(p) = &previous {
                change = difference(&frame, p);
            }
            previous = Some(frame);
        }
        if best >= 4.0 {
            bail!("our picture did not come back (mean difference {best:.1}; frame-to-frame change {change:.1})");
        }
        println!("camera: our picture came back through the loop (mean difference {best:.2})");
        return Ok(());
    }
    let started = Instant::now();
    let (mut first, mut last, mut brightness) = (None, 0, 0.0);
    for _ in 0..frames {
        let frame = camera.next_frame()?;
        first.get_or_insert(frame.sequence());
        last = frame.sequence();
        brightness += frame.mean();
    }
    let secs = started.elapsed().as_secs_f64();
    let expected = last.wrapping_sub(first.unwrap_or(last)) + 1;
    println!(
        "camera: {frames} frames in {secs:.2} s ({:.1} fps), {} dropped, mean brightness {:.0}",
        f64::from(frames) / secs.max(1e-9),
        expected.saturating_sub(frames),
        brightness / f64::from(frames.max(1)),
    );
    Ok(())
}

/// `selftest test-picture`: writes [`test_picture`] as raw 8-bit greyscale, for a test tool to
/// play into a loop-back output.
pub fn write_test_picture(out: &Path, width: u32, height: u32) -> Result<()> {
    std::fs::write(out, test_picture(width, height).pixels()).with_context(|| format!("writing {}", out.display()))
}

/// `selftest speaker`: plays the chime on `device`; with `loopback`, records that capture device at
/// the same time and checks that both tones of the chime were heard, in order.
pub fn speaker(device: &str, loopback: Option<&str>) -> Result<()> {
    const RATE: u32 = 16_000;
    let sound = chime(RATE);
    let mut speaker = AlsaSpeaker::new(device);
    let Some(capture) = loopback else {
        speaker.play(&sound, RATE)?;
        println!("speaker: chime played on {device} ({} ms)", sound.len() as u32 * 1000 / RATE);
        return Ok(());
    };
    let count = sound.len() + RATE as usize;
    let recorder = {
        let capture = capture.to_string();
        std::thread::spawn(move || record(&capture, RATE, count))
    };
    std::thread::sleep(Duration::from_millis(100));
    speaker.play(&sound, RATE)?;
    let heard = recorder.join().map_err(|_| anyhow::anyhow!("the recorder stopped"))??;
    // The window (100 ms) where each tone is strongest, and where it lies.
    let window = RATE as usize / 10;
    let strongest = |freq: f64| {
        heard
            .chunks(window)
            .enumerate()
            .map(|(i, c)| (tone_share(c, RATE, freq), i))
            .fold((0.0, 0), |best, x| if x.0 > best.0 { x } else { best })
    };
    let (high, high_at) = strongest(880.0);
    let (low, low_at) = strongest(660.0);
    if high < 0.5 || low < 0.5 || high_at >= low_at {
        bail!("the chime was not heard back on {capture} (880 Hz share {high:.2}, 660 Hz share {low:.2})");
    }
    println!("speaker: chime heard back on {capture} (880 Hz share {high:.2}, then 660 Hz share {low:.2})");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_picture_differs_from_a_flat_frame() {
        let picture = test_picture(64, 48);
        let flat = Frame::new(64, 48, vec![128; 64 * 48], 0).expect("size");
        assert_eq!(difference(&picture, &picture), 0.0);
        assert!(difference(&picture, &flat) > 20.0);
    }
}
