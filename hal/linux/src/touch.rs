//! The touch screen through evdev: absolute X/Y and BTN_TOUCH (a panel) or BTN_LEFT (QEMU's
//! virtio tablet) become taps, in panel units or scaled to the screen's pixels.
//! [`UinputTouchscreen`] makes a virtual panel through uinput, for the self-test and the QEMU guest,
//! which has no panel.

use evdev::uinput::VirtualDevice;
use evdev::{AbsInfo, AbsoluteAxisCode, AttributeSet, Device, EventSummary, InputEvent, KeyCode, UinputAbsSetup};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A finished touch: finger down then up, at the last position seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tap {
    /// X in panel units.
    pub x: i32,
    /// Y in panel units.
    pub y: i32,
}

/// A touch panel's event device.
pub struct EvdevTouch {
    device: Device,
    x: i32,
    y: i32,
    down: bool,
}

/// Whether `device` reports absolute X and Y with a touch or a left button: a touch panel.
fn is_touch_panel(device: &Device) -> bool {
    let axes = device
        .supported_absolute_axes()
        .is_some_and(|a| a.contains(AbsoluteAxisCode::ABS_X) && a.contains(AbsoluteAxisCode::ABS_Y));
    let keys = device.supported_keys().is_some_and(|k| k.contains(KeyCode::BTN_TOUCH) || k.contains(KeyCode::BTN_LEFT));
    axes && keys
}

/// `v` within the panel's `(minimum, maximum)` as a pixel of a screen `size` pixels across.
fn scale(v: i32, (lo, hi): (i32, i32), size: u32) -> u32 {
    let span = i64::from(hi) - i64::from(lo) + 1;
    ((i64::from(v.clamp(lo, hi)) - i64::from(lo)) * i64::from(size) / span.max(1)) as u32
}

impl EvdevTouch {
    /// Opens `/dev/input/eventN`.
    pub fn open(path: &Path) -> io::Result<EvdevTouch> {
        let device = Device::open(path)?;
        device.set_nonblocking(true)?;
        Ok(EvdevTouch { device, x: 0, y: 0, down: false })
    }

    /// The first touch panel among the input devices (absolute X/Y with a touch or a left
    /// button), for boards whose panel's node is not fixed.
    pub fn find() -> Option<PathBuf> {
        evdev::enumerate().find(|(_, device)| is_touch_panel(device)).map(|(path, _)| path)
    }

    /// Where `tap` falls on a screen of `width` x `height` pixels spanning the panel's range.
    pub fn to_screen(&self, tap: Tap, width: u32, height: u32) -> io::Result<(u32, u32)> {
        let (mut x_range, mut y_range) = ((0, width as i32 - 1), (0, height as i32 - 1));
        for (axis, info) in self.device.get_absinfo()? {
            match axis {
                AbsoluteAxisCode::ABS_X => x_range = (info.minimum(), info.maximum()),
                AbsoluteAxisCode::ABS_Y => y_range = (info.minimum(), info.maximum()),
                _ => {}
            }
        }
        Ok((scale(tap.x, x_range, width), scale(tap.y, y_range, height)))
    }

    /// Waits up to `timeout` for a tap.
    pub fn next_tap(&mut self, timeout: Duration) -> io::Result<Option<Tap>> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.device.fetch_events() {
                Ok(events) => {
                    for event in events {
                        match event.destructure() {
                            EventSummary::AbsoluteAxis(_, AbsoluteAxisCode::ABS_X, v) => self.x = v,
                            EventSummary::AbsoluteAxis(_, AbsoluteAxisCode::ABS_Y, v) => self.y = v,
                            EventSummary::Key(_, KeyCode::BTN_TOUCH | KeyCode::BTN_LEFT, 1) => self.down = true,
                            EventSummary::Key(_, KeyCode::BTN_TOUCH | KeyCode::BTN_LEFT, 0) if self.down => {
                                self.down = false;
                                return Ok(Some(Tap { x: self.x, y: self.y }));
                            }
                            _ => {}
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A virtual touchscreen made through uinput.
pub struct UinputTouchscreen {
    device: VirtualDevice,
}

impl UinputTouchscreen {
    /// A `width` × `height` panel named `name`.
    pub fn create(name: &str, width: i32, height: i32) -> io::Result<UinputTouchscreen> {
        let mut keys = AttributeSet::<KeyCode>::new();
        keys.insert(KeyCode::BTN_TOUCH);
        let device = VirtualDevice::builder()?
            .name(name)
            .with_keys(&keys)?
            .with_absolute_axis(&UinputAbsSetup::new(AbsoluteAxisCode::ABS_X, AbsInfo::new(0, 0, width - 1, 0, 0, 1)))?
            .with_absolute_axis(&UinputAbsSetup::new(AbsoluteAxisCode::ABS_Y, AbsInfo::new(0, 0, height - 1, 0, 0, 1)))?
            .build()?;
        Ok(UinputTouchscreen { device })
    }

    /// The event device the kernel made for it.
    pub fn event_node(&mut self) -> io::Result<PathBuf> {
        for node in self.device.enumerate_dev_nodes_blocking()? {
            let node = node?;
            if node.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("event")) {
                return Ok(node);
            }
        }
        Err(io::Error::new(io::ErrorKind::NotFound, "uinput made no event device"))
    }

    /// Taps at (`x`, `y`).
    pub fn tap(&mut self, x: i32, y: i32) -> io::Result<()> {
        let ev = |kind, code, value| InputEvent::new(kind, code, value);
        let abs = evdev::EventType::ABSOLUTE.0;
        let key = evdev::EventType::KEY.0;
        self.device.emit(&[
            ev(abs, AbsoluteAxisCode::ABS_X.0, x),
            ev(abs, AbsoluteAxisCode::ABS_Y.0, y),
            ev(key, KeyCode::BTN_TOUCH.0, 1),
        ])?;
        self.device.emit(&[ev(key, KeyCode::BTN_TOUCH.0, 0)])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn panel_units_become_screen_pixels() {
        // QEMU's tablet: 0..0x7fff across a 1920x1080 panel.
        assert_eq!(super::scale(0, (0, 0x7fff), 1920), 0);
        assert_eq!(super::scale(0x4000, (0, 0x7fff), 1920), 960);
        assert_eq!(super::scale(0x7fff, (0, 0x7fff), 1080), 1079);
        // A panel whose range is its pixels maps one to one; out-of-range values stay on screen.
        assert_eq!(super::scale(1234, (0, 1919), 1920), 1234);
        assert_eq!(super::scale(-5, (0, 1919), 1920), 0);
        assert_eq!(super::scale(99_999, (0, 1919), 1920), 1919);
    }
}
