//! How large and how deep an operation's params may be: [`MAX_PARAMS_BYTES`] as PostgreSQL prints
//! the jsonb, and [`MAX_PARAMS_DEPTH`] levels of objects and arrays. Params are copied into every
//! claim, every `ops show` and every worker, so a submit refuses more — here, before anything is
//! sent, and in `ktrdr.validate_submission` (sql/20_submit.sql), with the same limits and the same
//! messages, for every other client. Real params are a few KiB (a training's strategy) and nest 6
//! deep.

use serde_json::Value;

use crate::{Error, Result};

/// The largest params, in bytes of `params::text` in PostgreSQL (1 MiB).
pub const MAX_PARAMS_BYTES: usize = 1024 * 1024;
/// The deepest nesting of objects and arrays in params (`{}` is 1 deep, `{"a": []}` 2).
pub const MAX_PARAMS_DEPTH: usize = 32;

/// Refuses params deeper than [`MAX_PARAMS_DEPTH`] or larger than [`MAX_PARAMS_BYTES`], in the
/// words of the database's own check.
pub fn check_params_limits(params: &Value) -> Result<()> {
    // Depth first and without recursion: the size below recurses, and a deep value may be one a
    // program built (serde_json's parser itself stops at 128).
    if depth_beyond(params, MAX_PARAMS_DEPTH) {
        return Err(too_deep());
    }
    let bytes = jsonb_text_len(params);
    if bytes > MAX_PARAMS_BYTES {
        return Err(Error::InvalidInput(format!(
            "params are {bytes} bytes as JSON, over the limit of {MAX_PARAMS_BYTES} bytes (1 MiB)"
        )));
    }
    Ok(())
}

/// Refuses JSON text whose objects and arrays nest deeper than [`MAX_PARAMS_DEPTH`], before it is
/// parsed: serde_json's parser stops at 128 levels with "recursion limit exceeded", which says
/// neither the limit nor what to fix.
pub fn check_params_text_depth(text: &str) -> Result<()> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for byte in text.bytes() {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'{' | b'[') => {
                depth += 1;
                if depth > MAX_PARAMS_DEPTH {
                    return Err(too_deep());
                }
            }
            (false, _, b'}' | b']') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn too_deep() -> Error {
    Error::InvalidInput(format!(
        "params nest deeper than {MAX_PARAMS_DEPTH} levels of objects and arrays (the limit)"
    ))
}

/// Whether objects and arrays nest more than `max` levels in `value`.
fn depth_beyond(value: &Value, max: usize) -> bool {
    let mut pending = vec![(value, 1)];
    while let Some((value, depth)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Object(map) => Box::new(map.values()),
            Value::Array(items) => Box::new(items.iter()),
            _ => continue,
        };
        if depth > max {
            return true;
        }
        pending.extend(children.map(|child| (child, depth + 1)));
    }
    false
}

/// The length of `value` as PostgreSQL prints a jsonb (`{"a": [1, 2]}`: `", "` and `": "` between
/// items); strings escape alike in both, numbers are counted as serde_json writes them.
fn jsonb_text_len(value: &Value) -> usize {
    let separators = |n: usize| 2 * n.saturating_sub(1);
    match value {
        Value::Object(map) => {
            2 + separators(map.len())
                + map
                    .iter()
                    .map(|(key, value)| {
                        scalar_len(&Value::from(key.as_str())) + 2 + jsonb_text_len(value)
                    })
                    .sum::<usize>()
        }
        Value::Array(items) => {
            2 + separators(items.len()) + items.iter().map(jsonb_text_len).sum::<usize>()
        }
        scalar => scalar_len(scalar),
    }
}

fn scalar_len(value: &Value) -> usize {
    serde_json::to_string(value).map_or(0, |text| text.len())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{MAX_PARAMS_DEPTH, check_params_text_depth, depth_beyond, jsonb_text_len};

    #[test]
    fn the_length_is_that_of_postgresqls_jsonb_text() {
        // As `SELECT octet_length('{"a":[1,2],"b":"x\n"}'::jsonb::text)` answers.
        assert_eq!(jsonb_text_len(&json!({"a": [1, 2], "b": "x\n"})), 25);
        assert_eq!(jsonb_text_len(&json!({})), 2);
        assert_eq!(jsonb_text_len(&json!({"é": []})), 10);
    }

    #[test]
    fn objects_and_arrays_are_levels_and_scalars_are_not() {
        assert!(!depth_beyond(&json!({"a": 1}), 1));
        assert!(depth_beyond(&json!({"a": []}), 1));
        assert!(!depth_beyond(&json!({"a": [[]]}), 3));
        assert!(depth_beyond(&json!({"a": [[]]}), 2));
    }

    #[test]
    fn text_depth_counts_brackets_outside_strings_only() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(check_params_text_depth(&nested(MAX_PARAMS_DEPTH)).is_ok());
        assert!(check_params_text_depth(&nested(MAX_PARAMS_DEPTH + 1)).is_err());
        assert!(check_params_text_depth(&nested(200)).is_err());
        // Brackets inside strings, after an escaped quote too, do not nest.
        let in_strings = format!(r#"{{"a": "{}", "b": "\"{{"}}"#, "[".repeat(100));
        assert!(check_params_text_depth(&in_strings).is_ok(), "{in_strings}");
    }
}
