//! Compiling the kernels to PTX with NVRTC, loaded at run time. cudarc
//! panics when it cannot load a library, so its presence is probed first
//! and every failure comes back as an [`NvrtcError`].

use cudarc::nvrtc::{self, CompileOptions};

#[derive(Debug)]
pub enum NvrtcError {
    /// No `libnvrtc` on the library path (`LD_LIBRARY_PATH`).
    Unavailable,
    /// NVRTC refused the source: its log says why.
    Compile { log: String },
}

impl std::fmt::Display for NvrtcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NvrtcError::Unavailable => write!(
                f,
                "NVRTC (libnvrtc.so) was not found on the library path; install CUDA or \
                 `pip install nvidia-cuda-nvrtc-cu12` and add its lib folder to LD_LIBRARY_PATH"
            ),
            NvrtcError::Compile { log } => write!(f, "NVRTC could not compile the kernels:\n{log}"),
        }
    }
}

impl std::error::Error for NvrtcError {}

/// Whether NVRTC can be loaded.
pub fn available() -> bool {
    // SAFETY: only tries to open the library; nothing is called.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// PTX of `cuda/projective.cu` for the virtual architecture `arch`
/// (`compute_80`), or NVRTC's default when `None`.
pub fn compile_projective(arch: Option<&'static str>) -> Result<String, NvrtcError> {
    if !available() {
        return Err(NvrtcError::Unavailable);
    }
    let opts = CompileOptions {
        arch,
        options: vec!["--std=c++17".into()],
        ..Default::default()
    };
    let ptx = nvrtc::compile_ptx_with_opts(crate::PROJECTIVE_CU, opts).map_err(|e| match e {
        nvrtc::CompileError::CompileError { log, .. } => NvrtcError::Compile {
            log: log.to_string_lossy().into_owned(),
        },
        other => NvrtcError::Compile {
            log: format!("{other:?}"),
        },
    })?;
    Ok(ptx.to_src())
}
