//! An item's parts as a mask, its smallest and largest part score and
//! their shift: the range check and shift that every structured call
//! starts with ([`super::structure`]'s
//! `Shifted`), on the caller's thread while the helpers wait. Its parts
//! are ranges of the item's row-major index
//! ([`super::structure::Engine::part_ranges`]); a tree's are its rows cut
//! at the diagonal and at the sentence's length, a few values each, so a
//! scan range by range spent its time in remainders. Here the item is
//! read whole, eight values at a time, up to its last part, and a mask of
//! one byte per value says which are parts. Non-projective marginals at
//! n = 40, batch 32 (`lsmc bench --structure nonprojective`): 31 µs a
//! call range by range, with each item's ranges built afresh, against
//! 14 µs (the call itself ~0.23 ms).

use crate::real::Real;
use crate::vectors::widest_vectors;
use std::ops::Range;

/// Which values of an item are parts: a byte per value (1 for a part),
/// up to the end of the last part.
#[derive(Clone, Debug)]
pub struct PartMask {
    keep: Vec<u8>,
}

impl PartMask {
    /// The mask of `ranges` (in any order; overlaps are harmless).
    pub fn of(ranges: &[Range<usize>]) -> PartMask {
        let end = ranges.iter().map(|r| r.end).max().unwrap_or(0);
        let mut keep = vec![0u8; end];
        for r in ranges {
            keep[r.clone()].fill(1);
        }
        PartMask { keep }
    }

    /// `c` subtracted from each of `item`'s parts.
    pub fn subtract<T: Real>(&self, item: &mut [T], c: T) {
        for (v, &k) in item.iter_mut().zip(&self.keep) {
            if k != 0 {
                *v -= c;
            }
        }
    }
}

/// The smallest and largest of `item`'s parts as `mask` gives them, NaN
/// ignored (±∞ when there is none), a zero always +0 (which of −0 and +0
/// a lane meets first depends on where the item's parts lie); `item`
/// holds at least the values up to the mask's last part.
pub fn extremes<T: Real>(item: &[T], mask: &PartMask) -> (f64, f64) {
    let values = &item[..mask.keep.len()];
    let keep = &mask.keep[..];
    widest_vectors!(<T: Real> (values: &[T], keep: &[u8]) -> (f64, f64) {
        masked_extremes(values, keep)
    })
}

/// Values per step: one vector of eight f64.
const LANES: usize = 8;

/// A quiet NaN's bits: or-ed into any f64, they make it NaN.
const NAN_BITS: u64 = 0x7ff8_0000_0000_0000;

/// NaN gates the values that are no parts. (A `select` on the mask, or
/// four chains of eight to hide the min/max latency, compiled to code two
/// to six times slower.)
#[inline(always)]
fn masked_extremes<T: Real>(values: &[T], keep: &[u8]) -> (f64, f64) {
    let (mut lo, mut hi) = ([f64::INFINITY; LANES], [f64::NEG_INFINITY; LANES]);
    let gated = |x: T, k: u8| {
        f64::from_bits(x.f64().to_bits() | (u64::from(k) ^ 1).wrapping_neg() & NAN_BITS)
    };
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for (c, k) in chunks.zip(keep.chunks_exact(LANES)) {
        for i in 0..LANES {
            let x = gated(c[i], k[i]);
            lo[i] = if x < lo[i] { x } else { lo[i] };
            hi[i] = if x > hi[i] { x } else { hi[i] };
        }
    }
    let (mut lo, mut hi) = (
        lo.into_iter().fold(f64::INFINITY, f64::min),
        hi.into_iter().fold(f64::NEG_INFINITY, f64::max),
    );
    for (&x, &k) in tail.iter().zip(&keep[values.len() - tail.len()..]) {
        let x = gated(x, k);
        lo = if x < lo { x } else { lo };
        hi = if x > hi { x } else { hi };
    }
    (lo + 0.0, hi + 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::for_each_supported;
    use rand::{Rng, SeedableRng};

    /// The extremes read range by range, one value at a time.
    fn plain<T: Real>(item: &[T], ranges: &[Range<usize>]) -> (f64, f64) {
        let parts = ranges
            .iter()
            .flat_map(|r| item[r.clone()].iter().map(|x| x.f64()));
        let parts: Vec<f64> = parts.filter(|x| !x.is_nan()).collect();
        (
            parts.iter().copied().fold(f64::INFINITY, f64::min) + 0.0,
            parts.iter().copied().fold(f64::NEG_INFINITY, f64::max) + 0.0,
        )
    }

    #[test]
    fn masks_mark_and_shift_exactly_the_ranges_values() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..500 {
            let ranges: Vec<Range<usize>> = (0..rng.random_range(0..6))
                .map(|_| {
                    let a = rng.random_range(0..70);
                    a..a + rng.random_range(0..20)
                })
                .collect();
            let mask = PartMask::of(&ranges);
            let end = ranges.iter().map(|r| r.end).max().unwrap_or(0);
            assert_eq!(mask.keep.len(), end);
            // Subtracting moves the parts alone, values past the mask too.
            let mut item = vec![0.0f64; end + 3];
            mask.subtract(&mut item, 1.0);
            for (i, &x) in item.iter().enumerate() {
                assert_eq!(
                    x == -1.0,
                    ranges.iter().any(|r| r.contains(&i)),
                    "{ranges:?} at {i}"
                );
            }
            for (i, &k) in mask.keep.iter().enumerate() {
                assert_eq!(
                    k == 1,
                    ranges.iter().any(|r| r.contains(&i)),
                    "{ranges:?} at {i}"
                );
            }
        }
    }

    /// Every structure's parts at every size up to the full 14 (padded
    /// below it), values anywhere (NaN, ±∞, ±0, extremes planted just
    /// outside the parts, or on the first and last part — the last often
    /// in the scan's tail —, or −0 the extreme): every instruction set's
    /// copy gives the plain scan's bits, in f32 and f64.
    #[test]
    fn every_copy_finds_the_plain_scans_extremes_of_every_structures_parts() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let specials = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            1e300,
            -1e300,
        ];
        let mut checked = 0;
        for &e in super::super::registry::engines::<f64>() {
            let name = e.descriptor().name;
            for size in 0..=14usize {
                let shape = e.descriptor().scores.shape_of(1, 14, 14);
                let shape = &shape[1..];
                let per: usize = shape.iter().product();
                let ranges = e.part_ranges(shape, size);
                let mask = PartMask::of(&ranges);
                for trial in 0..20 {
                    let item: Vec<f64> = (0..per)
                        .map(|_| {
                            if trial % 2 == 1 && rng.random_bool(0.1) {
                                specials[rng.random_range(0..specials.len())]
                            } else {
                                rng.random_range(-3.0..3.0)
                            }
                        })
                        .collect();
                    let mut item = item;
                    // Outside the parts, values beyond every part's.
                    for (i, x) in item.iter_mut().enumerate() {
                        if trial % 4 == 2 && !ranges.iter().any(|r| r.contains(&i)) {
                            *x = if i % 2 == 0 { 1e9 } else { -1e9 };
                        }
                    }
                    // The extremes on the first and the last part.
                    let parts = ranges.iter().filter(|r| !r.is_empty());
                    let first = parts.clone().map(|r| r.start).min();
                    let last = parts.map(|r| r.end).max();
                    if let (3, Some(first), Some(last)) = (trial % 4, first, last) {
                        let (low, high) = if trial % 8 == 3 {
                            (first, last - 1)
                        } else {
                            (last - 1, first)
                        };
                        item[low] = -1e6;
                        item[high] = 1e6;
                    }
                    // A −0 extreme among parts of one sign: read as +0.
                    if let (5 | 7, Some(first)) = (trial % 8, first) {
                        let other = if trial % 8 == 7 { -1.0 } else { 1.0 };
                        for r in &ranges {
                            item[r.clone()].fill(other);
                        }
                        item[first] = -0.0;
                    }
                    let narrow: Vec<f32> = item.iter().map(|&x| x as f32).collect();
                    let (want, want32) = (plain(&item, &ranges), plain(&narrow, &ranges));
                    for_each_supported(|v| {
                        let got = extremes(&item, &mask);
                        let got32 = extremes(&narrow, &mask);
                        let same = |a: (f64, f64), b: (f64, f64)| {
                            (a.0.to_bits(), a.1.to_bits()) == (b.0.to_bits(), b.1.to_bits())
                        };
                        assert!(
                            same(got, want),
                            "{name} size {size} {v:?}: {got:?} vs {want:?}"
                        );
                        assert!(
                            same(got32, want32),
                            "{name} size {size} {v:?} f32: {got32:?} vs {want32:?}"
                        );
                    });
                    checked += 1;
                }
            }
        }
        assert!(checked >= 5 * 15 * 20, "only {checked} items checked");
    }
}
