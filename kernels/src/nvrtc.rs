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

/// The NVRTC that made the committed PTX (`kernels/ptx/`): the
/// nvidia-cuda-nvrtc-cu12 12.9.86 wheel that `.ci/run` installs.
pub const PTX_NVRTC: (i32, i32) = (12, 9);

/// The virtual architecture of the committed PTX: Volta and every later
/// GPU (the driver compiles it for the card at load time).
pub const PTX_ARCH: &str = "compute_70";

/// NVRTC's version, `(major, minor)`.
pub fn version() -> Result<(i32, i32), NvrtcError> {
    if !available() {
        return Err(NvrtcError::Unavailable);
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: NVRTC is loadable (checked above); the call writes two ints.
    let r = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    if r != cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS {
        return Err(NvrtcError::Compile {
            log: format!("nvrtcVersion failed: {r:?}"),
        });
    }
    Ok((major, minor))
}

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
