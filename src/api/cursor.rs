//! Opaque pagination cursors, as Django REST framework's CursorPagination
//! hands them out: a position in the list (the id an item page starts
//! after or before) and a direction, signed so that a cursor that was
//! tampered with is refused (400) rather than read. Pure: no HTTP.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Where a page starts: after `id` going forward, or before it going back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub id: i64,
    pub backward: bool,
}

/// Bytes of the MAC kept in a cursor: 128 bits.
const TAG_BYTES: usize = 16;

impl Position {
    pub fn encode(&self, key: &[u8; 32]) -> String {
        let payload = format!("{}{}", if self.backward { 'b' } else { 'f' }, self.id);
        let tag = tag(key, payload.as_bytes());
        format!(
            "{}.{}",
            hex::encode(payload),
            hex::encode(&tag[..TAG_BYTES])
        )
    }

    /// `None` for anything this service did not sign.
    pub fn decode(cursor: &str, key: &[u8; 32]) -> Option<Position> {
        let (payload, mac) = cursor.split_once('.')?;
        let payload = hex::decode(payload).ok()?;
        let mac = hex::decode(mac).ok()?;
        let mut check = Hmac::<Sha256>::new_from_slice(key).ok()?;
        check.update(&payload);
        check.verify_truncated_left(&mac).ok()?;
        if mac.len() != TAG_BYTES {
            return None;
        }
        let payload = std::str::from_utf8(&payload).ok()?;
        let (direction, id) = payload.split_at_checked(1)?;
        let id: i64 = id.parse().ok()?;
        let backward = match direction {
            "f" => false,
            "b" => true,
            _ => return None,
        };
        Some(Position { id, backward })
    }
}

fn tag(key: &[u8; 32], payload: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_a_tampered_one_does_not() {
        let key = [7u8; 32];
        let position = Position {
            id: 42,
            backward: true,
        };
        let cursor = position.encode(&key);
        assert_eq!(Position::decode(&cursor, &key), Some(position));
        assert_eq!(Position::decode(&cursor, &[8u8; 32]), None);
        let forged = Position {
            id: 43,
            backward: true,
        }
        .encode(&[8u8; 32]);
        assert_eq!(Position::decode(&forged, &key), None);
        let mut flipped = cursor.clone().into_bytes();
        flipped[1] ^= 1;
        assert_eq!(
            Position::decode(&String::from_utf8(flipped).unwrap(), &key),
            None
        );
        for garbage in ["", ".", "abc", "zz.zz", "66.", &cursor[..cursor.len() - 2]] {
            assert_eq!(Position::decode(garbage, &key), None, "{garbage}");
        }
    }
}
