//! Compiles the CUDA sources for the CPU (`cuda/host_emulation.cpp`), so
//! that their logic is tested without a GPU. Needs a C++20 compiler; the
//! `emulate` feature (on by default) can be turned off where there is none.

fn main() {
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
