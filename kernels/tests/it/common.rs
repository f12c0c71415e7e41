//! Random padded batches and per-sentence views, shared by the kernel tests.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Scores `[lengths.len(), n1, n1]`, padding filled with large junk that
/// must not leak into any result.
pub fn random_batch(lengths: &[i32], n1: usize, scale: f64, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut s = vec![0.0; lengths.len() * n1 * n1];
    for (b, &n) in lengths.iter().enumerate() {
        for h in 0..n1 {
            for m in 0..n1 {
                let inside = h <= n as usize && m <= n as usize;
                s[(b * n1 + h) * n1 + m] = if inside {
                    (rng.random::<f64>() * 2.0 - 1.0) * scale
                } else {
                    1e6
                };
            }
        }
    }
    s
}

/// The CPU engine on sentence `b` of a batch.
pub fn sentence(s: &[f64], b: usize, n1: usize) -> impl Fn(usize, usize) -> f64 + '_ {
    move |h, m| s[(b * n1 + h) * n1 + m]
}

/// `batch` lengths in `0..=max_n`, always including `max_n` and a 0.
pub fn random_lengths(batch: usize, max_n: usize, seed: u64) -> Vec<i32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ls: Vec<i32> = (0..batch)
        .map(|_| rng.random_range(0..=max_n) as i32)
        .collect();
    ls[0] = max_n as i32;
    if batch > 1 {
        ls[1] = 0;
    }
    ls
}

/// `heads` (`[batch, n1]`, as the kernels return them) are the CPU engine's
/// MAP trees of the f64 scores `s`.
pub fn assert_cpu_trees(
    heads: &[i32],
    s: &[f64],
    lengths: &[i32],
    n1: usize,
    single_root: bool,
    what: &str,
) {
    for (b, &n) in lengths.iter().enumerate() {
        let n = n as usize;
        let want = lsmc_runtime::latent::projective::map(n, &sentence(s, b, n1), single_root);
        for m in 1..=n {
            assert_eq!(
                heads[b * n1 + m] as usize,
                want[m],
                "{what}: sentence {b}, word {m}"
            );
        }
    }
}
