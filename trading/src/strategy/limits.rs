//! What a strategy may be: its file's size and nesting, its free text, and the sizes of its
//! training. Strategy files are small (the examples are 2 KiB, nested 6 deep); the limits are far
//! above any real strategy and far below what could exhaust a machine, and each check's message
//! names its limit. The model's memory is bounded separately (`super::resources`).
//!
//! The nesting is measured by [`nesting_beyond`] on the text, before the YAML parser sees it: the
//! parser's cost grows with the square of the depth (a 100,000-deep sequence took 17 s).

/// The largest strategy file read (1 MiB), checked before the file is read whole.
pub const MAX_STRATEGY_BYTES: usize = 1024 * 1024;
/// The deepest nesting of mappings and sequences in a strategy file.
pub const MAX_STRATEGY_DEPTH: usize = 32;
/// The longest `description`, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4096;
/// The longest `name`, `version`, indicator id or fuzzy-set name, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// The most indicators, nn inputs, or fuzzy sets over one input.
pub const MAX_ENTRIES: usize = 100;
/// The most hidden layers (each is a step of every forward and backward pass).
pub const MAX_HIDDEN_LAYERS: usize = 32;
/// The most epochs of a training.
pub const MAX_EPOCHS: usize = 100_000;
/// The largest batch.
pub const MAX_BATCH_SIZE: usize = 1_000_000;
/// The most bars of `training_data.history_required`, `training.labels.lookahead` and
/// `decisions.min_separation_bars` (a million bars is 114 years of hours).
pub const MAX_BARS: usize = 1_000_000;

/// The 1-based line on which the nesting of `text` first exceeds `max` levels, if it does.
///
/// One pass over the text, counting block levels by indentation (each `- ` that opens a sequence
/// item on a line is a level of its own) and flow levels by brackets outside quotes and comments;
/// the content of block scalars (`|`, `>`) is skipped. It is a measure, not a parser: YAML it
/// misreads is then refused or accepted by the parser, which sees the same text.
pub fn nesting_beyond(text: &str, max: usize) -> Option<usize> {
    // Indentation of every open block level, innermost last.
    let mut blocks: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    // Lines indented deeper than this belong to a block scalar.
    let mut scalar_indent: Option<usize> = None;
    for (index, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let rest = line[indent..].trim_end();
        if rest.is_empty() {
            continue;
        }
        match scalar_indent {
            Some(scalar) if indent > scalar => continue,
            _ => scalar_indent = None,
        }
        let mut column = indent;
        if flow == 0 {
            if rest.starts_with('#') {
                continue;
            }
            // A level is opened at each column where a block collection begins on this line: the
            // line's own (unless it is a flow collection, counted below), each sequence in a
            // sequence item (`- - x`), and a mapping in one (`- key: x`).
            let mut open = |column: usize, push: bool| {
                while blocks.last().is_some_and(|&top| top >= column) {
                    blocks.pop();
                }
                if push {
                    blocks.push(column);
                }
            };
            open(column, !rest.starts_with(['[', '{']));
            while line[column..].starts_with("- ") {
                column += 2;
                column += line[column..].len() - line[column..].trim_start_matches(' ').len();
                let content = line[column..].trim_end();
                if content.starts_with("- ") || content == "-" || is_block_key(content) {
                    open(column, true);
                }
            }
        }
        let mut quote: Option<u8> = None;
        let mut previous = b' ';
        for &byte in &line.as_bytes()[column.min(line.len())..] {
            match (quote, byte) {
                (Some(b'"'), b'\\') if previous == b'\\' => {
                    // An escaped backslash does not escape what follows.
                    previous = b' ';
                    continue;
                }
                (Some(q), _) if byte == q && !(q == b'"' && previous == b'\\') => quote = None,
                (Some(_), _) => {}
                // A quote opens a quoted scalar only where a token may begin (`it's` is plain).
                (None, b'"' | b'\'') if b" \t[{,:".contains(&previous) => quote = Some(byte),
                (None, b'#') if previous == b' ' || previous == b'\t' => break,
                (None, b'[' | b'{') => flow += 1,
                (None, b']' | b'}') => flow = flow.saturating_sub(1),
                _ => {}
            }
            if blocks.len() + flow > max {
                return Some(index + 1);
            }
            previous = byte;
        }
        if blocks.len() + flow > max {
            return Some(index + 1);
        }
        if flow == 0 && is_block_scalar_header(rest) {
            scalar_indent = Some(indent);
        }
    }
    None
}

/// Whether `content` begins a block mapping (`key: value` or `key:`), not a scalar or a flow
/// collection.
fn is_block_key(content: &str) -> bool {
    !content.starts_with(['[', '{', '"', '\''])
        && (content.contains(": ") || content.ends_with(':'))
}

/// Whether a line ends in a block scalar's header (`key: |`, `- >-`, `key: |2`), so that the
/// lines indented under it are text.
fn is_block_scalar_header(rest: &str) -> bool {
    let last = rest.rsplit([' ', ':']).next().unwrap_or("");
    let mut chars = last.chars();
    matches!(chars.next(), Some('|' | '>'))
        && chars.all(|c| matches!(c, '-' | '+') || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::nesting_beyond;

    fn depth(text: &str) -> usize {
        (0..100)
            .find(|&max| nesting_beyond(text, max).is_none())
            .unwrap()
    }

    #[test]
    fn block_and_flow_levels_are_counted() {
        assert_eq!(depth("a: 1\nb: 2\n"), 1);
        assert_eq!(depth("a:\n  b:\n    c: 1\nd: 2\n"), 3);
        assert_eq!(depth("a:\n  - x\n  - y: 1\n    z: 2\n"), 3);
        assert_eq!(depth("- - - x\n"), 3);
        assert_eq!(depth("a: [1, [2, {b: 3}]]\n"), 4);
        assert_eq!(depth("{\"a\":{\"b\":[1,2]},\"c\":\"[[[[\"}"), 3);
    }

    #[test]
    fn comments_quotes_and_block_scalars_are_not_nesting() {
        assert_eq!(depth("a: 1 # [[[[\nb: '[[[' \n"), 1);
        assert_eq!(depth("a: \"\\\"[[[\"\n"), 1);
        assert_eq!(depth("a: |\n  [[[[\n    - - - -\nb: 1\n"), 1);
        assert_eq!(depth("a: >-\n  {{{{\n"), 1);
    }

    #[test]
    fn the_examples_nest_at_most_6_deep() {
        for name in ["rsi_macd_trend", "bollinger_reversion"] {
            let path = format!("{}/../strategies/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(path).unwrap();
            assert!(depth(&text) <= 6, "{name}: {}", depth(&text));
        }
    }

    #[test]
    fn a_deep_document_is_found_at_the_line_it_passes_the_limit() {
        let deep = "- ".repeat(100_000) + "x\n";
        assert_eq!(nesting_beyond(&deep, 32), Some(1));
        let indented: String = (0..40).map(|n| format!("{}a:\n", " ".repeat(n))).collect();
        assert_eq!(nesting_beyond(&indented, 32), Some(33));
        assert_eq!(nesting_beyond(&"[".repeat(100_000), 32), Some(1));
    }
}
