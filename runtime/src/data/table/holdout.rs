//! A seeded, reproducible split of one file's records into train and
//! valid. The rule, exactly (`bench/nli_data.py` implements it too):
//!
//! - The records are numbered i = 0, 1, … n−1 in file order.
//! - Each gets the key `splitmix64(seed ^ splitmix64(i))`, with the
//!   standard SplitMix64 finaliser in wrapping 64-bit arithmetic:
//!   z = x + 0x9E3779B97F4A7C15; z = (z ^ (z >> 30)) · 0xBF58476D1CE4E5B9;
//!   z = (z ^ (z >> 27)) · 0x94D049BB133111EB; return z ^ (z >> 31).
//! - The indices are sorted by (key, i); the first round(fraction · n)
//!   (the product in f64, rounded half away from zero) form valid, the rest
//!   train. Both parts are returned in file order.
//!
//! A record's side depends only on its index and the seed, never on the
//! other records' contents.

/// The SplitMix64 finaliser (Steele, Lea and Flood, 2014).
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How many of `n` records the holdout puts in valid.
fn valid_count(n: usize, fraction: f64) -> usize {
    // `round` is half away from zero; the cast saturates a NaN to 0, and
    // `min` keeps a fraction above 1 from asking for more than there is.
    ((fraction * n as f64).round() as usize).min(n)
}

/// `(train, valid)` indices of `n` records, each in increasing order.
pub fn holdout(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<(u64, usize)> = (0..n)
        .map(|i| (splitmix64(seed ^ splitmix64(i as u64)), i))
        .collect();
    order.sort_unstable();
    let (valid, train) = order.split_at(valid_count(n, fraction));
    let sorted = |part: &[(u64, usize)]| {
        let mut idx: Vec<usize> = part.iter().map(|&(_, i)| i).collect();
        idx.sort_unstable();
        idx
    };
    (sorted(train), sorted(valid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // The first outputs of the reference generator seeded with 0
        // (state += golden gamma before each finalisation).
        let mut state = 0u64;
        let got: Vec<u64> = (0..3)
            .map(|_| {
                let x = splitmix64(state);
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                x
            })
            .collect();
        assert_eq!(
            got,
            [
                0xE220_A839_7B1D_CDAF,
                0x6E78_9E6A_A1B9_65F4,
                0x06C4_5D18_8009_454F
            ]
        );
    }

    #[test]
    fn the_parts_cover_the_records_once_at_the_rounded_size() {
        for (n, f, valid) in [
            (9842, 0.1, 984),
            (10, 0.25, 3),
            (10, 0.35, 4),
            (1, 0.5, 1),
            (0, 0.1, 0),
        ] {
            let (train, valid_idx) = holdout(n, f, 1);
            assert_eq!(valid_idx.len(), valid, "n = {n}, f = {f}");
            assert_eq!(train.len() + valid_idx.len(), n);
            let mut all = [train.clone(), valid_idx.clone()].concat();
            all.sort_unstable();
            assert_eq!(all, (0..n).collect::<Vec<_>>(), "disjoint and covering");
            assert!(train.windows(2).all(|w| w[0] < w[1]), "file order");
            assert!(valid_idx.windows(2).all(|w| w[0] < w[1]), "file order");
        }
    }

    #[test]
    fn the_split_is_a_function_of_the_seed() {
        assert_eq!(holdout(1000, 0.1, 7), holdout(1000, 0.1, 7));
        assert_ne!(holdout(1000, 0.1, 7).1, holdout(1000, 0.1, 8).1);
        // Keys depend on the index alone: a longer file keeps most of a
        // shorter one's held-out records held out.
        let (_, short) = holdout(500, 0.1, 7);
        let (_, long) = holdout(1000, 0.1, 7);
        let shared = short.iter().filter(|i| long.contains(i)).count();
        assert!(shared > 20, "{shared} of {} kept", short.len());
    }
}
