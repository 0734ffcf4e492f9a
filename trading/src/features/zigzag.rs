//! ZigZag labels: what a trader with hindsight would have done at each bar's close. Looking ahead at
//! most `lookahead` bars, BUY if the close first rises by `threshold` (a fraction) before it falls by
//! as much, SELL if it first falls, HOLD if neither happens in the window (including the last bars,
//! whose window is cut short by the end of the data).

/// A class of the classifier; the one place the class order is defined (the model's outputs, a
/// backtest's signals and every report follow it).
pub type Label = u8;
pub const BUY: Label = 0;
pub const HOLD: Label = 1;
pub const SELL: Label = 2;
/// The classes' names, indexed by label.
pub const LABEL_NAMES: [&str; 3] = ["BUY", "HOLD", "SELL"];

pub fn zigzag_labels(close: &[f64], threshold: f64, lookahead: usize) -> Vec<Label> {
    (0..close.len())
        .map(|i| {
            let (up, down) = (close[i] * (1.0 + threshold), close[i] * (1.0 - threshold));
            close[i + 1..close.len().min(i + 1 + lookahead)]
                .iter()
                .find_map(|&later| {
                    if later >= up {
                        Some(BUY)
                    } else if later <= down {
                        Some(SELL)
                    } else {
                        None
                    }
                })
                .unwrap_or(HOLD)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_first_move_beyond_the_threshold() {
        // 100 → 103 (+3 %) → 99 → 96 (−3 % from 99) → 96.5 → 97
        let close = [100.0, 101.0, 103.0, 99.0, 96.0, 96.5, 97.0];
        let labels = zigzag_labels(&close, 0.025, 3);
        // 0: 103 ≥ 102.5 before any fall → BUY
        // 1: needs 103.525 or 98.475; 103 no, 99 no, 96 ≤ → SELL
        // 2: needs ≤ 100.425: 99 → SELL
        // 3: needs ≤ 96.525: 96 → SELL
        // 4: needs ≥ 98.4 or ≤ 93.6 within 2 remaining bars → HOLD
        // 5, 6: HOLD (window cut short)
        assert_eq!(labels, vec![BUY, SELL, SELL, SELL, HOLD, HOLD, HOLD]);
    }

    #[test]
    fn lookahead_limits_the_window() {
        let close = [100.0, 100.0, 100.0, 110.0];
        assert_eq!(zigzag_labels(&close, 0.05, 2)[0], HOLD);
        assert_eq!(zigzag_labels(&close, 0.05, 3)[0], BUY);
    }
}
