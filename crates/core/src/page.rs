//! Opaque page tokens for cursor pagination. A token is bound to the query that produced
//! it, so it cannot be replayed against a different filter.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::Error;

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 200;

/// A listing's time filter (`from_time`, `to_time`): when both are given, `to_time` is the
/// later.
pub fn time_window(from_us: Option<i64>, to_us: Option<i64>) -> Result<(), Error> {
    match (from_us, to_us) {
        (Some(from), Some(to)) if from >= to => {
            Err(Error::rule("to_time", "must be later than from_time"))
        }
        _ => Ok(()),
    }
}

/// Validates `page_size` (0 means the default) and returns the effective size.
pub fn page_size(requested: i32) -> Result<usize, Error> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n < 0 => Err(Error::field("page_size", "must not be negative")),
        n => Ok((n as usize).min(MAX_PAGE_SIZE)),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Sort key of the last item returned.
    #[serde(rename = "a")]
    pub after: String,
    /// Fingerprint of the query's filter.
    #[serde(rename = "q")]
    pub query: u64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        // Serializing two plain fields cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes a client's token; it must come from the same query (`query` fingerprint).
    pub fn decode(token: &str, query: u64) -> Result<Option<Self>, Error> {
        if token.is_empty() {
            return Ok(None);
        }
        let invalid = || Error::rule("page_token", "is not a token returned by this query");
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if cursor.query != query {
            return Err(invalid());
        }
        Ok(Some(cursor))
    }
}

/// The position a page token resumes after, read by `parse` (e.g. an id's `parse`);
/// `None` for the first page. A token from another query, or one whose position does not
/// parse, is an error naming `page_token`.
pub fn resume_after<T, E>(
    token: &str,
    query: u64,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, Error> {
    match Cursor::decode(token, query)? {
        None => Ok(None),
        Some(c) => parse(&c.after)
            .map(Some)
            .map_err(|_| Error::rule("page_token", "is not a token returned by this query")),
    }
}

/// Cuts `rows`, fetched with one extra row, to `size`, and returns the token of the next
/// page (keyed by `key` of the last row kept) when there is one.
pub fn next_page<T>(
    rows: &mut Vec<T>,
    size: usize,
    query: u64,
    key: impl Fn(&T) -> String,
) -> Option<String> {
    if rows.len() <= size {
        return None;
    }
    rows.truncate(size);
    rows.last().map(|last| {
        Cursor {
            after: key(last),
            query,
        }
        .encode()
    })
}

/// A stable fingerprint (FNV-1a) of the filter parts of a list query.
pub fn fingerprint(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0xff)) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_for_the_same_query() {
        let q = fingerprint(&["smith", ""]);
        let c = Cursor {
            after: "abc".into(),
            query: q,
        };
        assert_eq!(Cursor::decode(&c.encode(), q).unwrap(), Some(c));
        assert_eq!(Cursor::decode("", q).unwrap(), None);
    }

    #[test]
    fn tokens_of_another_query_or_garbage_are_rejected() {
        let c = Cursor {
            after: "abc".into(),
            query: fingerprint(&["smith"]),
        };
        let err = Cursor::decode(&c.encode(), fingerprint(&["jones"])).unwrap_err();
        assert!(err.to_string().starts_with("page_token:"));
        assert!(Cursor::decode("%%%", 1).is_err());
    }

    #[test]
    fn page_size_defaults_and_caps() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(10_000).unwrap(), MAX_PAGE_SIZE);
        assert!(page_size(-1).is_err());
    }
}
