//! NVRTC compiles every kernel, to the PTX committed in `kernels/ptx/`.
//! CI installs NVRTC (the nvidia-cuda-nvrtc-cu12 wheel, which needs no
//! GPU) and sets `LSMC_REQUIRE_NVRTC=1`, so there a missing library fails
//! too; elsewhere a machine without NVRTC skips the compile and says so.
//! `LSMC_UPDATE_PTX=1` rewrites the committed PTX (`kernels/make-ptx.sh`).

use lsmc_kernels::nvrtc::{self, NvrtcError, PTX_ARCH, PTX_NVRTC};

const ENTRY_POINTS: [&str; 6] = [
    "inside",
    "log_partition",
    "outside",
    "marginals",
    "eisner",
    "backtrack",
];

fn flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v == "1")
}

/// Every entry point of every type is in `ptx`.
fn assert_entry_points(ptx: &str, what: &str) {
    for name in ENTRY_POINTS {
        let suffixes: &[&str] = if matches!(name, "eisner" | "backtrack") {
            &["f32", "f64"]
        } else {
            &["f32", "f64", "dual_f32", "dual_f64"]
        };
        for t in suffixes {
            let entry = format!(".entry lsmc_{name}_{t}(");
            assert!(ptx.contains(&entry), "no {entry} in {what}");
        }
    }
}

#[test]
fn the_committed_ptx_has_every_kernel() {
    assert_entry_points(lsmc_kernels::PROJECTIVE_PTX, "kernels/ptx/projective.ptx");
    let target = format!(".target {}", PTX_ARCH.replace("compute_", "sm_"));
    assert!(
        lsmc_kernels::PROJECTIVE_PTX.contains(&target),
        "not {target}"
    );
}

#[test]
#[cfg_attr(
    lsmc_no_nvrtc,
    ignore = "no NVRTC (libnvrtc.so) on this machine when it was built; .ci/run installs it"
)]
fn nvrtc_compiles_every_kernel_to_the_committed_ptx() {
    let ptx = match nvrtc::compile_projective(Some(PTX_ARCH)) {
        Ok(ptx) => ptx,
        Err(NvrtcError::Unavailable) if !flag("LSMC_REQUIRE_NVRTC") => {
            eprintln!("skipped: {}", NvrtcError::Unavailable);
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert_entry_points(&ptx, "NVRTC's PTX");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ptx/projective.ptx");
    if flag("LSMC_UPDATE_PTX") {
        std::fs::write(path, &ptx).expect("writable");
        return;
    }
    let found = nvrtc::version().expect("loaded above");
    if found != PTX_NVRTC {
        // Another NVRTC writes other (equally valid) PTX: only the pinned
        // one can check the committed file byte for byte.
        assert!(
            !flag("LSMC_REQUIRE_NVRTC"),
            "CI must use NVRTC {PTX_NVRTC:?} (found {found:?})"
        );
        eprintln!("not compared: NVRTC {found:?}, the committed PTX is from {PTX_NVRTC:?}");
        return;
    }
    assert!(
        ptx == lsmc_kernels::PROJECTIVE_PTX,
        "kernels/ptx/projective.ptx is not what cuda/projective.cu compiles to: run kernels/make-ptx.sh"
    );
}
