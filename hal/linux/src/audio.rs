//! The speaker through ALSA (the `alsa` crate, libasound): 16-bit mono PCM played to a named PCM
//! device (`default`, `hw:0,0`, or the snd-aloop loop-back in the QEMU guest).
//! [`record`] reads a capture device, for the loop-back self-test.

use alsa::pcm::{Access, Format, HwParams, PCM};
use alsa::{Direction, ValueOr};
use kaoyomi_hal::audio::Speaker;
use kaoyomi_hal::{Error, ErrorKind};

/// What went wrong with the sound device.
#[derive(Debug, thiserror::Error)]
#[error("sound device {device}: {what} failed ({source})")]
pub struct AudioError {
    device: String,
    what: &'static str,
    #[source]
    source: alsa::Error,
}

impl Error for AudioError {
    fn kind(&self) -> ErrorKind {
        match self.source.errno() {
            19 | 2 => ErrorKind::DeviceGone,
            _ => ErrorKind::Other,
        }
    }
}

fn open(device: &str, direction: Direction, rate: u32) -> Result<PCM, AudioError> {
    let err = |what| move |source| AudioError { device: device.to_string(), what, source };
    let pcm = PCM::new(device, direction, false).map_err(err("opening"))?;
    {
        let hw = HwParams::any(&pcm).map_err(err("reading the hardware parameters"))?;
        hw.set_channels(1).map_err(err("asking for mono"))?;
        hw.set_rate(rate, ValueOr::Nearest).map_err(err("setting the rate"))?;
        hw.set_format(Format::s16()).map_err(err("asking for 16-bit samples"))?;
        hw.set_access(Access::RWInterleaved).map_err(err("asking for interleaved access"))?;
        pcm.hw_params(&hw).map_err(err("applying the hardware parameters"))?;
    }
    Ok(pcm)
}

/// The speaker on an ALSA PCM device, opened for each sound so an unplugged or busy device only
/// costs that sound.
pub struct AlsaSpeaker {
    device: String,
}

impl AlsaSpeaker {
    /// A speaker on the PCM device `device`.
    pub fn new(device: &str) -> AlsaSpeaker {
        AlsaSpeaker { device: device.to_string() }
    }
}

impl Speaker for AlsaSpeaker {
    type Error = AudioError;

    fn play(&mut self, samples: &[i16], rate: u32) -> Result<(), AudioError> {
        let device = self.device.as_str();
        let err = |what| move |source| AudioError { device: device.to_string(), what, source };
        let pcm = open(device, Direction::Playback, rate)?;
        let io = pcm.io_i16().map_err(err("starting playback"))?;
        let mut rest = samples;
        while !rest.is_empty() {
            match io.writei(rest) {
                Ok(n) => rest = &rest[n..],
                // An underrun: prepare again and go on.
                Err(e) => pcm.recover(e.errno(), true).map_err(err("recovering from an underrun"))?,
            }
        }
        pcm.drain().map_err(err("draining"))
    }
}

/// Records `count` samples (16-bit mono at `rate` Hz) from the capture device `device`.
pub fn record(device: &str, rate: u32, count: usize) -> Result<Vec<i16>, AudioError> {
    let err = |what| move |source| AudioError { device: device.to_string(), what, source };
    let pcm = open(device, Direction::Capture, rate)?;
    let io = pcm.io_i16().map_err(err("starting capture"))?;
    let mut out = vec![0i16; count];
    let mut filled = 0;
    while filled < count {
        match io.readi(&mut out[filled..]) {
            Ok(n) => filled += n,
            Err(e) => pcm.recover(e.errno(), true).map_err(err("recovering from an overrun"))?,
        }
    }
    Ok(out)
}
