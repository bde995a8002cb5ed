//! The USB transport: finds Kaoyomi readers on the bus (vendor interface 0xFF/0x4B), opens one by
//! its serial number, and carries the protocol's frames over the interface's two bulk endpoints.
//! Works wherever nusb does (Linux usbfs; Windows through WinUSB, which the reader's Microsoft OS
//! descriptors bind without a driver install).

use crate::client::Link;
use nusb::MaybeFuture;
use nusb::io::{EndpointRead, EndpointWrite};
use nusb::transfer::{Bulk, Direction, In, Out};
use std::io::{Read, Write};
use std::time::Duration;

/// pid.codes' vendor ID that the reader uses.
pub const VENDOR_ID: u16 = 0x1209;
/// pid.codes' test product ID that the reader uses.
pub const PRODUCT_ID: u16 = 0x0001;
/// The Kaoyomi interface: class 0xFF (vendor), subclass 0x4B.
pub const INTERFACE_SUBCLASS: u8 = 0x4B;

/// A reader seen on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundReader {
    /// Its serial number (the reader's `DeviceInfo::serial`).
    pub serial: String,
    /// Bus and address, for people.
    pub location: String,
}

fn is_reader(info: &nusb::DeviceInfo) -> bool {
    info.vendor_id() == VENDOR_ID
        && info.product_id() == PRODUCT_ID
        && info.interfaces().any(|i| i.class() == 0xFF && i.subclass() == INTERFACE_SUBCLASS)
}

/// The readers on the bus now.
pub fn find_readers() -> std::io::Result<Vec<FoundReader>> {
    let devices = nusb::list_devices().wait().map_err(std::io::Error::other)?;
    Ok(devices
        .filter(is_reader)
        .map(|d| FoundReader {
            serial: d.serial_number().unwrap_or("").to_string(),
            location: format!("bus {} address {}", d.busnum(), d.device_address()),
        })
        .collect())
}

/// An open link to one reader.
pub struct UsbLink {
    read: EndpointRead<Bulk>,
    write: EndpointWrite<Bulk>,
    serial: String,
}

impl UsbLink {
    /// Opens the reader with `serial`, or the only reader on the bus when `serial` is None.
    pub fn open(serial: Option<&str>) -> std::io::Result<UsbLink> {
        let devices: Vec<_> = nusb::list_devices().wait().map_err(std::io::Error::other)?.filter(is_reader).collect();
        let info = match serial {
            Some(s) => devices.into_iter().find(|d| d.serial_number() == Some(s)),
            None if devices.len() == 1 => devices.into_iter().next(),
            None if devices.is_empty() => None,
            None => {
                return Err(std::io::Error::other(format!(
                    "{} readers on the bus: name one by its serial number",
                    devices.len()
                )));
            }
        }
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no Kaoyomi reader on the USB bus"))?;
        let device = info.open().wait().map_err(std::io::Error::other)?;
        let interface_number = info
            .interfaces()
            .find(|i| i.class() == 0xFF && i.subclass() == INTERFACE_SUBCLASS)
            .map(|i| i.interface_number())
            .ok_or_else(|| std::io::Error::other("the reader has no Kaoyomi interface"))?;
        let config = device.active_configuration().map_err(std::io::Error::other)?;
        let (mut ep_in, mut ep_out) = (None, None);
        for alt in config.interface_alt_settings().filter(|a| a.interface_number() == interface_number) {
            for ep in alt.endpoints() {
                match ep.direction() {
                    Direction::In => ep_in = Some(ep.address()),
                    Direction::Out => ep_out = Some(ep.address()),
                }
            }
        }
        let (ep_in, ep_out) =
            ep_in.zip(ep_out).ok_or_else(|| std::io::Error::other("the Kaoyomi interface lacks its bulk endpoints"))?;
        let serial = info.serial_number().unwrap_or_default().to_string();
        let interface = device.detach_and_claim_interface(interface_number).wait().map_err(|e| {
            if e.kind() == nusb::ErrorKind::Busy {
                std::io::Error::new(
                    std::io::ErrorKind::ResourceBusy,
                    format!("reader {serial} is in use by another terminal program ({e})"),
                )
            } else {
                std::io::Error::other(e)
            }
        })?;
        let read = interface.endpoint::<Bulk, In>(ep_in).map_err(std::io::Error::other)?.reader(4096);
        let write = interface
            .endpoint::<Bulk, Out>(ep_out)
            .map_err(std::io::Error::other)?
            .writer(4096)
            .with_write_timeout(Duration::from_secs(5));
        Ok(UsbLink { read, write, serial })
    }

    /// The serial number of the reader on the other end.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// After the link went down (cable pulled, reader restarted): waits up to `timeout` for the
    /// reader with `serial` to be on the bus again and opens it. The session that was running is
    /// gone (the reader cancels it when its link drops); the caller starts a new one.
    pub fn reconnect(serial: &str, timeout: Duration) -> std::io::Result<UsbLink> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match UsbLink::open(Some(serial)) {
                Ok(link) => return Ok(link),
                Err(e) if std::time::Instant::now() >= deadline => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("reader {serial} did not come back on the USB bus within {timeout:?} ({e})"),
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}

/// Says "the link went down" for what nusb reports when the device leaves the bus.
fn link_error(e: std::io::Error) -> std::io::Error {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted => e,
        _ => std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            format!("the USB link to the reader went down ({e})"),
        ),
    }
}

impl Read for UsbLink {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.read.read(buf).map_err(link_error)
    }
}

impl Write for UsbLink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write.write(buf).map_err(link_error)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.write.flush().map_err(link_error)
    }
}

impl Link for UsbLink {
    fn set_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.read.set_read_timeout(timeout.unwrap_or(Duration::from_secs(3600)));
        Ok(())
    }
}
