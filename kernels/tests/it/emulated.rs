//! The CUDA kernels, compiled for the CPU and run through the host
//! emulation, against the CPU engine (`lsmc_runtime::latent::projective`,
//! itself checked against enumeration of all trees): random batches of
//! sentences of different lengths with padding, single and multi root,
//! several block sizes (including blocks smaller than a span, so the
//! threads' strided loops and reductions are exercised).
#![cfg(feature = "emulate")]

use lsmc_kernels::emulated::{self, Batch};
use lsmc_runtime::latent::projective;

use crate::common;
use common::{assert_cpu_trees, random_batch, sentence};

const LENGTHS: [i32; 6] = [7, 1, 0, 4, 9, 2];
const N1: usize = 10;

fn batch<T>(s: &[T], single_root: bool, threads: u32) -> Batch<'_, T> {
    Batch {
        s,
        lengths: &LENGTHS,
        n1: N1,
        single_root,
        threads,
    }
}

#[test]
fn emulated_marginals_and_log_partition_match_the_cpu_engine_in_f64() {
    for (single_root, threads, seed) in [(true, 4, 1), (false, 4, 2), (true, 1, 3), (false, 16, 4)]
    {
        let s = random_batch(&LENGTHS, N1, 2.0, seed);
        let got = emulated::marginals(&batch(&s, single_root, threads)).unwrap();
        for (b, &n) in LENGTHS.iter().enumerate() {
            let n = n as usize;
            let (log_z, mu) = projective::marginals(n, &sentence(&s, b, N1), single_root);
            assert!(
                (got.log_z[b] - log_z).abs() < 1e-10,
                "sentence {b}: log Z {} vs {log_z}",
                got.log_z[b]
            );
            for h in 0..N1 {
                for m in 0..N1 {
                    let want = if h <= n && m <= n {
                        mu[h * (n + 1) + m]
                    } else {
                        0.0
                    };
                    let have = got.mu[(b * N1 + h) * N1 + m];
                    assert!(
                        (have - want).abs() < 1e-10,
                        "root {single_root}, threads {threads}, sentence {b}, arc {h}->{m}: {have} vs {want}"
                    );
                }
            }
        }
    }
}

#[test]
fn emulated_marginals_in_f32_are_within_1e_5_of_the_f64_engine() {
    let s = random_batch(&LENGTHS, N1, 2.0, 5);
    let s32: Vec<f32> = s.iter().map(|&x| x as f32).collect();
    for single_root in [true, false] {
        let got = emulated::marginals(&batch(&s32, single_root, 8)).unwrap();
        for (b, &n) in LENGTHS.iter().enumerate() {
            let n = n as usize;
            let (_, mu) = projective::marginals(n, &sentence(&s, b, N1), single_root);
            for h in 0..=n {
                for m in 0..=n {
                    let have = f64::from(got.mu[(b * N1 + h) * N1 + m]);
                    assert!((have - mu[h * (n + 1) + m]).abs() < 1e-5);
                }
            }
        }
    }
}

#[test]
fn emulated_marginals_vjp_matches_the_cpu_engine() {
    let s = random_batch(&LENGTHS, N1, 1.5, 6);
    let g = random_batch(&LENGTHS, N1, 1.0, 7);
    for single_root in [true, false] {
        let got = emulated::marginals_jvp(&batch(&s, single_root, 4), &g).unwrap();
        for (b, &n) in LENGTHS.iter().enumerate() {
            let n = n as usize;
            let (mu, dmu) = projective::marginals_jvp(
                n,
                &sentence(&s, b, N1),
                &sentence(&g, b, N1),
                single_root,
            );
            for h in 0..N1 {
                for m in 0..N1 {
                    let c = (b * N1 + h) * N1 + m;
                    let (want_mu, want_d) = if h <= n && m <= n {
                        (mu[h * (n + 1) + m], dmu[h * (n + 1) + m])
                    } else {
                        (0.0, 0.0)
                    };
                    assert!((got.mu[c] - want_mu).abs() < 1e-10);
                    assert!(
                        (got.dmu[c] - want_d).abs() < 1e-9,
                        "sentence {b}, arc {h}->{m}: {} vs {want_d}",
                        got.dmu[c]
                    );
                }
            }
        }
    }
}

#[test]
fn emulated_eisner_finds_the_cpu_engines_trees() {
    for (single_root, threads, seed) in [(true, 4, 8), (false, 2, 9), (true, 32, 10)] {
        let s = random_batch(&LENGTHS, N1, 3.0, seed);
        let s32: Vec<f32> = s.iter().map(|&x| x as f32).collect();
        let (heads, z) = emulated::map(&batch(&s, single_root, threads)).unwrap();
        let (heads32, _) = emulated::map(&batch(&s32, single_root, threads)).unwrap();
        assert_cpu_trees(&heads, &s, &LENGTHS, N1, single_root, "f64");
        assert_cpu_trees(&heads32, &s, &LENGTHS, N1, single_root, "f32");
        for (b, &n) in LENGTHS.iter().enumerate() {
            let n = n as usize;
            let want = projective::map(n, &sentence(&s, b, N1), single_root);
            let arcs: f64 = z[b * N1 * N1..(b + 1) * N1 * N1].iter().sum();
            assert_eq!(arcs, n as f64, "one head per word");
            for m in 1..=n {
                assert_eq!(z[(b * N1 + want[m]) * N1 + m], 1.0);
            }
        }
    }
}

/// `random_batch` at `scale`, each sentence shifted so its highest arc
/// scores 0 — what the runtime's `Structure` hands any engine, the GPU's
/// included — in f32.
fn shifted_f32(scale: f64, seed: u64) -> (Vec<f64>, Vec<f32>) {
    let mut s = random_batch(&LENGTHS, N1, scale, seed);
    for (b, &n) in LENGTHS.iter().enumerate() {
        let n = n as usize;
        let inside = |c: usize| (c / N1) % N1 <= n && c % N1 <= n;
        let range = b * N1 * N1..(b + 1) * N1 * N1;
        let top = range
            .clone()
            .filter(|&c| inside(c))
            .map(|c| s[c])
            .fold(f64::NEG_INFINITY, f64::max);
        for c in range.filter(|&c| inside(c)) {
            // Through f32 first, so both engines see the same numbers.
            s[c] = f64::from((s[c] - top) as f32);
        }
    }
    let s32 = s.iter().map(|&x| x as f32).collect();
    (s, s32)
}

#[test]
fn on_extreme_shifted_scores_the_kernels_the_gpu_engine_picks_stay_accurate() {
    use lsmc_runtime::latent::on_gpu::{reach, F32_REACH};
    let lengths: Vec<usize> = LENGTHS.iter().map(|&n| n as usize).collect();
    // Spreads from ordinary to near f32's largest. Within F32_REACH the f32
    // kernels stay within 2e-5; beyond it the engine runs the f64 kernels,
    // which must be finite and exact at every spread. MAP stays in f32 and
    // finds the f64 engine's trees throughout.
    for (scale, seed) in [(0.5, 15), (1e2, 11), (1e4, 12), (1e38, 14)] {
        let (s, s32) = shifted_f32(scale, seed);
        let within = reach(&s32, N1, &lengths) <= F32_REACH;
        assert_eq!(within, scale < 1.0, "scale {scale}");
        for single_root in [true, false] {
            let got32 = emulated::marginals(&batch(&s32, single_root, 8)).unwrap();
            let got64 = emulated::marginals(&batch(&s, single_root, 8)).unwrap();
            for (b, &n) in LENGTHS.iter().enumerate() {
                let n = n as usize;
                let (_, mu) = projective::marginals(n, &sentence(&s, b, N1), single_root);
                for h in 0..=n {
                    for m in 1..=n {
                        let c = (b * N1 + h) * N1 + m;
                        let want = mu[h * (n + 1) + m];
                        assert!(
                            (got64.mu[c] - want).abs() < 1e-9,
                            "f64 at scale {scale}: {} vs {want}",
                            got64.mu[c]
                        );
                        if within {
                            assert!(
                                (f64::from(got32.mu[c]) - want).abs() < 2e-5,
                                "f32 at scale {scale}"
                            );
                        }
                    }
                }
            }
            let (heads, _) = emulated::map(&batch(&s32, single_root, 8)).unwrap();
            assert_cpu_trees(
                &heads,
                &s,
                &LENGTHS,
                N1,
                single_root,
                &format!("f32 at scale {scale}"),
            );
        }
    }
}
