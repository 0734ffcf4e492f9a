//! Input checks before any query: a request's fields are taken one by one from its JSON body or
//! query string, each problem recorded with its key path (`body.max_attempts`, `query.limit`), and
//! the request refused with all of them at once (422). Unknown names are problems too, so a typo
//! is not silently ignored.

use std::{collections::HashMap, ops::RangeInclusive};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::envelope::{ApiError, FieldError};

/// The longest id accepted (the database's own limit, migration V9).
const MAX_ID_LEN: usize = 200;

/// An operation or worker id of the database's form (1 to 200 letters, digits, `_`, `-`), checked
/// before it is used in a query.
pub fn id(name: &str, value: &str) -> Result<(), ApiError> {
    let plain = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if value.is_empty() || value.len() > MAX_ID_LEN || !plain {
        return Err(ApiError::invalid(
            &format!("path.{name}"),
            format!("must be 1 to {MAX_ID_LEN} letters, digits, '_' or '-'"),
        ));
    }
    Ok(())
}

/// A worker id: any 1 to 200 characters without control characters (hosts name workers, with
/// dots and all).
pub fn worker_id(value: &str) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > MAX_ID_LEN || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "path.worker_id",
            format!("must be 1 to {MAX_ID_LEN} characters without control characters"),
        ));
    }
    Ok(())
}

/// The fields of one body or query string, taken one at a time.
pub struct Fields {
    prefix: &'static str,
    values: Map<String, Value>,
    /// Query strings carry text only: numbers and booleans are parsed from it.
    from_text: bool,
    errors: Vec<FieldError>,
}

impl Fields {
    /// A JSON body, which must be an object.
    pub fn body(body: Value) -> Result<Self, ApiError> {
        match body {
            Value::Object(values) => Ok(Self {
                prefix: "body",
                values,
                from_text: false,
                errors: Vec::new(),
            }),
            other => Err(ApiError::invalid(
                "body",
                format!("must be a JSON object, got {}", kind(&other)),
            )),
        }
    }

    /// A body that may be absent (`null`: no body at all).
    pub fn optional_body(body: Option<Value>) -> Result<Self, ApiError> {
        Self::body(body.unwrap_or_else(|| Value::Object(Map::new())))
    }

    pub fn query(params: HashMap<String, String>) -> Self {
        Self {
            prefix: "query",
            values: params
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
            from_text: true,
            errors: Vec::new(),
        }
    }

    fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: format!("{}.{key}", self.prefix),
            message: message.into(),
        });
    }

    /// Takes `key`, treating JSON `null` as absent.
    fn take(&mut self, key: &str) -> Option<Value> {
        self.values.remove(key).filter(|v| !v.is_null())
    }

    pub fn string(&mut self, key: &str) -> Option<String> {
        match self.take(key)? {
            // PostgreSQL text cannot hold NUL: refused here, by name, rather than by the database.
            Value::String(text) if text.contains('\0') => {
                self.problem(key, "must not contain NUL characters");
                None
            }
            Value::String(text) => Some(text),
            other => {
                self.problem(key, format!("must be a string, got {}", kind(&other)));
                None
            }
        }
    }

    pub fn required_string(&mut self, key: &str) -> Option<String> {
        let present = self.values.get(key).is_some_and(|v| !v.is_null());
        if !present {
            self.problem(key, "is required");
            return None;
        }
        self.string(key).filter(|text| {
            let empty = text.trim().is_empty();
            if empty {
                self.problem(key, "must not be empty");
            }
            !empty
        })
    }

    /// An id of the database's form.
    pub fn id(&mut self, key: &str, required: bool) -> Option<String> {
        let value = if required {
            self.required_string(key)?
        } else {
            self.string(key)?
        };
        match id(key, &value) {
            Ok(()) => Some(value),
            Err(_) => {
                self.problem(
                    key,
                    format!("must be 1 to {MAX_ID_LEN} letters, digits, '_' or '-'"),
                );
                None
            }
        }
    }

    pub fn integer(&mut self, key: &str, range: RangeInclusive<i64>) -> Option<i64> {
        let value = self.take(key)?;
        let number = match (&value, self.from_text) {
            (Value::Number(n), false) => n.as_i64(),
            (Value::String(text), true) => text.trim().parse().ok(),
            _ => None,
        };
        match number {
            Some(n) if range.contains(&n) => Some(n),
            Some(n) => {
                self.problem(
                    key,
                    format!("must be from {} to {}, got {n}", range.start(), range.end()),
                );
                None
            }
            None => {
                self.problem(key, format!("must be an integer, got {}", shown(&value)));
                None
            }
        }
    }

    /// A finite number in `range`.
    pub fn number(&mut self, key: &str, range: RangeInclusive<f64>) -> Option<f64> {
        let value = self.take(key)?;
        match value.as_f64().filter(|n| n.is_finite()) {
            Some(n) if range.contains(&n) => Some(n),
            Some(n) => {
                self.problem(
                    key,
                    format!("must be from {} to {}, got {n}", range.start(), range.end()),
                );
                None
            }
            None => {
                self.problem(key, format!("must be a number, got {}", shown(&value)));
                None
            }
        }
    }

    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        let value = self.take(key)?;
        match (&value, self.from_text) {
            (Value::Bool(b), false) => Some(*b),
            (Value::String(text), true) => match text.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(true),
                "false" | "0" | "no" => Some(false),
                _ => {
                    self.problem(key, format!("must be true or false, got {}", shown(&value)));
                    None
                }
            },
            _ => {
                self.problem(key, format!("must be true or false, got {}", shown(&value)));
                None
            }
        }
    }

    /// A day (`YYYY-MM-DD`, midnight UTC) or an RFC 3339 time.
    pub fn time(&mut self, key: &str) -> Option<DateTime<Utc>> {
        let text = self.string(key)?;
        if let Ok(day) = NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            return Some(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
        }
        match DateTime::parse_from_rfc3339(&text) {
            Ok(at) => Some(at.with_timezone(&Utc)),
            Err(_) => {
                self.problem(
                    key,
                    format!("'{text}' is not a date (YYYY-MM-DD) or an RFC 3339 time"),
                );
                None
            }
        }
    }

    /// Any JSON value.
    pub fn value(&mut self, key: &str) -> Option<Value> {
        self.take(key)
    }

    /// Parses `key` with `parse`, recording its error.
    pub fn parsed<T>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, ktrdr::Error>,
    ) -> Option<T> {
        let text = self.string(key)?;
        match parse(&text) {
            Ok(value) => Some(value),
            Err(err) => {
                self.problem(key, err.to_string());
                None
            }
        }
    }

    /// Every problem so far and every name not taken, or nothing.
    pub fn finish(mut self) -> Result<(), ApiError> {
        let mut unknown: Vec<String> = self.values.keys().cloned().collect();
        unknown.sort();
        for key in unknown {
            self.problem(&key, "is not a known field");
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value for a message: short ones as themselves, others by their kind.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.len() <= 40 {
        text
    } else {
        kind(value).to_string()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Fields;

    #[tokio::test]
    async fn every_problem_is_named_with_its_path() {
        let mut fields =
            Fields::body(json!({"a": "x", "n": 0, "when": "soon", "extra": 1})).unwrap();
        assert_eq!(fields.integer("n", 1..=5), None);
        assert_eq!(fields.string("a").as_deref(), Some("x"));
        assert_eq!(fields.time("when"), None);
        assert_eq!(fields.required_string("missing"), None);
        let response = axum::response::IntoResponse::into_response(fields.finish().unwrap_err());
        assert_eq!(response.status(), 422);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let paths: Vec<&str> = body["error"]["details"]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["path"].as_str().unwrap())
            .collect();
        assert_eq!(paths, ["body.n", "body.when", "body.missing", "body.extra"]);
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    }

    #[test]
    fn query_values_are_parsed_from_text() {
        let params = [("limit", "20"), ("active", "TRUE")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut fields = Fields::query(params);
        assert_eq!(fields.integer("limit", 1..=100), Some(20));
        assert_eq!(fields.boolean("active"), Some(true));
        assert!(fields.finish().is_ok());
    }
}
