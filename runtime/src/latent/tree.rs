//! Batched projective dependency trees over padded scores
//! `s[B, N+1, N+1]` (layout of [`super::projective`]) with true lengths:
//! padding never joins a tree, and its entries in the outputs are zero.
//! Each sentence is computed in f64 whatever the element type, and the
//! batch is split across threads.

use super::projective;
use crate::real::Real;
use ndarray::{ArrayD, ArrayView2, Axis};

fn threads() -> usize {
    std::env::var("MATMUL_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .max(1)
}

/// Runs `f(b, scores_b, n_b)` for every sentence, in parallel, and
/// collects the results in batch order.
fn per_sentence<T: Real, R: Send>(
    s: &ArrayD<T>,
    lengths: &[usize],
    f: impl Fn(ArrayView2<T>, usize) -> R + Sync,
) -> Vec<R> {
    let b = s.shape()[0];
    let n1 = s.shape()[1];
    let view = s
        .view()
        .into_shape_with_order((b, n1, n1))
        .expect("scores are [B, N+1, N+1]");
    let chunk = b.div_ceil(threads()).max(1);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..b)
            .step_by(chunk)
            .map(|start| {
                let view = view.view();
                scope.spawn(move || {
                    (start..(start + chunk).min(b))
                        .map(|i| f(view.index_axis(Axis(0), i), lengths[i]))
                        .collect::<Vec<R>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a tree worker panicked"))
            .collect()
    })
}

/// MAP trees as one-hot arc indicators `z[b][h][m]`.
pub fn map<T: Real>(s: &ArrayD<T>, lengths: &[usize], single_root: bool) -> ArrayD<T> {
    let heads = per_sentence(s, lengths, |sb, n| {
        projective::map(n, &|h, m| sb[[h, m]].f64(), single_root)
    });
    let mut out = ArrayD::zeros(s.raw_dim());
    for (b, hs) in heads.iter().enumerate() {
        for (m, &h) in hs.iter().enumerate().skip(1) {
            out[[b, h, m]] = T::one();
        }
    }
    out
}

/// Log-partition per sentence and arc marginals `µ[b][h][m]`.
pub fn marginals<T: Real>(
    s: &ArrayD<T>,
    lengths: &[usize],
    single_root: bool,
) -> (Vec<f64>, ArrayD<T>) {
    let res = per_sentence(s, lengths, |sb, n| {
        projective::marginals(n, &|h, m| sb[[h, m]].f64(), single_root)
    });
    let mut out = ArrayD::zeros(s.raw_dim());
    let mut log_z = Vec::with_capacity(res.len());
    for (b, (lz, mu)) in res.into_iter().enumerate() {
        log_z.push(lz);
        let n = lengths[b];
        for h in 0..=n {
            for m in 1..=n {
                out[[b, h, m]] = T::of(mu[h * (n + 1) + m]);
            }
        }
    }
    (log_z, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn batches_with_padding_equal_sentences_computed_alone() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let lengths = [5usize, 2, 7, 1];
        let n1 = 8;
        let s = ArrayD::from_shape_simple_fn(ndarray::IxDyn(&[4, n1, n1]), || {
            rng.random::<f64>() * 4.0 - 2.0
        });
        for single in [true, false] {
            let (lz, mu) = marginals(&s, &lengths, single);
            let z = map(&s, &lengths, single);
            for (b, &n) in lengths.iter().enumerate() {
                // The same sentence, cut to its length, alone.
                let alone = |h: usize, m: usize| s[[b, h, m]];
                let (lz1, mu1) = projective::marginals(n, &alone, single);
                assert!((lz[b] - lz1).abs() < 1e-12);
                let heads = projective::map(n, &alone, single);
                for h in 0..n1 {
                    for m in 0..n1 {
                        let inside = h <= n && (1..=n).contains(&m);
                        let want = if inside { mu1[h * (n + 1) + m] } else { 0.0 };
                        assert!((mu[[b, h, m]] - want).abs() < 1e-12, "b={b} {h}->{m}");
                        let arc = inside && heads[m] == h;
                        assert_eq!(z[[b, h, m]], if arc { 1.0 } else { 0.0 });
                    }
                }
            }
        }
    }
}
