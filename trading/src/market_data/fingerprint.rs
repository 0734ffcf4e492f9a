//! The SHA-256 of a series of bars, recorded in every training and backtest result so a rerun can
//! show it read the same data. Over each bar in order: the timestamp as microseconds since the Unix
//! epoch (i64), then open, high, low, close and volume (f64 bits), all little-endian — 48 bytes a
//! bar, hashed as they go (no copy of the series).

use sha2::{Digest, Sha256};

use crate::market_data::Bar;

/// Lowercase hex SHA-256 of `bars` (see the module docs for the byte layout).
pub fn bars_sha256(bars: &[Bar]) -> String {
    let mut hasher = Sha256::new();
    for bar in bars {
        hasher.update(bar.ts.timestamp_micros().to_le_bytes());
        for value in [bar.open, bar.high, bar.low, bar.close, bar.volume] {
            hasher.update(value.to_le_bytes());
        }
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn the_hash_covers_every_field_and_the_order() {
        let bar = |hour, close| Bar {
            ts: Utc.with_ymd_and_hms(2024, 1, 1, hour, 0, 0).unwrap(),
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close,
            volume: 10.0,
        };
        let bars = [bar(0, 1.5), bar(1, 1.6)];
        let hash = bars_sha256(&bars);
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, bars_sha256(&bars.clone()));
        assert_ne!(hash, bars_sha256(&[bars[1], bars[0]]));
        let mut volume = bars;
        volume[1].volume = 11.0;
        assert_ne!(hash, bars_sha256(&volume));
        // The empty series hashes to the SHA-256 of nothing.
        assert_eq!(
            bars_sha256(&[]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
