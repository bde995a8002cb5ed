//! The staff display's USB keyboard and mouse through evdev, for the maintenance pages.
//!
//! [`StaffInput`] reads every keyboard and mouse plugged in (new event nodes looked at every two
//! seconds, so a keyboard brought to the reader for a service visit works without a restart; one
//! unplugged is dropped with a log line). [`Keymap`] turns a keyboard's key codes into what they type with
//! xkbcommon and the system's XKB data, in the facility's layout (JIS or US): the same key is `@`
//! on a Japanese keyboard and `[` on an American one, so a password typed on one is the password
//! typed on the other only when the layout is right.
//!
//! Nothing typed is logged: key codes and text go to the screen only.

use evdev::{Device, EventSummary, KeyCode, RelativeAxisCode};
use std::collections::BTreeSet;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use xkbcommon::xkb;

/// The keyboard's layout, as the facility set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The Japanese 106/109-key keyboard (JIS).
    Jis,
    /// The American 101/104-key keyboard.
    Us,
}

impl Layout {
    /// XKB's model and layout names.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Layout::Jis => ("jp106", "jp"),
            Layout::Us => ("pc105", "us"),
        }
    }
}

/// A key that types nothing but does something in a text field or a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // The keys' own names.
pub enum Named {
    Backspace,
    Delete,
    Tab,
    /// Shift+Tab: the previous field.
    BackTab,
    Enter,
    Escape,
    Left,
    Right,
    Up,
    Down,
    Home,
    End,
    PageUp,
    PageDown,
    Shift,
    Control,
    Alt,
}

/// What a key press or release means.
#[derive(Clone, PartialEq, Eq)]
pub enum Key {
    /// Text typed (a character, or a few for a dead key's result).
    Text(String),
    /// A key that types nothing.
    Named(Named),
}

// What was typed never reaches a log through a debug print.
impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Text(_) => f.write_str("Text(..)"),
            Key::Named(n) => write!(f, "Named({n:?})"),
        }
    }
}

/// One key going down (again, when held) or up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stroke {
    /// Down (or repeated while held) rather than up.
    pub pressed: bool,
    /// The kernel's auto-repeat of a held key.
    pub repeat: bool,
    /// What the key means in the layout with the modifiers held.
    pub key: Key,
}

/// The keyboard layout's translation of key codes, keeping the modifiers' state.
pub struct Keymap {
    layout: Layout,
    state: xkb::State,
}

/// The XKB key code of an evdev key code.
fn xkb_code(code: u16) -> xkb::Keycode {
    xkb::Keycode::new(u32::from(code) + 8)
}

impl Keymap {
    /// The keymap of `layout` from the system's XKB data (`/usr/share/X11/xkb`).
    pub fn new(layout: Layout) -> io::Result<Keymap> {
        let context = xkb::Context::new(xkb::CONTEXT_NO_FLAGS);
        let (model, name) = layout.names();
        let keymap = xkb::Keymap::new_from_names(&context, "evdev", model, name, "", None, xkb::COMPILE_NO_FLAGS)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("the keyboard layout {name:?} cannot be compiled: is the XKB data (xkb-data) installed?"),
                )
            })?;
        Ok(Keymap { layout, state: xkb::State::new(&keymap) })
    }

    /// The layout this keymap translates.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The evdev key `code` going down (`value` 1), repeating (2) or up (0): what it means, or
    /// None for a key that means nothing here.
    pub fn key(&mut self, code: u16, value: i32) -> Option<Stroke> {
        let key = xkb_code(code);
        // The symbol as the modifiers stood before this key changed them.
        let sym = self.state.key_get_one_sym(key);
        let text = self.state.key_get_utf8(key);
        if value != 2 {
            let direction = if value == 0 { xkb::KeyDirection::Up } else { xkb::KeyDirection::Down };
            self.state.update_key(key, direction);
        }
        let named = match sym {
            xkb::Keysym::BackSpace => Some(Named::Backspace),
            xkb::Keysym::Delete | xkb::Keysym::KP_Delete => Some(Named::Delete),
            xkb::Keysym::Tab => Some(Named::Tab),
            xkb::Keysym::ISO_Left_Tab => Some(Named::BackTab),
            xkb::Keysym::Return | xkb::Keysym::KP_Enter => Some(Named::Enter),
            xkb::Keysym::Escape => Some(Named::Escape),
            xkb::Keysym::Left | xkb::Keysym::KP_Left => Some(Named::Left),
            xkb::Keysym::Right | xkb::Keysym::KP_Right => Some(Named::Right),
            xkb::Keysym::Up | xkb::Keysym::KP_Up => Some(Named::Up),
            xkb::Keysym::Down | xkb::Keysym::KP_Down => Some(Named::Down),
            xkb::Keysym::Home | xkb::Keysym::KP_Home => Some(Named::Home),
            xkb::Keysym::End | xkb::Keysym::KP_End => Some(Named::End),
            xkb::Keysym::Prior | xkb::Keysym::KP_Prior => Some(Named::PageUp),
            xkb::Keysym::Next | xkb::Keysym::KP_Next => Some(Named::PageDown),
            xkb::Keysym::Shift_L | xkb::Keysym::Shift_R => Some(Named::Shift),
            xkb::Keysym::Control_L | xkb::Keysym::Control_R => Some(Named::Control),
            xkb::Keysym::Alt_L | xkb::Keysym::Alt_R => Some(Named::Alt),
            _ => None,
        };
        let key = match named {
            Some(named) => Key::Named(named),
            // Printable text only: control characters (Ctrl held) type nothing.
            None if !text.is_empty() && !text.chars().any(char::is_control) => Key::Text(text),
            None => return None,
        };
        Some(Stroke { pressed: value != 0, repeat: value == 2, key })
    }
}

/// What the staff's keyboards and mice did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffEvent {
    /// A keyboard's key: the evdev code and 1 down, 2 repeated, 0 up (translate with [`Keymap`]).
    #[allow(missing_docs)]
    Key { code: u16, value: i32 },
    /// The mouse moved by this many counts right and down.
    #[allow(missing_docs)]
    Moved { dx: i32, dy: i32 },
    /// The mouse's left button went down or up.
    #[allow(missing_docs)]
    Button { pressed: bool },
    /// The wheel turned by this many notches (positive: away from the user).
    #[allow(missing_docs)]
    Wheel { notches: i32 },
}

/// What kind of device an event node is, for the staff's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Keyboard,
    Mouse,
}

/// A keyboard has letter keys and Enter; a mouse moves relatively with a left button. Touch
/// panels (absolute) and power buttons are neither.
fn kind(device: &Device) -> Option<Kind> {
    let keys = device.supported_keys();
    let has = |k: KeyCode| keys.is_some_and(|keys| keys.contains(k));
    let rel = device.supported_relative_axes();
    let moves = rel.is_some_and(|r| r.contains(RelativeAxisCode::REL_X) && r.contains(RelativeAxisCode::REL_Y));
    if has(KeyCode::KEY_A) && has(KeyCode::KEY_ENTER) {
        Some(Kind::Keyboard)
    } else if moves && has(KeyCode::BTN_LEFT) {
        Some(Kind::Mouse)
    } else {
        None
    }
}

struct Opened {
    path: PathBuf,
    kind: Kind,
    device: Device,
}

/// Every keyboard and mouse plugged in, read together.
pub struct StaffInput {
    opened: Vec<Opened>,
    /// The event nodes there were at the last look.
    seen: BTreeSet<PathBuf>,
    scanned: Option<Instant>,
}

/// How often new keyboards and mice are looked for.
const RESCAN: Duration = Duration::from_secs(2);

impl Default for StaffInput {
    fn default() -> Self {
        StaffInput::new()
    }
}

impl StaffInput {
    /// Nothing opened yet: the first [`StaffInput::next`] looks.
    pub fn new() -> StaffInput {
        StaffInput { opened: Vec::new(), seen: BTreeSet::new(), scanned: None }
    }

    /// How many keyboards and mice are open.
    pub fn counts(&self) -> (usize, usize) {
        let keyboards = self.opened.iter().filter(|o| o.kind == Kind::Keyboard).count();
        (keyboards, self.opened.len() - keyboards)
    }

    /// Opens the event nodes that appeared since the last look (each node once: the touch panel
    /// and the other devices are not opened again every two seconds) and keeps the keyboards and
    /// mice among them.
    fn rescan(&mut self) {
        self.scanned = Some(Instant::now());
        let Ok(entries) = std::fs::read_dir("/dev/input") else { return };
        let nodes: BTreeSet<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("event")))
            .collect();
        let mut unopened = Vec::new();
        for path in nodes.difference(&self.seen) {
            // One not readable yet (udev still setting its group) is tried again next time.
            let Ok(device) = Device::open(path) else {
                unopened.push(path.clone());
                continue;
            };
            let Some(kind) = kind(&device) else { continue };
            if let Err(e) = device.set_nonblocking(true) {
                log::warn!("input {}: cannot be read without blocking: {e}", path.display());
                continue;
            }
            log::info!(
                "staff {}: {} ({})",
                if kind == Kind::Keyboard { "keyboard" } else { "mouse" },
                device.name().unwrap_or("unnamed"),
                path.display()
            );
            self.opened.push(Opened { path: path.clone(), kind, device });
        }
        self.seen = nodes;
        for path in unopened {
            self.seen.remove(&path);
        }
    }

    /// Waits up to `timeout` for what the keyboards and mice did (several events at once when
    /// they came together; empty when nothing did).
    pub fn next(&mut self, timeout: Duration) -> Vec<StaffEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.scanned.is_none_or(|t| t.elapsed() >= RESCAN) {
                self.rescan();
            }
            let mut out = Vec::new();
            let mut gone = Vec::new();
            for (i, opened) in self.opened.iter_mut().enumerate() {
                match opened.device.fetch_events() {
                    Ok(events) => {
                        for event in events {
                            let e = match (opened.kind, event.destructure()) {
                                (Kind::Keyboard, EventSummary::Key(_, code, value)) if code.0 < 0x100 => {
                                    Some(StaffEvent::Key { code: code.0, value })
                                }
                                (Kind::Mouse, EventSummary::Key(_, KeyCode::BTN_LEFT, value)) if value != 2 => {
                                    Some(StaffEvent::Button { pressed: value == 1 })
                                }
                                (Kind::Mouse, EventSummary::RelativeAxis(_, RelativeAxisCode::REL_X, v)) => {
                                    Some(StaffEvent::Moved { dx: v, dy: 0 })
                                }
                                (Kind::Mouse, EventSummary::RelativeAxis(_, RelativeAxisCode::REL_Y, v)) => {
                                    Some(StaffEvent::Moved { dx: 0, dy: v })
                                }
                                (Kind::Mouse, EventSummary::RelativeAxis(_, RelativeAxisCode::REL_WHEEL, v)) => {
                                    Some(StaffEvent::Wheel { notches: v })
                                }
                                _ => None,
                            };
                            // Movements along X then Y of one report become one move.
                            match (e, out.last_mut()) {
                                (
                                    Some(StaffEvent::Moved { dx, dy }),
                                    Some(StaffEvent::Moved { dx: last_x, dy: last_y }),
                                ) => {
                                    *last_x += dx;
                                    *last_y += dy;
                                }
                                (Some(e), _) => out.push(e),
                                (None, _) => {}
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        log::info!("input {} is gone: {e}", opened.path.display());
                        gone.push(i);
                    }
                }
            }
            for i in gone.into_iter().rev() {
                // Looked at again if its node comes back (plugged in again between two looks).
                let dropped = self.opened.remove(i);
                self.seen.remove(&dropped.path);
            }
            if !out.is_empty() || Instant::now() >= deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(map: &mut Keymap, keys: &[(KeyCode, i32)]) -> (String, Vec<Named>) {
        let mut text = String::new();
        let mut named = Vec::new();
        for &(code, value) in keys {
            match map.key(code.0, value) {
                Some(Stroke { pressed: true, key: Key::Text(t), .. }) => text.push_str(&t),
                Some(Stroke { pressed: true, key: Key::Named(n), .. }) => named.push(n),
                _ => {}
            }
        }
        (text, named)
    }

    fn tap(code: KeyCode) -> [(KeyCode, i32); 2] {
        [(code, 1), (code, 0)]
    }

    #[test]
    fn the_layout_decides_what_a_key_types() {
        let keys: Vec<(KeyCode, i32)> = [KeyCode::KEY_LEFTBRACE, KeyCode::KEY_APOSTROPHE, KeyCode::KEY_EQUAL]
            .into_iter()
            .flat_map(tap)
            .chain([(KeyCode::KEY_LEFTSHIFT, 1)])
            .chain(tap(KeyCode::KEY_2))
            .chain([(KeyCode::KEY_LEFTSHIFT, 0)])
            .collect();
        let mut jis = Keymap::new(Layout::Jis).expect("the JIS keymap");
        let mut us = Keymap::new(Layout::Us).expect("the US keymap");
        // On a JIS keyboard the key right of P types @, the one right of L's neighbour :, the one
        // left of Backspace's neighbour ^, and Shift+2 a double quote.
        assert_eq!(typed(&mut jis, &keys).0, "@:^\"");
        assert_eq!(typed(&mut us, &keys).0, "['=@");
        assert_eq!(jis.layout(), Layout::Jis);
    }

    #[test]
    fn shift_letters_and_named_keys() {
        let mut map = Keymap::new(Layout::Us).expect("the US keymap");
        let mut keys = vec![(KeyCode::KEY_RIGHTSHIFT, 1)];
        keys.extend(tap(KeyCode::KEY_K));
        keys.push((KeyCode::KEY_RIGHTSHIFT, 0));
        keys.extend(tap(KeyCode::KEY_Y));
        keys.extend(tap(KeyCode::KEY_MINUS));
        keys.extend(tap(KeyCode::KEY_7));
        for k in [KeyCode::KEY_BACKSPACE, KeyCode::KEY_TAB, KeyCode::KEY_ENTER, KeyCode::KEY_LEFT] {
            keys.extend(tap(k));
        }
        let (text, named) = typed(&mut map, &keys);
        assert_eq!(text, "Ky-7");
        assert_eq!(named, [Named::Shift, Named::Backspace, Named::Tab, Named::Enter, Named::Left]);
        // Shift+Tab goes back; Ctrl with a letter types nothing.
        let (_, named) = typed(
            &mut map,
            &[(KeyCode::KEY_LEFTSHIFT, 1), (KeyCode::KEY_TAB, 1), (KeyCode::KEY_TAB, 0), (KeyCode::KEY_LEFTSHIFT, 0)],
        );
        assert_eq!(named, [Named::Shift, Named::BackTab]);
        let (text, _) = typed(&mut map, &[(KeyCode::KEY_LEFTCTRL, 1), (KeyCode::KEY_C, 1), (KeyCode::KEY_C, 0)]);
        assert_eq!(text, "");
        map.key(KeyCode::KEY_LEFTCTRL.0, 0);
        // A held key repeats as a press; its release is a release.
        assert_eq!(map.key(KeyCode::KEY_A.0, 2).map(|s| (s.pressed, s.repeat)), Some((true, true)));
        assert_eq!(map.key(KeyCode::KEY_A.0, 0).map(|s| s.pressed), Some(false));
    }

    #[test]
    fn typed_text_never_prints() {
        let stroke = Stroke { pressed: true, repeat: false, key: Key::Text("s3cret".into()) };
        assert!(!format!("{stroke:?}").contains("s3cret"));
    }
}
