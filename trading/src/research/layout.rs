//! Writes a designed strategy the way the examples in strategies/ are written: serde's YAML, with
//! each indicator on one line (`rsi_14: { type: rsi, period: 14 }`) and each list of numbers — the
//! points of a fuzzy set, the hidden layers — in brackets (`oversold: [0.0, 0.0, 30.0]`). The
//! designer parses what this writes before handing it out, so a layout mistake could not pass.

use crate::strategy::Strategy;

/// `strategy` as YAML, laid out for people.
pub fn to_yaml(strategy: &Strategy) -> Result<String, String> {
    let block = serde_yaml_ng::to_string(strategy).map_err(|err| err.to_string())?;
    let lines: Vec<&str> = block.lines().collect();
    let mut out = String::with_capacity(block.len());
    let mut section = "";
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let indent = indent_of(line);
        if indent == 0 {
            section = line.trim_end_matches(':');
        }
        let Some(key) = line.strip_suffix(':') else {
            out.push_str(line);
            out.push('\n');
            index += 1;
            continue;
        };
        // The block under `key`: the lines that follow, up to the next line indented no deeper
        // (sequence items `- x` may sit at the key's own indentation).
        let items: Vec<&str> = lines[index + 1..]
            .iter()
            .take_while(|next| indent_of(next) == indent && next.trim_start().starts_with("- "))
            .copied()
            .collect();
        let numbers: Option<Vec<&str>> = items
            .iter()
            .map(|item| {
                let value = item.trim_start().trim_start_matches("- ");
                value.parse::<f64>().is_ok().then_some(value)
            })
            .collect();
        if let Some(numbers) = numbers.filter(|numbers| !numbers.is_empty()) {
            out.push_str(&format!("{key}: [{}]\n", numbers.join(", ")));
            index += 1 + items.len();
            continue;
        }
        let fields: Vec<&str> = lines[index + 1..]
            .iter()
            .take_while(|next| indent_of(next) > indent)
            .copied()
            .collect();
        let flat = !fields.is_empty()
            && fields.iter().all(|field| {
                indent_of(field) == indent + 2
                    && field
                        .split_once(": ")
                        .is_some_and(|(_, value)| !value.is_empty())
            });
        if section == "indicators" && indent == 2 && flat {
            let pairs: Vec<&str> = fields.iter().map(|field| field.trim_start()).collect();
            out.push_str(&format!("{key}: {{ {} }}\n", pairs.join(", ")));
            index += 1 + fields.len();
            continue;
        }
        out.push_str(line);
        out.push('\n');
        index += 1;
    }
    Ok(out)
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

#[cfg(test)]
mod tests {
    use super::to_yaml;
    use crate::strategy;

    #[test]
    fn the_examples_read_back_the_same_in_the_compact_layout() {
        for name in ["rsi_macd_trend", "bollinger_reversion"] {
            let path = format!("{}/../strategies/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
            let example = strategy::parse_file(std::path::Path::new(&path)).unwrap();
            let text = to_yaml(&example).unwrap();
            assert!(text.contains("hidden_layers: ["), "{text}");
            assert!(text.contains(": { type: "), "{text}");
            assert!(!text.contains("\n  - "), "{text}");
            assert_eq!(strategy::parse(&text).unwrap(), example, "{text}");
        }
    }
}
