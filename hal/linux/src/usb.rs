//! The terminal link as a USB device: a gadget made through ConfigFS with one vendor-specific
//! interface on FunctionFS and two bulk endpoints that carry the protocol's COBS frames.
//!
//! - Microsoft OS descriptors (1.0, compatible ID `WINUSB`) let Windows bind WinUSB without a driver
//!   install. ConfigFS exposes the 1.0 form; MS OS 2.0 (BOS platform capability) is not available
//!   through it, and Windows 8 and later honour the 1.0 form the same way.
//! - The serial number is the reader's own (derived from its device key), so several readers on one
//!   terminal are told apart.
//! - VID:PID is pid.codes' test pair 1209:0001 until Kaoyomi has its own allocation.
//!
//! Creating the gadget needs root (ConfigFS); on a device image a small privileged unit does it and
//! hands FunctionFS to the reader's user (a later step: today the reader must run as root for USB).

use bytes::BytesMut;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use usb_gadget::function::custom::{
    Custom, Endpoint, EndpointDirection, EndpointReceiver, EndpointSender, Event, Interface, OsExtCompat,
};
use usb_gadget::{Class, Config, Gadget, Id, OsDescriptor, RegGadget, Strings, default_udc};

/// pid.codes' open-source vendor ID.
pub const VENDOR_ID: u16 = 0x1209;
/// pid.codes' test product ID (to be replaced by an allocation of Kaoyomi's own).
pub const PRODUCT_ID: u16 = 0x0001;
/// Interface subclass and protocol of the Kaoyomi interface (class 0xFF, vendor specific).
pub const INTERFACE_SUBCLASS: u8 = 0x4B;
/// Protocol number: the protocol's version.
pub const INTERFACE_PROTOCOL: u8 = 0x01;

/// What the host did to the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// The host configured the device: frames can flow.
    Up,
    /// The host went away (cable pulled, host suspended or reset the device).
    Down,
}

/// The registered gadget with its endpoints.
pub struct UsbGadgetLink {
    registration: Option<RegGadget>,
    custom: Custom,
    rx: Option<EndpointReceiver>,
    tx: Option<EndpointSender>,
}

impl UsbGadgetLink {
    /// Creates and binds the gadget to the first USB device controller, replacing any gadget a
    /// previous run left behind (the reader owns the device side).
    pub fn register(serial: &str, product: &str) -> io::Result<UsbGadgetLink> {
        usb_gadget::remove_all()?;
        let (rx, rx_dir) = EndpointDirection::host_to_device();
        let (tx, tx_dir) = EndpointDirection::device_to_host();
        let (custom, handle) = Custom::builder()
            .with_interface(
                Interface::new(Class::vendor_specific(INTERFACE_SUBCLASS, INTERFACE_PROTOCOL), "Kaoyomi reader link")
                    .with_endpoint(Endpoint::bulk(rx_dir))
                    .with_endpoint(Endpoint::bulk(tx_dir))
                    .with_os_ext_compat(OsExtCompat::winusb()),
            )
            .build();
        let udc = default_udc()?;
        let registration = Gadget::new(
            Class::INTERFACE_SPECIFIC,
            Id::new(VENDOR_ID, PRODUCT_ID),
            Strings::new("Kaoyomi", product, serial),
        )
        .with_config(Config::new("Kaoyomi reader").with_function(handle))
        .with_os_descriptor(OsDescriptor::microsoft())
        .bind(&udc)?;
        Ok(UsbGadgetLink { registration: Some(registration), custom, rx: Some(rx), tx: Some(tx) })
    }

    /// The sending endpoint, shared (taken once).
    pub fn sender(&mut self) -> Option<UsbSender> {
        self.tx.take().map(|tx| UsbSender(Arc::new(Mutex::new(tx))))
    }

    /// The receiving endpoint (taken once).
    pub fn receiver(&mut self) -> Option<UsbReceiver> {
        self.rx.take().map(UsbReceiver)
    }

    /// Waits up to `timeout` for the host to bring the link up or down.
    pub fn next_state(&mut self, timeout: Duration) -> io::Result<Option<LinkState>> {
        Ok(match self.custom.event_timeout(timeout)? {
            Some(Event::Enable) => Some(LinkState::Up),
            Some(Event::Disable | Event::Unbind | Event::Suspend) => Some(LinkState::Down),
            Some(other) => {
                log::debug!("USB gadget event {other:?}");
                None
            }
            None => None,
        })
    }
}

impl Drop for UsbGadgetLink {
    fn drop(&mut self) {
        if let Some(registration) = self.registration.take()
            && let Err(e) = registration.remove()
        {
            log::warn!("removing the USB gadget: {e}");
        }
    }
}

/// Bulk IN endpoint as a byte sink.
#[derive(Clone)]
pub struct UsbSender(Arc<Mutex<EndpointSender>>);

impl io::Write for UsbSender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut tx = self.0.lock().unwrap_or_else(|e| e.into_inner());
        tx.send_timeout(bytes::Bytes::copy_from_slice(buf), Duration::from_secs(2))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Bulk OUT endpoint as a byte source.
pub struct UsbReceiver(EndpointReceiver);

impl UsbReceiver {
    /// Receives what the host sent, waiting up to `timeout`; an empty result means nothing came.
    pub fn recv(&mut self, timeout: Duration) -> io::Result<Vec<u8>> {
        let size = self.0.max_packet_size().unwrap_or(512).max(512);
        Ok(self.0.recv_timeout(BytesMut::with_capacity(size), timeout)?.map(|b| b.to_vec()).unwrap_or_default())
    }
}
