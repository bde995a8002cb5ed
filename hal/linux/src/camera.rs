//! Cameras through V4L2 (the `v4l` crate): memory-mapped streaming capture, converted to the
//! greyscale [`Frame`] the vision code uses. Greyscale sensors deliver `GREY`; colour cameras
//! (and the kernel's vivid test driver) deliver `YUYV`, whose luma is kept.
//!
//! The 2.5D face camera ([`V4lFaceCamera`]) is three capture nodes, as such modules expose
//! themselves: the visible stream (`GREY`/`YUYV`), the infrared stream (`GREY`) and the depth
//! stream (`Z16`, millimetres). Their frames are paired by the drivers' timestamps: a frame more
//! than half a frame period older than the newest of the three is dropped and the next taken.

use kaoyomi_hal::camera::{Camera, DepthFrame, FaceCamera, FaceFrames, Frame};
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
const Z16: FourCC = FourCC { repr: *b"Z16 " };

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
    /// The device offers none of the formats asked for (GREY or YUYV; Z16 for depth).
    #[error("camera {path} has no usable format (it offered {offered})")]
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
    /// The 2.5D camera's streams do not agree (sizes, or timestamps that never pair up).
    #[error("the face camera's streams are out of step: {0}")]
    OutOfStep(&'static str),
    /// Any other I/O error.
    #[error("camera I/O error: {0}")]
    Io(io::Error),
}

impl Error for CameraError {
    fn kind(&self) -> ErrorKind {
        match self {
            CameraError::Gone => ErrorKind::DeviceGone,
            CameraError::Timeout(_) => ErrorKind::Timeout,
            CameraError::BrokenFrame | CameraError::Format { .. } | CameraError::OutOfStep(_) => ErrorKind::Protocol,
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
        V4lCamera::open_as(path, width, height, &[GREY, YUYV])
    }

    fn open_as(path: &Path, width: u32, height: u32, formats: &[FourCC]) -> Result<V4lCamera, CameraError> {
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
        for &fourcc in formats {
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

/// Copies one captured `Z16` buffer (little-endian millimetres) into a depth map.
fn to_depth(data: &[u8], width: u32, height: u32, stride: usize) -> Option<Vec<u16>> {
    let (w, h) = (width as usize, height as usize);
    let stride = stride.max(w * 2);
    if h == 0 || data.len() < stride * (h - 1) + w * 2 {
        return None;
    }
    let mut out = Vec::with_capacity(w * h);
    for row in data.chunks(stride).take(h) {
        out.extend(row[..w * 2].chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])));
    }
    Some(out)
}

/// One captured buffer, converted (and so wiped on drop), with the driver's timestamp (µs).
enum Captured {
    Grey(Frame),
    Depth(DepthFrame),
}

impl V4lCamera {
    fn capture(&mut self) -> Result<(Captured, i64), CameraError> {
        let timeout = self.timeout;
        let (data, meta) = CaptureStream::next(&mut self.stream).map_err(|e| io_error(e, timeout))?;
        if meta.flags.contains(v4l::buffer::Flags::ERROR) {
            return Err(CameraError::BrokenFrame);
        }
        let used = (meta.bytesused as usize).min(data.len());
        let (w, h, seq) = (self.width, self.height, meta.sequence);
        let converted = if self.fourcc == Z16 {
            let mm = to_depth(&data[..used], w, h, self.stride).ok_or(CameraError::BrokenFrame)?;
            Captured::Depth(DepthFrame::new(w, h, mm, seq).ok_or(CameraError::BrokenFrame)?)
        } else {
            let pixels = to_grey(&data[..used], w, h, self.stride, self.fourcc).ok_or(CameraError::BrokenFrame)?;
            Captured::Grey(Frame::new(w, h, pixels, seq).ok_or(CameraError::BrokenFrame)?)
        };
        let micros = meta.timestamp.sec * 1_000_000 + meta.timestamp.usec;
        Ok((converted, micros))
    }
}

impl Camera for V4lCamera {
    type Error = CameraError;

    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        match self.capture()? {
            (Captured::Grey(frame), _) => Ok(frame),
            (Captured::Depth(_), _) => Err(CameraError::BrokenFrame),
        }
    }
}

/// The 2.5D face camera: three V4L2 capture nodes, paired by timestamp.
pub struct V4lFaceCamera {
    streams: [V4lCamera; 3],
    /// Half a frame period, µs: frames further apart are not the same moment.
    tolerance_us: i64,
}

/// Which of the three frames to drop so the set can pair: the indices of the frames older than
/// the newest by more than `tolerance` (none when they already pair).
fn out_of_step(stamps: [i64; 3], tolerance: i64) -> Vec<usize> {
    let newest = stamps.iter().copied().max().unwrap_or(0);
    (0..3).filter(|&i| newest - stamps[i] > tolerance).collect()
}

impl V4lFaceCamera {
    /// Opens the visible (`GREY`/`YUYV`), infrared (`GREY`) and depth (`Z16`) nodes at `width` x
    /// `height`, streaming at `fps` frames per second; all three must settle on the same size
    /// (the module registers them to each other).
    pub fn open(
        visible: &Path,
        infrared: &Path,
        depth: &Path,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<V4lFaceCamera, CameraError> {
        let streams = [
            V4lCamera::open_as(visible, width, height, &[GREY, YUYV])?,
            V4lCamera::open_as(infrared, width, height, &[GREY])?,
            V4lCamera::open_as(depth, width, height, &[Z16])?,
        ];
        if streams.iter().any(|s| s.size() != streams[0].size()) {
            return Err(CameraError::OutOfStep("the visible, infrared and depth streams have different sizes"));
        }
        Ok(V4lFaceCamera { streams, tolerance_us: 500_000 / i64::from(fps.max(1)) })
    }
}

impl FaceCamera for V4lFaceCamera {
    type Error = CameraError;

    fn next_frames(&mut self) -> Result<FaceFrames, CameraError> {
        let mut got = Vec::with_capacity(3);
        for s in &mut self.streams {
            got.push(s.capture()?);
        }
        // A few frames may be dropped to bring the streams into step (one started late, one
        // lost a buffer); more means they never will be.
        for _ in 0..6 {
            let stamps = [got[0].1, got[1].1, got[2].1];
            let late = out_of_step(stamps, self.tolerance_us);
            if late.is_empty() {
                let mut it = got.into_iter().map(|c| c.0);
                let (Some(Captured::Grey(visible)), Some(Captured::Grey(infrared)), Some(Captured::Depth(depth))) =
                    (it.next(), it.next(), it.next())
                else {
                    return Err(CameraError::BrokenFrame);
                };
                return FaceFrames::new(visible, infrared, depth).ok_or(CameraError::BrokenFrame);
            }
            for i in late {
                got[i] = self.streams[i].capture()?;
            }
        }
        Err(CameraError::OutOfStep("their timestamps never paired up"))
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
    fn z16_is_little_endian_millimetres() {
        // 2x1 Z16 with a stride of 6 bytes.
        let data = [0xF4, 0x01, 0x00, 0x00, 0xEE, 0xEE];
        assert_eq!(to_depth(&data, 2, 1, 6), Some(vec![500, 0]));
        assert_eq!(to_depth(&data[..3], 2, 1, 6), None);
    }

    #[test]
    fn frames_pair_by_timestamp() {
        // 30 fps: half a period is 16,666 µs.
        assert!(out_of_step([1_000_000, 1_002_000, 1_001_000], 16_666).is_empty());
        assert_eq!(out_of_step([1_000_000, 1_033_000, 1_033_400], 16_666), vec![0]);
        assert_eq!(out_of_step([1_066_000, 1_000_000, 1_033_000], 16_666), vec![1, 2]);
    }

    #[test]
    fn grey_rows_and_short_buffers() {
        let data = [1, 2, 0, 3, 4, 0];
        assert_eq!(to_grey(&data, 2, 2, 3, GREY), Some(vec![1, 2, 3, 4]));
        assert_eq!(to_grey(&data[..4], 2, 2, 3, GREY), None);
    }
}
