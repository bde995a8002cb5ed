//! Cameras through V4L2 (the `v4l` crate): memory-mapped streaming capture, converted to the
//! greyscale [`Frame`] the vision code uses. The infrared face camera delivers `GREY`; colour
//! cameras (and the kernel's vivid test driver) deliver `YUYV`, whose luma is kept.

use kaoyomi_hal::camera::{Camera, Frame};
use kaoyomi_hal::{Error, ErrorKind};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use v4l::buffer::Type;
use v4l::control::{Control, Value};
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, FourCC};

const GREY: FourCC = FourCC { repr: *b"GREY" };
const YUYV: FourCC = FourCC { repr: *b"YUYV" };

/// What went wrong with a camera.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    /// The device node could not be opened or is not a streaming capture device.
    #[error("cannot use camera {path}: {reason}")]
    Open {
        /// The device node.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The device offers neither GREY nor YUYV at a usable size.
    #[error("camera {path} has no greyscale or YUYV format (it offered {offered})")]
    Format {
        /// The device node.
        path: PathBuf,
        /// The format it fell back to.
        offered: String,
    },
    /// The camera was unplugged.
    #[error("the camera was unplugged")]
    Gone,
    /// No frame within the time-out.
    #[error("the camera sent no frame in {0:?}")]
    Timeout(Duration),
    /// A frame the driver marked as broken or that was too short.
    #[error("the camera sent a broken frame")]
    BrokenFrame,
    /// Any other I/O error.
    #[error("camera I/O error: {0}")]
    Io(io::Error),
}

impl Error for CameraError {
    fn kind(&self) -> ErrorKind {
        match self {
            CameraError::Gone => ErrorKind::DeviceGone,
            CameraError::Timeout(_) => ErrorKind::Timeout,
            CameraError::BrokenFrame | CameraError::Format { .. } => ErrorKind::Protocol,
            CameraError::Open { .. } | CameraError::Io(_) => ErrorKind::Other,
        }
    }
}

fn io_error(e: io::Error, timeout: Duration) -> CameraError {
    const ENODEV: i32 = 19;
    match e.raw_os_error() {
        Some(ENODEV) => CameraError::Gone,
        _ if e.kind() == io::ErrorKind::TimedOut => CameraError::Timeout(timeout),
        _ => CameraError::Io(e),
    }
}

/// A V4L2 capture device streaming through memory-mapped buffers.
pub struct V4lCamera {
    device: Device,
    stream: Stream<'static>,
    width: u32,
    height: u32,
    stride: usize,
    fourcc: FourCC,
    timeout: Duration,
}

impl V4lCamera {
    /// Opens `path` and asks for `width` x `height` greyscale (or YUYV); the driver may choose the
    /// nearest size it has, see [`V4lCamera::size`].
    pub fn open(path: &Path, width: u32, height: u32) -> Result<V4lCamera, CameraError> {
        let open_error = |reason: String| CameraError::Open { path: path.to_path_buf(), reason };
        let device = Device::with_path(path).map_err(|e| open_error(e.to_string()))?;
        let caps = device.query_caps().map_err(|e| open_error(e.to_string()))?;
        let wanted = v4l::capability::Flags::VIDEO_CAPTURE | v4l::capability::Flags::STREAMING;
        if !caps.capabilities.contains(wanted) {
            return Err(open_error(format!("{} is not a streaming capture device", caps.card)));
        }
        let mut format = Capture::format(&device).map_err(CameraError::Io)?;
        format.width = width;
        format.height = height;
        // Let the driver choose the line stride and buffer size for the new format.
        format.stride = 0;
        format.size = 0;
        let mut chosen = None;
        for fourcc in [GREY, YUYV] {
            format.fourcc = fourcc;
            let got = Capture::set_format(&device, &format).map_err(CameraError::Io)?;
            if got.fourcc == fourcc {
                chosen = Some(got);
                break;
            }
        }
        let format = chosen.ok_or_else(|| CameraError::Format {
            path: path.to_path_buf(),
            offered: Capture::format(&device).map(|f| f.fourcc.to_string()).unwrap_or_default(),
        })?;
        let timeout = Duration::from_secs(2);
        let mut stream = Stream::with_buffers(&device, Type::VideoCapture, 4).map_err(CameraError::Io)?;
        stream.set_timeout(timeout);
        Ok(V4lCamera {
            device,
            stream,
            width: format.width,
            height: format.height,
            stride: format.stride as usize,
            fourcc: format.fourcc,
            timeout,
        })
    }

    /// The frame size the driver settled on.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The pixel format on the wire (`GREY` or `YUYV`).
    pub fn pixel_format(&self) -> String {
        self.fourcc.to_string()
    }

    /// The device's name as its driver gives it.
    pub fn card_name(&self) -> String {
        self.device.query_caps().map(|c| c.card).unwrap_or_default()
    }

    /// Sets the integer or menu control `id` to `value` (by number: the `v4l` crate's control
    /// listing panics on control types it does not know, which test drivers have).
    pub fn set_control(&self, id: u32, value: i64) -> io::Result<()> {
        self.device.set_control(Control { id, value: Value::Integer(value) })
    }
}

/// Copies the luma of one captured buffer into a greyscale frame.
fn to_grey(data: &[u8], width: u32, height: u32, stride: usize, fourcc: FourCC) -> Option<Vec<u8>> {
    let (w, h) = (width as usize, height as usize);
    let bytes_per_pixel = if fourcc == YUYV { 2 } else { 1 };
    let stride = stride.max(w * bytes_per_pixel);
    if data.len() < stride * (h - 1) + w * bytes_per_pixel {
        return None;
    }
    let mut out = Vec::with_capacity(w * h);
    for row in data.chunks(stride).take(h) {
        if bytes_per_pixel == 2 {
            out.extend(row[..w * 2].iter().step_by(2));
        } else {
            out.extend_from_slice(&row[..w]);
        }
    }
    Some(out)
}

impl Camera for V4lCamera {
    type Error = CameraError;

    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        let timeout = self.timeout;
        let (data, meta) = CaptureStream::next(&mut self.stream).map_err(|e| io_error(e, timeout))?;
        if meta.flags.contains(v4l::buffer::Flags::ERROR) {
            return Err(CameraError::BrokenFrame);
        }
        let used = (meta.bytesused as usize).min(data.len());
        let pixels = to_grey(&data[..used], self.width, self.height, self.stride, self.fourcc)
            .ok_or(CameraError::BrokenFrame)?;
        Frame::new(self.width, self.height, pixels, meta.sequence).ok_or(CameraError::BrokenFrame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_keeps_luma_and_skips_padding() {
        // 2x2 YUYV with a stride of 6 bytes (2 bytes of padding per row).
        let data = [10, 128, 20, 128, 0xEE, 0xEE, 30, 128, 40, 128, 0xEE, 0xEE];
        assert_eq!(to_grey(&data, 2, 2, 6, YUYV), Some(vec![10, 20, 30, 40]));
    }

    #[test]
    fn grey_rows_and_short_buffers() {
        let data = [1, 2, 0, 3, 4, 0];
        assert_eq!(to_grey(&data, 2, 2, 3, GREY), Some(vec![1, 2, 3, 4]));
        assert_eq!(to_grey(&data[..4], 2, 2, 3, GREY), None);
    }
}
