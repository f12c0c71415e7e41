//! The kernels on a real GPU against the CPU engine: MAP trees identical,
//! marginals within 1e-4 in f32 and 1e-10 in f64, log-partitions, and the
//! marginals' VJP. Without a GPU these tests check that asking for one is
//! a typed error, not a panic, and skip the comparisons — unless
//! `LSMC_REQUIRE_GPU=1` (scripts/gpu-check.sh sets it), which makes a
//! missing GPU a failure.

use lsmc_kernels::cuda::{CudaError, Gpu};
use lsmc_runtime::latent::projective;

use crate::common;
use common::{assert_cpu_trees, random_batch, random_lengths, sentence};

fn required() -> bool {
    std::env::var_os("LSMC_REQUIRE_GPU").is_some_and(|v| v == "1")
}

fn gpu() -> Option<Gpu> {
    match Gpu::open(0) {
        Ok(g) => {
            eprintln!("GPU: {}", g.name());
            Some(g)
        }
        Err(e) => {
            assert!(!required(), "LSMC_REQUIRE_GPU=1, but {e}");
            eprintln!("skipped: {e}");
            None
        }
    }
}

#[test]
fn asking_for_a_gpu_that_is_not_there_is_a_typed_error() {
    match Gpu::open(4096) {
        Err(CudaError::NoDriver) | Err(CudaError::NoDevice { .. }) => {}
        Err(e) => panic!("unexpected: {e}"),
        Ok(g) => panic!("a GPU cuda:4096 ({})?", g.name()),
    }
    if let Err(e) = Gpu::open(0) {
        let text = e.to_string();
        assert!(
            text.contains("NVIDIA driver") || text.contains("GPU"),
            "{text}"
        );
    }
}

const BATCH: usize = 48;
const MAX_N: usize = 40;

#[test]
#[cfg_attr(
    lsmc_no_cuda_driver,
    ignore = "no NVIDIA driver (libcuda.so) on this machine when it was built; scripts/gpu-check.sh runs these on a GPU"
)]
fn gpu_marginals_and_log_partition_match_the_cpu_engine() {
    let Some(gpu) = gpu() else { return };
    let n1 = MAX_N + 1;
    let lengths = random_lengths(BATCH, MAX_N, 1);
    for single_root in [true, false] {
        let s = random_batch(&lengths, n1, 2.0, 2);
        let s32: Vec<f32> = s.iter().map(|&x| x as f32).collect();
        let m64 = gpu.marginals(&s, &lengths, n1, single_root).unwrap();
        let m32 = gpu.marginals(&s32, &lengths, n1, single_root).unwrap();
        for (b, &n) in lengths.iter().enumerate() {
            let n = n as usize;
            let (log_z, mu) = projective::marginals(n, &sentence(&s, b, n1), single_root);
            assert!((m64.log_z[b] - log_z).abs() < 1e-9 * log_z.abs().max(1.0));
            assert!((f64::from(m32.log_z[b]) - log_z).abs() < 1e-4 * log_z.abs().max(1.0));
            for h in 0..n1 {
                for m in 0..n1 {
                    let want = if h <= n && m <= n {
                        mu[h * (n + 1) + m]
                    } else {
                        0.0
                    };
                    let c = (b * n1 + h) * n1 + m;
                    assert!((m64.mu[c] - want).abs() < 1e-10, "f64 {b} {h}->{m}");
                    assert!(
                        (f64::from(m32.mu[c]) - want).abs() < 1e-4,
                        "f32 {b} {h}->{m}"
                    );
                }
            }
        }
    }
}

#[test]
#[cfg_attr(
    lsmc_no_cuda_driver,
    ignore = "no NVIDIA driver (libcuda.so) on this machine when it was built; scripts/gpu-check.sh runs these on a GPU"
)]
fn gpu_marginals_vjp_matches_the_cpu_engine() {
    let Some(gpu) = gpu() else { return };
    let n1 = MAX_N + 1;
    let lengths = random_lengths(BATCH, MAX_N, 3);
    let s = random_batch(&lengths, n1, 1.5, 4);
    let g = random_batch(&lengths, n1, 1.0, 5);
    for single_root in [true, false] {
        let got = gpu
            .marginals_jvp(&s, &g, &lengths, n1, single_root)
            .unwrap();
        for (b, &n) in lengths.iter().enumerate() {
            let n = n as usize;
            let (_, dmu) = projective::marginals_jvp(
                n,
                &sentence(&s, b, n1),
                &sentence(&g, b, n1),
                single_root,
            );
            for h in 0..=n {
                for m in 0..=n {
                    let c = (b * n1 + h) * n1 + m;
                    assert!(
                        (got.dmu[c] - dmu[h * (n + 1) + m]).abs() < 1e-9,
                        "{b} {h}->{m}"
                    );
                }
            }
        }
    }
}

#[test]
#[cfg_attr(
    lsmc_no_cuda_driver,
    ignore = "no NVIDIA driver (libcuda.so) on this machine when it was built; scripts/gpu-check.sh runs these on a GPU"
)]
fn gpu_eisner_finds_the_cpu_engines_trees() {
    let Some(gpu) = gpu() else { return };
    let n1 = MAX_N + 1;
    let lengths = random_lengths(BATCH, MAX_N, 6);
    for single_root in [true, false] {
        let s = random_batch(&lengths, n1, 3.0, 7);
        let s32: Vec<f32> = s.iter().map(|&x| x as f32).collect();
        let (heads, _) = gpu.map(&s, &lengths, n1, single_root).unwrap();
        let (heads32, _) = gpu.map(&s32, &lengths, n1, single_root).unwrap();
        assert_cpu_trees(&heads, &s, &lengths, n1, single_root, "f64");
        assert_cpu_trees(&heads32, &s, &lengths, n1, single_root, "f32");
    }
}
