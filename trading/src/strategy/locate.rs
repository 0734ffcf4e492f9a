//! Finds the line of a key path (`training.split.train`, `nn_inputs[2].input`,
//! `fuzzy_sets.macd.histogram`) in YAML text, for error messages. The YAML parser only reports lines
//! for syntax errors; this follows the path down the indentation instead. It is a best effort for
//! block-style YAML (what strategy files use) and says nothing when unsure.

/// 1-based line of the deepest segment of `path` that could be found.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let segments: Vec<&str> = path.split('.').collect();
    let (mut from, mut found, mut next) = (0, None, 0);
    while next < segments.len() {
        // Keys may contain dots (`macd.histogram`): try the longest run of segments first.
        let hit = (next + 1..=segments.len()).rev().find_map(|end| {
            // A list index ends a key: `a[1].b` never names a key "a[1].b".
            if segments[next..end - 1].iter().any(|s| s.contains('[')) {
                return None;
            }
            let joined = segments[next..end].join(".");
            let (key, item) = match joined.split_once('[') {
                Some((key, index)) => (key.to_string(), index.trim_end_matches(']').parse().ok()),
                None => (joined, None),
            };
            block_key_line(&lines, from, &key).map(|line| (line, item, end))
        });
        let Some((line, item, end)) = hit else {
            break;
        };
        found = Some(line + 1);
        from = line + 1;
        next = end;
        if let Some(n) = item {
            // `key[n]`: the n-th `- ` item of the list under the key; its first key is on that line.
            let Some(item_line) = list_item_line(&lines, line, n) else {
                break;
            };
            found = Some(item_line + 1);
            from = item_line;
        }
    }
    found
}

/// Indentation of a line, counting a list item's `- ` as indentation (its keys align with it).
fn indent(line: &str) -> usize {
    line.len() - line.trim_start().trim_start_matches("- ").len()
}

fn is_content(line: &str) -> bool {
    let trimmed = line.trim();
    !trimmed.is_empty() && !trimmed.starts_with('#')
}

/// The line of `key` among the keys of the block that starts at line `from` (the block's keys share
/// the indentation of its first content line; it ends at a shallower line).
fn block_key_line(lines: &[&str], from: usize, key: &str) -> Option<usize> {
    let first = (from..lines.len()).find(|&i| is_content(lines[i]))?;
    let block_indent = indent(lines[first]);
    (first..lines.len())
        .filter(|&i| is_content(lines[i]))
        .take_while(|&i| indent(lines[i]) >= block_indent)
        .find(|&i| {
            let content = lines[i].trim_start().trim_start_matches("- ");
            indent(lines[i]) == block_indent
                && content.contains(':')
                && content
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_matches('"')
                    == key
        })
}

/// The line of the n-th `- ` item in the list under the key on line `key_line`.
fn list_item_line(lines: &[&str], key_line: usize, n: usize) -> Option<usize> {
    let key_indent = indent(lines[key_line]);
    (key_line + 1..lines.len())
        .filter(|&i| is_content(lines[i]))
        .take_while(|&i| indent(lines[i]) > key_indent)
        .filter(|&i| lines[i].trim_start().starts_with("- "))
        .nth(n)
}

#[cfg(test)]
mod tests {
    use super::line_of;

    #[test]
    fn follows_the_path_down_the_indentation() {
        let text = "name: x\ntraining:\n  epochs: 3\n  split:\n    train: 2\nsplit: 1\n";
        assert_eq!(line_of(text, "training.split.train"), Some(5));
        assert_eq!(line_of(text, "split"), Some(6));
        assert_eq!(line_of(text, "training.epochs"), Some(3));
        assert_eq!(line_of(text, "missing"), None);
        let list = "inputs:\n  - input: a\n    lags: 1\n  - input: b\nmodel: {}\n";
        assert_eq!(line_of(list, "inputs[1].input"), Some(4));
        assert_eq!(line_of(list, "inputs[0].lags"), Some(3));
        let dotted = "fuzzy_sets:\n  macd.histogram:\n    low: [1, 2, 3]\n";
        assert_eq!(line_of(dotted, "fuzzy_sets.macd.histogram.low"), Some(3));
    }
}
