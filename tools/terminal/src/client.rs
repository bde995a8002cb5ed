//! A protocol client over any byte stream.

use kaoyomi_protocol::{Body, DeviceInfo, Frame, FrameReader, Notification, Request, Response, SessionRequest};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Client errors.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The link failed or closed.
    #[error("link to the reader: {0}")]
    Io(#[from] std::io::Error),
    /// The reader closed the link.
    #[error("the reader closed the link")]
    Closed,
    /// Nothing arrived in time.
    #[error("the reader did not answer within {0:?}")]
    Timeout(Duration),
    /// The reader refused a request.
    #[error("the reader refused: {message} ({code:?})")]
    Refused {
        /// Code.
        code: kaoyomi_protocol::ErrorCode,
        /// Message.
        message: String,
    },
    /// The reader answered something that does not fit the request.
    #[error("unexpected answer from the reader: {0}")]
    Unexpected(String),
}

impl ClientError {
    /// The link itself is gone (cable pulled, reader restarted), as opposed to a refusal or a
    /// time-out: the running session is lost and the link must be opened again.
    pub fn is_link_lost(&self) -> bool {
        match self {
            ClientError::Closed => true,
            ClientError::Io(e) => !matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock),
            _ => false,
        }
    }
}

/// A stream the client can put a read time-out on.
pub trait Link: Read + Write {
    /// Sets the read time-out.
    fn set_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()>;
}

#[cfg(unix)]
impl Link for std::os::unix::net::UnixStream {
    fn set_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.set_read_timeout(timeout)
    }
}

/// A connected reader.
pub struct Client<S: Link> {
    stream: S,
    frames: FrameReader,
    pending: VecDeque<Frame>,
    seq: u32,
}

impl<S: Link> Client<S> {
    /// Wraps a connected stream.
    pub fn new(stream: S) -> Self {
        Client { stream, frames: FrameReader::new(), pending: VecDeque::new(), seq: 1 }
    }

    fn read_frame(&mut self, deadline: Instant, total: Duration) -> Result<Frame, ClientError> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Ok(frame);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout(total));
            }
            self.stream.set_timeout(Some(left))?;
            let mut buf = [0u8; 4096];
            let n = match self.stream.read(&mut buf) {
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => n,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
                Err(e) => return Err(e.into()),
            };
            for frame in self.frames.push(&buf[..n]) {
                match frame {
                    Ok(f) => self.pending.push_back(f),
                    Err(e) => return Err(ClientError::Unexpected(e.to_string())),
                }
            }
        }
    }

    /// Sends a request and waits for its answer; notifications that arrive meanwhile are kept.
    pub fn request(&mut self, request: Request, timeout: Duration) -> Result<Response, ClientError> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        self.stream.write_all(&Frame::new(seq, Body::Request(request)).encode())?;
        // USB endpoints send what was written only on flush.
        self.stream.flush()?;
        let deadline = Instant::now() + timeout;
        let mut kept = VecDeque::new();
        let result = loop {
            match self.read_frame(deadline, timeout) {
                Ok(Frame { body: Body::Response { to, response }, .. }) if to == seq || to == 0 => {
                    break match response {
                        Response::Error { code, message } => Err(ClientError::Refused { code, message }),
                        other => Ok(other),
                    };
                }
                Ok(frame) => kept.push_back(frame),
                Err(e) => break Err(e),
            }
        };
        kept.append(&mut self.pending);
        self.pending = kept;
        result
    }

    /// Device info.
    pub fn device_info(&mut self, timeout: Duration) -> Result<DeviceInfo, ClientError> {
        match self.request(Request::GetDeviceInfo, timeout)? {
            Response::DeviceInfo(info) => Ok(info),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Arms a session; returns its id.
    pub fn start_session(&mut self, request: SessionRequest, timeout: Duration) -> Result<u32, ClientError> {
        match self.request(Request::StartSession(request), timeout)? {
            Response::SessionStarted { session_id } => Ok(session_id),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// The next notification.
    pub fn next_notification(&mut self, timeout: Duration) -> Result<Notification, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.read_frame(deadline, timeout)? {
                Frame { body: Body::Notification(n), .. } => return Ok(n),
                Frame { body: Body::Response { response: Response::Error { code, message }, .. }, .. } => {
                    return Err(ClientError::Refused { code, message });
                }
                _ => continue,
            }
        }
    }

    /// Sends raw bytes (tests use this to put garbage on the link).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes)?;
        Ok(self.stream.flush()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_dead_link_counts_as_lost() {
        let io = |kind| ClientError::Io(std::io::Error::new(kind, "x"));
        assert!(ClientError::Closed.is_link_lost());
        assert!(io(std::io::ErrorKind::ConnectionAborted).is_link_lost());
        assert!(io(std::io::ErrorKind::BrokenPipe).is_link_lost());
        assert!(!io(std::io::ErrorKind::TimedOut).is_link_lost());
        assert!(!ClientError::Timeout(Duration::from_secs(1)).is_link_lost());
        let refused = ClientError::Refused { code: kaoyomi_protocol::ErrorCode::Busy, message: "busy".into() };
        assert!(!refused.is_link_lost());
    }
}
