//! Compiles the CUDA sources for the CPU (`cuda/host_emulation.cpp`), so
//! that their logic is tested without a GPU. Needs a C++20 compiler; the
//! `emulate` feature (on by default) can be turned off where there is none.

/// Whether a file named `prefix…` is in a directory of the library path
/// or a usual system library directory.
fn library_present(prefix: &str) -> bool {
    let mut dirs: Vec<std::path::PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for d in [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/usr/local/cuda/lib64",
        "/usr/lib/wsl/lib",
    ] {
        dirs.push(d.into());
    }
    dirs.iter().any(|d| {
        std::fs::read_dir(d).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
        })
    })
}

fn main() {
    // Tests that need NVRTC or a GPU driver are marked ignored, with the
    // reason, when this machine has neither, so `cargo test` counts them
    // as not run instead of passing them (kernels/tests/it). A machine
    // that must have them (CI: LSMC_REQUIRE_NVRTC=1) runs them regardless.
    println!("cargo::rustc-check-cfg=cfg(lsmc_no_nvrtc)");
    println!("cargo::rustc-check-cfg=cfg(lsmc_no_cuda_driver)");
    println!("cargo:rerun-if-env-changed=LD_LIBRARY_PATH");
    println!("cargo:rerun-if-env-changed=LSMC_REQUIRE_NVRTC");
    println!("cargo:rerun-if-env-changed=LSMC_REQUIRE_GPU");
    let required = |name: &str| std::env::var_os(name).is_some_and(|v| v == "1");
    if !required("LSMC_REQUIRE_NVRTC") && !library_present("libnvrtc.so") {
        println!("cargo:rustc-cfg=lsmc_no_nvrtc");
    }
    if !required("LSMC_REQUIRE_GPU") && !library_present("libcuda.so") {
        println!("cargo:rustc-cfg=lsmc_no_cuda_driver");
    }
    for f in [
        "cuda/projective.cu",
        "cuda/host_emulation.h",
        "cuda/host_emulation.cpp",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }
    if std::env::var_os("CARGO_FEATURE_EMULATE").is_some() {
        cc::Build::new()
            .cpp(true)
            .std("c++20")
            .opt_level(2)
            .warnings(true)
            .extra_warnings(true)
            .file("cuda/host_emulation.cpp")
            .compile("lsmc_emulated_kernels");
        println!("cargo:rustc-link-lib=pthread");
    }
}
