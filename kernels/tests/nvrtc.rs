//! NVRTC compiles every kernel. CI installs NVRTC (the
//! nvidia-cuda-nvrtc-cu12 wheel, which needs no GPU) and sets
//! `LSMC_REQUIRE_NVRTC=1`, so there a missing library fails too; elsewhere
//! a machine without NVRTC skips the compile and says so.

use lsmc_kernels::nvrtc::{self, NvrtcError};

const ENTRY_POINTS: [&str; 6] = [
    "inside",
    "log_partition",
    "outside",
    "marginals",
    "eisner",
    "backtrack",
];

#[test]
fn nvrtc_compiles_every_kernel() {
    let required = std::env::var_os("LSMC_REQUIRE_NVRTC").is_some_and(|v| v == "1");
    match nvrtc::compile_projective(Some("compute_70")) {
        Ok(ptx) => {
            for name in ENTRY_POINTS {
                let suffixes: &[&str] = if matches!(name, "eisner" | "backtrack") {
                    &["f32", "f64"]
                } else {
                    &["f32", "f64", "dual_f32", "dual_f64"]
                };
                for t in suffixes {
                    let entry = format!(".entry lsmc_{name}_{t}(");
                    assert!(ptx.contains(&entry), "no {entry} in the PTX");
                }
            }
        }
        Err(NvrtcError::Unavailable) if !required => {
            eprintln!("skipped: {}", NvrtcError::Unavailable);
        }
        Err(e) => panic!("{e}"),
    }
}
