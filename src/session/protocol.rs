//! The wire protocol between a client invocation and a session server.
//!
//! Frames over a unix stream socket: one type byte, a 4-byte little-endian
//! length, the payload. A client sends its stdin (`Input`), the end of it
//! (`EndOfInput`, which the program never sees as EOF), or asks to end the
//! session (`Kill`). The server sends the program's output (`Stdout`,
//! `Stderr`) and then exactly one ending: the program reached its wakeup
//! (`Done`), exited (`Exited`/`Killed` with the status), ran out of time
//! (`TimedOut`), passed its output, CPU or memory limit (`OutputLimit`,
//! `CpuLimit`, `MemoryLimit`: template runs),
//! or the session was ended (`Ended`). Before anything else
//! for a command, the server says `Started` when the command's turn comes:
//! a client that loses its server before that knows its command never ran.

use std::io::{self, Read, Write};

/// Largest payload accepted in one frame.
pub const MAX_FRAME: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Input(Vec<u8>),
    EndOfInput,
    Kill,
    Started,
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Done,
    Exited(i32),
    Killed(i32),
    TimedOut,
    Ended,
    /// Template servers: the run wrote past `outputlimit` and was killed.
    OutputLimit,
    /// Template servers: the run used more CPU time than `cputime`.
    CpuLimit,
    /// Template servers: the run held more memory than `maxmemory`.
    MemoryLimit,
    /// Template servers: a run for this ident (client to server, first).
    Run(Vec<u8>),
    /// Template servers: end the runs of this ident.
    KillRuns(Vec<u8>),
    /// Template servers: end the prepared process, the server and every run.
    KillTemplate,
}

impl Frame {
    fn tag(&self) -> u8 {
        match self {
            Frame::Input(_) => b'I',
            Frame::EndOfInput => b'E',
            Frame::Kill => b'K',
            Frame::Started => b'G',
            Frame::Stdout(_) => b'O',
            Frame::Stderr(_) => b'R',
            Frame::Done => b'D',
            Frame::Exited(_) => b'X',
            Frame::Killed(_) => b'S',
            Frame::TimedOut => b'T',
            Frame::Ended => b'N',
            Frame::OutputLimit => b'L',
            Frame::CpuLimit => b'U',
            Frame::MemoryLimit => b'M',
            Frame::Run(_) => b'A',
            Frame::KillRuns(_) => b'Z',
            Frame::KillTemplate => b'Q',
        }
    }

    fn payload(&self) -> Vec<u8> {
        match self {
            Frame::Input(data)
            | Frame::Stdout(data)
            | Frame::Stderr(data)
            | Frame::Run(data)
            | Frame::KillRuns(data) => data.clone(),
            Frame::Exited(value) | Frame::Killed(value) => value.to_le_bytes().to_vec(),
            _ => Vec::new(),
        }
    }

    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        let payload = self.payload();
        let mut frame = Vec::with_capacity(5 + payload.len());
        frame.push(self.tag());
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&payload);
        out.write_all(&frame)
    }

    /// Reads one frame; `Ok(None)` at a clean end of stream.
    pub fn read_from(input: &mut impl Read) -> io::Result<Option<Frame>> {
        let mut header = [0u8; 5];
        match input.read_exact(&mut header[..1]) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(error) => return Err(error),
        }
        input.read_exact(&mut header[1..])?;
        let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "frame too large",
            ));
        }
        let mut payload = vec![0u8; len];
        input.read_exact(&mut payload)?;
        let number = || -> io::Result<i32> {
            let bytes: [u8; 4] = payload
                .as_slice()
                .try_into()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad status"))?;
            Ok(i32::from_le_bytes(bytes))
        };
        let frame = match header[0] {
            b'I' => Frame::Input(payload),
            b'E' => Frame::EndOfInput,
            b'K' => Frame::Kill,
            b'G' => Frame::Started,
            b'O' => Frame::Stdout(payload),
            b'R' => Frame::Stderr(payload),
            b'D' => Frame::Done,
            b'X' => Frame::Exited(number()?),
            b'S' => Frame::Killed(number()?),
            b'T' => Frame::TimedOut,
            b'N' => Frame::Ended,
            b'L' => Frame::OutputLimit,
            b'U' => Frame::CpuLimit,
            b'M' => Frame::MemoryLimit,
            b'A' => Frame::Run(payload),
            b'Z' => Frame::KillRuns(payload),
            b'Q' => Frame::KillTemplate,
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown frame type {other:#x}"),
                ));
            }
        };
        Ok(Some(frame))
    }
}

/// Takes one complete frame off the front of `buffer`, if there is one.
pub fn take_frame(buffer: &mut Vec<u8>) -> io::Result<Option<Frame>> {
    if buffer.len() < 5 {
        return Ok(None);
    }
    let len = u32::from_le_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    if buffer.len() < 5 + len {
        return Ok(None);
    }
    let frame = Frame::read_from(&mut &buffer[..5 + len])?;
    buffer.drain(..5 + len);
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let frames = [
            Frame::Input(b"x = 41\n".to_vec()),
            Frame::EndOfInput,
            Frame::Kill,
            Frame::Started,
            Frame::Stdout(b"42\n".to_vec()),
            Frame::Stderr(Vec::new()),
            Frame::Done,
            Frame::Exited(3),
            Frame::Killed(9),
            Frame::TimedOut,
            Frame::Ended,
            Frame::OutputLimit,
            Frame::CpuLimit,
            Frame::MemoryLimit,
            Frame::Run(b"#chan".to_vec()),
            Frame::KillRuns(b"alice".to_vec()),
            Frame::KillTemplate,
        ];
        let mut wire = Vec::new();
        for frame in &frames {
            frame.write_to(&mut wire).unwrap();
        }
        let mut reader = wire.as_slice();
        for frame in &frames {
            assert_eq!(Frame::read_from(&mut reader).unwrap().as_ref(), Some(frame));
        }
        assert_eq!(Frame::read_from(&mut reader).unwrap(), None);
    }

    #[test]
    fn hostile_frames_are_errors_not_panics() {
        let mut huge = vec![b'I'];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(Frame::read_from(&mut huge.as_slice()).is_err());
        assert!(Frame::read_from(&mut &b"W\0\0\0\0"[..]).is_err());
        assert!(Frame::read_from(&mut &b"X\x02\0\0\0ab"[..]).is_err());
        assert!(Frame::read_from(&mut &b"O\x05\0\0\0ab"[..]).is_err());
    }
}
