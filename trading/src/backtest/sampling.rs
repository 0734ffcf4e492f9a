//! Which bars go into the sampled equity curve. The choice depends only on the bar index and the
//! number of bars, never on what has been processed, so a run split into chunks samples exactly
//! the bars an uninterrupted run does.
//!
//! Bars `0, s, 2s, …` and the last one, with `s = max(1, ⌈(n − 1) / (k − 1)⌉)` for `k` samples:
//! the multiples of `s` up to `n − 1` are at most `k`, and when there are `k` of them the last is
//! `n − 1` itself, so the total never exceeds `k`. With `n ≤ k` every bar is sampled.

/// The sampling stride for `n` bars and at most `max_samples` (≥ 2) points.
pub(super) fn stride(n: usize, max_samples: usize) -> usize {
    n.saturating_sub(1).div_ceil(max_samples - 1).max(1)
}

/// Whether bar `index` of `n` is sampled.
pub(super) fn is_sampled(index: usize, n: usize, stride: usize) -> bool {
    index.is_multiple_of(stride) || index + 1 == n
}

/// How many samples bars `0..next` hold (what a state at `next` must have).
pub(super) fn samples_before(next: usize, n: usize, stride: usize) -> usize {
    let multiples = next.div_ceil(stride);
    let last_extra = next == n && n > 0 && !(n - 1).is_multiple_of(stride);
    multiples + usize::from(last_extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_the_maximum_and_always_first_and_last() {
        for n in 1..300 {
            for k in 2..40 {
                let s = stride(n, k);
                let sampled: Vec<usize> = (0..n).filter(|&i| is_sampled(i, n, s)).collect();
                assert!(sampled.len() <= k, "n {n} k {k}: {}", sampled.len());
                assert_eq!(sampled[0], 0);
                assert_eq!(*sampled.last().unwrap(), n - 1);
                if n <= k {
                    assert_eq!(sampled.len(), n);
                }
                for next in 0..=n {
                    let count = sampled.iter().filter(|&&i| i < next).count();
                    assert_eq!(samples_before(next, n, s), count, "n {n} k {k} next {next}");
                }
            }
        }
    }
}
