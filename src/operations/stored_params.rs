//! Params as read back from the database. A jsonb column holds JSON that serde_json cannot always
//! decode — nested deeper than its recursion limit (128), or a number beyond an f64 — as an older
//! version, a hand-written UPDATE or another client may have stored it past the submit limits. One
//! such row must not fail a claim, `ops show` or `ops list`: params are selected as text and
//! decoded here, per operation, into [`StoredParams`].

use std::fmt;

use serde::{Serialize, Serializer, ser::SerializeMap};
use serde_json::Value;

/// How much of undecodable params is kept to show, in characters.
const EXCERPT_CHARS: usize = 200;

/// An operation's params: decoded, or the start of their text and why they cannot be decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredParams {
    Decoded(Value),
    Undecodable {
        /// The decoder's error.
        reason: String,
        /// The first [`EXCERPT_CHARS`] characters of the stored text.
        text_start: String,
        /// The length of the stored text, in bytes.
        text_bytes: usize,
    },
}

impl StoredParams {
    /// The params, or (for a worker that must fail the operation) why they cannot be read.
    pub fn into_result(self) -> Result<Value, String> {
        match self {
            StoredParams::Decoded(value) => Ok(value),
            StoredParams::Undecodable { reason, .. } => {
                Err(format!("the stored params cannot be read: {reason}"))
            }
        }
    }
}

impl From<String> for StoredParams {
    /// Decodes `text`, the params as PostgreSQL prints them (`params::text`).
    fn from(text: String) -> Self {
        match serde_json::from_str(&text) {
            Ok(value) => StoredParams::Decoded(value),
            Err(err) => StoredParams::Undecodable {
                reason: err.to_string(),
                text_start: text.chars().take(EXCERPT_CHARS).collect(),
                text_bytes: text.len(),
            },
        }
    }
}

/// Decoded params as themselves; undecodable ones as
/// `{"undecodable": reason, "text_start": …, "text_bytes": n}`.
impl Serialize for StoredParams {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            StoredParams::Decoded(value) => value.serialize(serializer),
            StoredParams::Undecodable {
                reason,
                text_start,
                text_bytes,
            } => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("undecodable", reason)?;
                map.serialize_entry("text_start", text_start)?;
                map.serialize_entry("text_bytes", text_bytes)?;
                map.end()
            }
        }
    }
}

/// Decoded params as compact JSON; undecodable ones with the reason and the start of their text.
impl fmt::Display for StoredParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoredParams::Decoded(value) => write!(f, "{value}"),
            StoredParams::Undecodable {
                reason,
                text_start,
                text_bytes,
            } => {
                write!(f, "(cannot be decoded: {reason}; {text_bytes} bytes")?;
                if text_start.len() < *text_bytes {
                    write!(f, ", the first {EXCERPT_CHARS} characters")?;
                }
                write!(f, ") {text_start}")?;
                if text_start.len() < *text_bytes {
                    f.write_str("…")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::StoredParams;

    #[test]
    fn decodable_params_are_themselves_and_others_their_start_and_reason() {
        let params = StoredParams::from(r#"{"a": [1, 2]}"#.to_string());
        assert_eq!(params, StoredParams::Decoded(json!({"a": [1, 2]})));
        assert_eq!(params.to_string(), r#"{"a":[1,2]}"#);

        let huge = StoredParams::from(r#"{"x": 1e400}"#.to_string());
        assert_eq!(
            huge.to_string(),
            "(cannot be decoded: number out of range at line 1 column 11; 12 bytes) {\"x\": 1e400}"
        );
        assert_eq!(
            serde_json::to_value(&huge).unwrap(),
            json!({"undecodable": "number out of range at line 1 column 11",
                   "text_start": "{\"x\": 1e400}", "text_bytes": 12})
        );
        assert_eq!(
            huge.into_result(),
            Err("the stored params cannot be read: number out of range at line 1 column 11".into())
        );
    }
}
