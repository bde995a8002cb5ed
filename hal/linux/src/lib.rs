//! Real devices of the Kaoyomi reader on Linux, named after the interface they wrap.
//!
//! One Cargo feature per subsystem, so a board build carries only what it uses:
//! - `pcsc`: [`pcsc::PcscReader`], the contactless reader through pcscd (PC/SC).
//! - `usb-gadget`: [`usb::UsbGadgetLink`], the terminal link as a USB device (ConfigFS + FunctionFS).
//! - `gpio`: [`gpio::CdevLed`], LEDs on GPIO lines through the GPIO character device.
//! - `evdev`: [`touch::EvdevTouch`], the touch screen through evdev (and a uinput touchscreen for
//!   self-tests and the QEMU guest).
//! - `keyboard`: [`keyboard::StaffInput`] and [`keyboard::Keymap`], the staff display's USB keyboard
//!   and mouse through evdev, keys translated by xkbcommon in the facility's layout.
//! - `v4l`: [`camera::V4lCamera`], the face and card-surface cameras through V4L2.
//! - `alsa`: [`audio::AlsaSpeaker`], the speaker through ALSA.

#[cfg(feature = "alsa")]
pub mod audio;
#[cfg(feature = "v4l")]
pub mod camera;
#[cfg(feature = "gpio")]
pub mod gpio;
#[cfg(feature = "keyboard")]
pub mod keyboard;
#[cfg(feature = "pcsc")]
pub mod pcsc;
#[cfg(feature = "evdev")]
pub mod touch;
#[cfg(feature = "usb-gadget")]
pub mod usb;
