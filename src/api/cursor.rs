//! The `cursor` of a keyset-paged list: the sort key of the last row of a page, opaque to
//! clients. A cursor is hex of a version byte, the list it belongs to, the key's fields
//! (each length-prefixed) and a 4-byte checksum, so that a cursor edited by hand, cut short
//! or taken from another list is refused (400) instead of starting a page somewhere
//! arbitrary. It is not a secret and grants nothing: every page is still read within the
//! caller's tenant.

use sha2::{Digest, Sha256};

use super::error::ApiError;

/// The format version; a later format gets another, and old cursors a clear refusal.
const VERSION: u8 = 1;
/// Longest cursor accepted, in characters: a key is a few external ids or emails, each at
/// most a few hundred bytes (the longest cell an import stores is bounded too).
pub(crate) const MAX_CURSOR_LEN: usize = 4096;
const CHECKSUM_LEN: usize = 4;

/// The list a cursor belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum CursorList {
    Opportunities = 1,
    Contacts = 2,
    SalesTargets = 3,
}

/// Encodes the sort key `fields` of the last row of a page of `list`.
pub(crate) fn encode(list: CursorList, fields: &[&str]) -> String {
    let mut bytes = vec![VERSION, list as u8];
    for field in fields {
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(field.as_bytes());
    }
    let checksum = Sha256::digest(&bytes);
    bytes.extend_from_slice(&checksum[..CHECKSUM_LEN]);
    hex::encode(bytes)
}

/// The `fields` key fields of a cursor of `list`; 400 naming `cursor` for anything else.
pub(crate) fn decode(
    list: CursorList,
    cursor: &str,
    fields: usize,
) -> Result<Vec<String>, ApiError> {
    let invalid = || {
        ApiError::BadRequest(
            "cursor is not valid: pass the cursor of a Link rel=\"next\" of this list unchanged"
                .into(),
        )
    };
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(invalid());
    }
    let bytes = hex::decode(cursor).map_err(|_| invalid())?;
    if bytes.len() < 2 + CHECKSUM_LEN {
        return Err(invalid());
    }
    let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    if Sha256::digest(body)[..CHECKSUM_LEN] != *checksum
        || body[0] != VERSION
        || body[1] != list as u8
    {
        return Err(invalid());
    }
    let mut rest = &body[2..];
    let mut out = Vec::with_capacity(fields);
    while !rest.is_empty() {
        let (len, tail) = rest.split_at_checked(4).ok_or_else(invalid)?;
        let len = u32::from_be_bytes(len.try_into().map_err(|_| invalid())?) as usize;
        let (field, tail) = tail.split_at_checked(len).ok_or_else(invalid)?;
        out.push(String::from_utf8(field.to_vec()).map_err(|_| invalid())?);
        rest = tail;
    }
    if out.len() != fields {
        return Err(invalid());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_gives_back_its_key() {
        let cursor = encode(
            CursorList::SalesTargets,
            &["2027-01-01", "dana@example.com"],
        );
        assert_eq!(
            decode(CursorList::SalesTargets, &cursor, 2).unwrap(),
            ["2027-01-01", "dana@example.com"]
        );
        let cursor = encode(CursorList::Opportunities, &["OPP-1 ünïcode"]);
        assert_eq!(
            decode(CursorList::Opportunities, &cursor, 1).unwrap(),
            ["OPP-1 ünïcode"]
        );
    }

    #[test]
    fn tampered_truncated_or_foreign_cursors_are_refused() {
        let cursor = encode(CursorList::Opportunities, &["OPP-1"]);
        let mut tampered = cursor.clone().into_bytes();
        let at = 14;
        tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        for bad in [
            tampered.as_str(),
            &cursor[..cursor.len() - 2],
            "",
            "zz",
            "not a cursor",
            &"ab".repeat(MAX_CURSOR_LEN),
        ] {
            let error = decode(CursorList::Opportunities, bad, 1).unwrap_err();
            assert!(error.to_string().starts_with("cursor"), "{bad}: {error}");
        }
        assert!(decode(CursorList::Contacts, &cursor, 1).is_err());
        assert!(decode(CursorList::Opportunities, &cursor, 2).is_err());
    }
}
