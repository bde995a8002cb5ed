//! LEDs (status, face lighting) on GPIO lines through the GPIO character device, driven through
//! embedded-hal's `OutputPin`, so the same LED code runs on any board whose lines the board file
//! names.
//!
//! Why not linux-embedded-hal's `CdevPin`: it speaks the GPIO character device's v1 ABI
//! (gpio-cdev), which current kernels build without (`CONFIG_GPIO_CDEV_V1` is not set in Debian's
//! arm64 7.x kernel: the request fails with EINVAL). `CdevLed` uses the v2 ABI through `gpiocdev`
//! and implements the same embedded-hal trait.

use embedded_hal::digital::{ErrorKind, ErrorType, OutputPin};
use gpiocdev::line::Value;
use gpiocdev::request::Request;
use std::path::Path;

/// One LED on one GPIO line, off when created.
pub struct CdevLed {
    request: Request,
    line: u32,
}

/// Why an LED could not be driven.
#[derive(Debug)]
pub struct LedError(String);

impl std::fmt::Display for LedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LED: {}", self.0)
    }
}

impl std::error::Error for LedError {}

impl kaoyomi_hal::Error for LedError {
    fn kind(&self) -> kaoyomi_hal::ErrorKind {
        kaoyomi_hal::ErrorKind::Other
    }
}

impl embedded_hal::digital::Error for LedError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

impl CdevLed {
    /// Requests `line` of `chip` as an output, initially off, for `consumer` (the name other tools see).
    pub fn open(chip: &Path, line: u32, consumer: &str) -> Result<CdevLed, LedError> {
        let request = Request::builder()
            .on_chip(chip)
            .with_consumer(consumer)
            .with_line(line)
            .as_output(Value::Inactive)
            .request()
            .map_err(|e| LedError(format!("{} line {line}: {e}", chip.display())))?;
        Ok(CdevLed { request, line })
    }

    /// Turns the LED on or off.
    pub fn set(&mut self, on: bool) -> Result<(), LedError> {
        if on { self.set_high() } else { self.set_low() }
    }
}

impl ErrorType for CdevLed {
    type Error = LedError;
}

impl OutputPin for CdevLed {
    fn set_low(&mut self) -> Result<(), LedError> {
        self.request.set_value(self.line, Value::Inactive).map_err(|e| LedError(format!("line {}: {e}", self.line)))
    }

    fn set_high(&mut self) -> Result<(), LedError> {
        self.request.set_value(self.line, Value::Active).map_err(|e| LedError(format!("line {}: {e}", self.line)))
    }
}
