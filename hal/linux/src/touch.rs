//! The touch screen through evdev: absolute X/Y and BTN_TOUCH become taps at screen coordinates.
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

impl EvdevTouch {
    /// Opens `/dev/input/eventN`.
    pub fn open(path: &Path) -> io::Result<EvdevTouch> {
        let device = Device::open(path)?;
        device.set_nonblocking(true)?;
        Ok(EvdevTouch { device, x: 0, y: 0, down: false })
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
                            EventSummary::Key(_, KeyCode::BTN_TOUCH, 1) => self.down = true,
                            EventSummary::Key(_, KeyCode::BTN_TOUCH, 0) if self.down => {
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
