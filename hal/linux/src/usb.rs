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
//! Creating the gadget needs root (ConfigFS, mount). On a device the work is split so the reader
//! never runs as root: a privileged step ([`prepare_gadget`]) registers the gadget and mounts its
//! FunctionFS owned by the reader's user; the reader ([`UsbGadgetLink::open_functionfs`]) writes the
//! descriptors and serves the endpoints; a second privileged step ([`bind_when_ready`]) binds the
//! gadget to the USB device controller once the descriptors are there. [`UsbGadgetLink::register`]
//! does all of it in one process, for development machines where the reader runs as root.

use bytes::BytesMut;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;
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
    /// previous run left behind (the reader owns the device side). Needs root.
    pub fn register(serial: &str, product: &str) -> io::Result<UsbGadgetLink> {
        usb_gadget::remove_all()?;
        let (interface, rx, tx) = interface();
        let (custom, handle) = Custom::builder().with_interface(interface).build();
        let udc = default_udc()?;
        let registration =
            gadget(serial, product).with_config(Config::new(CONFIG_NAME).with_function(handle)).bind(&udc)?;
        Ok(UsbGadgetLink { registration: Some(registration), custom, rx: Some(rx), tx: Some(tx) })
    }

    /// Serves the interface on a FunctionFS that [`prepare_gadget`] mounted for this user: writes
    /// the descriptors and opens the endpoints. Needs no privilege beyond owning `functionfs`.
    pub fn open_functionfs(functionfs: &Path) -> io::Result<UsbGadgetLink> {
        let (interface, rx, tx) = interface();
        let custom = Custom::builder().with_interface(interface).existing(functionfs)?;
        Ok(UsbGadgetLink { registration: None, custom, rx: Some(rx), tx: Some(tx) })
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

const CONFIG_NAME: &str = "Kaoyomi reader";

/// The vendor interface: bulk OUT then bulk IN, with the WinUSB compatible ID.
fn interface() -> (Interface, EndpointReceiver, EndpointSender) {
    let (rx, rx_dir) = EndpointDirection::host_to_device();
    let (tx, tx_dir) = EndpointDirection::device_to_host();
    let interface =
        Interface::new(Class::vendor_specific(INTERFACE_SUBCLASS, INTERFACE_PROTOCOL), "Kaoyomi reader link")
            .with_endpoint(Endpoint::bulk(rx_dir))
            .with_endpoint(Endpoint::bulk(tx_dir))
            .with_os_ext_compat(OsExtCompat::winusb());
    (interface, rx, tx)
}

fn gadget(serial: &str, product: &str) -> Gadget {
    Gadget::new(Class::INTERFACE_SPECIFIC, Id::new(VENDOR_ID, PRODUCT_ID), Strings::new("Kaoyomi", product, serial))
        .with_os_descriptor(OsDescriptor::microsoft())
}

/// The privileged half of the set-up: replaces any old gadget with the reader's, and mounts its
/// FunctionFS at `functionfs` owned by `uid`:`gid` (the reader's user), without binding it to the
/// controller yet (the kernel refuses until the reader has written the descriptors). The gadget
/// stays registered after this process exits.
pub fn prepare_gadget(serial: &str, product: &str, functionfs: &Path, uid: u32, gid: u32) -> io::Result<()> {
    usb_gadget::remove_all()?;
    let (interface, _rx, _tx) = interface();
    let mut builder = Custom::builder().with_interface(interface);
    builder.ffs_dir = Some(functionfs.to_path_buf());
    builder.ffs_uid = Some(uid);
    builder.ffs_gid = Some(gid);
    builder.ffs_no_init = true;
    let (_custom, handle) = builder.build();
    let mut registration =
        gadget(serial, product).with_config(Config::new(CONFIG_NAME).with_function(handle)).register()?;
    registration.detach();
    Ok(())
}

/// Undoes [`prepare_gadget`] when the reader has stopped: unbinds and removes every registered
/// gadget and unmounts the FunctionFS at `functionfs` (nothing mounted there is not an error), so
/// that a restart or another reader starts from nothing.
pub fn teardown_gadget(functionfs: &Path) -> io::Result<()> {
    usb_gadget::remove_all()?;
    match rustix::mount::unmount(functionfs, rustix::mount::UnmountFlags::empty()) {
        // Not a mount point, or no such directory: nothing to undo.
        Ok(()) | Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(io::Error::new(
            io::Error::from(e).kind(),
            format!("unmounting the FunctionFS at {}: {e}", functionfs.display()),
        )),
    }
}

/// The other privileged half: binds the registered gadget to the first USB device controller as
/// soon as the reader has written its descriptors, trying until `timeout`.
pub fn bind_when_ready(timeout: Duration) -> io::Result<()> {
    let udc = default_udc()?;
    let deadline = Instant::now() + timeout;
    loop {
        let gadgets = usb_gadget::registered()?;
        let Some(gadget) = gadgets.first() else {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no USB gadget is registered (run the set-up first)"));
        };
        if gadget.udc()?.is_some_and(|bound| bound == udc.name()) {
            return Ok(());
        }
        match gadget.bind(Some(&udc)) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() < deadline => log::debug!("gadget not ready to bind yet: {e}"),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("the reader did not bring up its USB interface in time: {e}"),
                ));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
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
