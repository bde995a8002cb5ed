//! BER-TLV as the card uses it (multi-byte private tags like `FF20`/`DF21`, lengths up to `83`),
//! and the card's simple-TLV (records of the common card application).
//!
//! Everything here reads untrusted bytes from a card: it never panics and never allocates more than
//! the input holds.

/// A decoding failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// The bytes end inside a tag, a length or a value.
    #[error("TLV truncated")]
    Truncated,
    /// A length form the card does not use (indefinite, or more than 3 length bytes).
    #[error("unsupported TLV length form")]
    BadLength,
    /// A tag longer than 3 bytes.
    #[error("TLV tag too long")]
    BadTag,
}

/// One BER-TLV object borrowed from its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// Tag as its bytes read big-endian (`0xFF20`, `0xDF21`, `0x30`).
    pub tag: u32,
    /// Value.
    pub value: &'a [u8],
    /// Length of the whole object (tag + length + value).
    pub total_len: usize,
}

impl Tlv<'_> {
    /// Whether the tag is constructed (holds other TLVs).
    pub fn is_constructed(&self) -> bool {
        let first = if self.tag > 0xFFFF {
            self.tag >> 16
        } else if self.tag > 0xFF {
            self.tag >> 8
        } else {
            self.tag
        };
        first & 0x20 != 0
    }
}

/// Reads a tag and a length; returns (tag, value length, header length).
pub fn header(input: &[u8]) -> Result<(u32, usize, usize), TlvError> {
    let first = *input.first().ok_or(TlvError::Truncated)?;
    let mut tag = first as u32;
    let mut pos = 1;
    if first & 0x1F == 0x1F {
        loop {
            let b = *input.get(pos).ok_or(TlvError::Truncated)?;
            tag = (tag << 8) | b as u32;
            pos += 1;
            if b & 0x80 == 0 {
                break;
            }
            if pos >= 3 {
                return Err(TlvError::BadTag);
            }
        }
    }
    let l0 = *input.get(pos).ok_or(TlvError::Truncated)?;
    pos += 1;
    let len = match l0 {
        0..=0x7F => l0 as usize,
        0x81..=0x83 => {
            let n = (l0 & 0x7F) as usize;
            let bytes = input.get(pos..pos + n).ok_or(TlvError::Truncated)?;
            pos += n;
            bytes.iter().fold(0usize, |acc, &b| (acc << 8) | b as usize)
        }
        _ => return Err(TlvError::BadLength),
    };
    Ok((tag, len, pos))
}

/// Parses the object at the start of `input` (bytes after it are ignored: files carry filler).
pub fn parse(input: &[u8]) -> Result<Tlv<'_>, TlvError> {
    let (tag, len, hlen) = header(input)?;
    let end = hlen.checked_add(len).ok_or(TlvError::BadLength)?;
    let value = input.get(hlen..end).ok_or(TlvError::Truncated)?;
    Ok(Tlv { tag, value, total_len: end })
}

/// Total length of the object whose header starts `input`: what a whole-file read needs.
pub fn total_len(input: &[u8]) -> Result<usize, TlvError> {
    let (_, len, hlen) = header(input)?;
    hlen.checked_add(len).ok_or(TlvError::BadLength)
}

/// Iterates over consecutive objects (e.g. the children of a constructed value).
/// Stops at the end or at filler (`00`/`FF` where a tag would be).
pub fn children(mut input: &[u8]) -> impl Iterator<Item = Result<Tlv<'_>, TlvError>> {
    core::iter::from_fn(move || {
        if input.is_empty() || input[0] == 0x00 || input[0] == 0xFF && input.get(1).is_none_or(|&b| b == 0xFF) {
            return None;
        }
        match parse(input) {
            Ok(tlv) => {
                input = &input[tlv.total_len..];
                Some(Ok(tlv))
            }
            Err(e) => {
                input = &[];
                Some(Err(e))
            }
        }
    })
}

/// Finds the first child with `tag`.
pub fn find(input: &[u8], tag: u32) -> Result<Option<Tlv<'_>>, TlvError> {
    for child in children(input) {
        let child = child?;
        if child.tag == tag {
            return Ok(Some(child));
        }
    }
    Ok(None)
}

/// Parses one simple-TLV object (1-byte tag; length `FF` is followed by two length bytes).
pub fn parse_simple(input: &[u8]) -> Result<(u8, &[u8]), TlvError> {
    let tag = *input.first().ok_or(TlvError::Truncated)?;
    let l0 = *input.get(1).ok_or(TlvError::Truncated)?;
    let (len, start) = if l0 == 0xFF {
        let b = input.get(2..4).ok_or(TlvError::Truncated)?;
        (u16::from_be_bytes([b[0], b[1]]) as usize, 4)
    } else {
        (l0 as usize, 2)
    };
    let value = input.get(start..start + len).ok_or(TlvError::Truncated)?;
    Ok((tag, value))
}

/// Encodes a BER length (used by tests and the virtual card).
pub fn encode_len(len: usize, out: &mut Vec<u8>) {
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xFFFF => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
        _ => out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]),
    }
}

/// Encodes one object.
pub fn encode(tag: u32, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    let tag_bytes = tag.to_be_bytes();
    let skip = tag_bytes.iter().take_while(|&&b| b == 0).count().min(3);
    out.extend_from_slice(&tag_bytes[skip..]);
    encode_len(value.len(), &mut out);
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_tags_and_long_lengths() {
        let inner = [encode(0xDF22, b"19800217"), encode(0xDF23, b"1")].concat();
        let outer = encode(0xFF20, &inner);
        let mut file = outer.clone();
        file.extend_from_slice(&[0xFF; 10]);
        let tlv = parse(&file).unwrap();
        assert_eq!(tlv.tag, 0xFF20);
        assert!(tlv.is_constructed());
        assert_eq!(tlv.total_len, outer.len());
        assert_eq!(find(tlv.value, 0xDF23).unwrap().unwrap().value, b"1");
        assert_eq!(total_len(&file[..4]).unwrap(), outer.len());
        let big = encode(0x04, &[7; 300]);
        assert_eq!(&big[..4], &[0x04, 0x82, 0x01, 0x2C]);
        assert_eq!(parse(&big).unwrap().value.len(), 300);
        assert_eq!(children(&[0x00, 0x00]).count(), 0, "filler ends the list");
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert_eq!(parse(&[]), Err(TlvError::Truncated));
        assert_eq!(parse(&[0xDF]), Err(TlvError::Truncated));
        assert_eq!(parse(&[0x30, 0x05, 1, 2]), Err(TlvError::Truncated));
        assert_eq!(parse(&[0x30, 0x84, 1, 2, 3, 4]), Err(TlvError::BadLength));
        assert_eq!(parse(&[0x30, 0x80]), Err(TlvError::BadLength));
        assert_eq!(parse(&[0xDF, 0x81, 0x81, 0x81, 0x01, 0x00]), Err(TlvError::BadTag));
        assert_eq!(parse_simple(&[0x01, 0x1C, 0x31]), Err(TlvError::Truncated));
        assert_eq!(parse_simple(&[0x01, 0x02, 0x31, 0x32]).unwrap(), (1, &b"12"[..]));
    }

    #[test]
    fn every_prefix_of_a_valid_object_is_rejected_without_panic() {
        let obj = encode(0xFF20, &encode(0xDF21, &[1; 200]));
        for cut in 0..obj.len() {
            assert!(parse(&obj[..cut]).is_err());
        }
    }
}
