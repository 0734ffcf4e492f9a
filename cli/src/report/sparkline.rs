//! A one-line picture of a series for the terminal: `▁▂▄▇█…`, scaled from its minimum to its
//! maximum, at most `width` characters (longer series are averaged into that many buckets).

const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The sparkline of `values`; empty for no values, the middle level for a flat series.
pub fn sparkline(values: &[f64], width: usize) -> String {
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let buckets = values.len().min(width);
    let points: Vec<f64> = (0..buckets)
        .map(|b| {
            let (from, to) = (b * values.len() / buckets, (b + 1) * values.len() / buckets);
            values[from..to].iter().sum::<f64>() / (to - from) as f64
        })
        .collect();
    let min = points.iter().copied().fold(f64::INFINITY, f64::min);
    let max = points.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    points
        .iter()
        .map(|&v| {
            if max > min {
                let level = ((v - min) / (max - min) * (LEVELS.len() - 1) as f64).round();
                LEVELS[level as usize]
            } else {
                LEVELS[3]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::sparkline;

    #[test]
    fn a_rising_series_climbs_from_the_lowest_to_the_highest_level() {
        assert_eq!(
            sparkline(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], 60),
            "▁▂▃▄▅▆▇█"
        );
        assert_eq!(sparkline(&[3.0, 1.0, 3.0], 60), "█▁█");
    }

    #[test]
    fn long_series_are_averaged_into_the_width_and_flat_ones_sit_in_the_middle() {
        let values: Vec<f64> = (0..1000).map(f64::from).collect();
        let line = sparkline(&values, 40);
        assert_eq!(line.chars().count(), 40);
        assert!(line.starts_with('▁') && line.ends_with('█'));
        assert_eq!(sparkline(&[2.0; 5], 60), "▄▄▄▄▄");
        assert_eq!(sparkline(&[], 60), "");
    }
}
