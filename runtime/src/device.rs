//! Where the structured ops over projective trees run: on the CPU engine,
//! or on a GPU through the CUDA kernels (`lsmc-kernels`). One choice per
//! process, made by the command line (`--device auto|cpu|cuda[:N]`); the
//! CPU engine stays the reference and the fallback. Everything else in a
//! graph (the encoder, the decoder) runs on the CPU either way.

use lsmc_kernels::cuda::{CudaError, Gpu};
use std::sync::{Arc, Mutex, RwLock};

static GPU: RwLock<Option<Arc<Gpu>>> = RwLock::new(None);

/// `auto`'s one line about falling back to the CPU, said when a tree op
/// first runs (a model without trees never needs a GPU, and hears nothing).
static FALLBACK_NOTE: Mutex<Option<String>> = Mutex::new(None);

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// The GPU when one is present, else the CPU (said in one line).
    Auto,
    Cpu,
    Cuda(usize),
}

impl std::str::FromStr for Choice {
    type Err = String;

    fn from_str(text: &str) -> Result<Choice, String> {
        match text {
            "auto" => Ok(Choice::Auto),
            "cpu" => Ok(Choice::Cpu),
            "cuda" => Ok(Choice::Cuda(0)),
            _ => text
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Choice::Cuda)
                .ok_or_else(|| format!("`{text}` is not a device: use auto, cpu, cuda or cuda:N")),
        }
    }
}

/// Where the structured ops will run.
#[derive(Clone, Debug, PartialEq)]
pub enum Selected {
    /// On the CPU; with `auto`, the reason there is no GPU.
    Cpu {
        fallback: Option<String>,
    },
    Cuda {
        ordinal: usize,
        name: String,
    },
}

impl Selected {
    /// The one line `auto` prints when it falls back, if it did.
    pub fn note(&self) -> Option<String> {
        match self {
            Selected::Cpu {
                fallback: Some(why),
            } => Some(format!(
                "note: no GPU ({why}): structured ops run on the CPU"
            )),
            _ => None,
        }
    }
}

/// Makes `choice` the device of this process. `cuda` without a usable GPU
/// is an error; `auto` falls back to the CPU.
pub fn select(choice: Choice) -> Result<Selected, CudaError> {
    let (gpu, selected) = match choice {
        Choice::Cpu => (None, Selected::Cpu { fallback: None }),
        Choice::Cuda(n) => {
            let g = Gpu::open(n)?;
            let s = Selected::Cuda {
                ordinal: n,
                name: g.name().to_string(),
            };
            (Some(Arc::new(g)), s)
        }
        Choice::Auto => match Gpu::open(0) {
            Ok(g) => {
                let s = Selected::Cuda {
                    ordinal: 0,
                    name: g.name().to_string(),
                };
                (Some(Arc::new(g)), s)
            }
            Err(e) => (
                None,
                Selected::Cpu {
                    fallback: Some(e.to_string()),
                },
            ),
        },
    };
    *GPU.write().unwrap_or_else(|e| e.into_inner()) = gpu;
    *FALLBACK_NOTE.lock().unwrap_or_else(|e| e.into_inner()) = selected.note();
    Ok(selected)
}

/// The GPU the structured ops use, if one was selected. Called by the
/// ops that could run there: the first call after `auto` fell back prints
/// its note to standard error.
pub fn gpu() -> Option<Arc<Gpu>> {
    let gpu = GPU.read().unwrap_or_else(|e| e.into_inner()).clone();
    if gpu.is_none() {
        if let Some(note) = FALLBACK_NOTE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            eprintln!("{note}");
        }
    }
    gpu
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse_and_bad_ones_say_what_is_allowed() {
        assert_eq!("auto".parse(), Ok(Choice::Auto));
        assert_eq!("cpu".parse(), Ok(Choice::Cpu));
        assert_eq!("cuda".parse(), Ok(Choice::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(Choice::Cuda(3)));
        for bad in ["gpu", "cuda:", "cuda:x", "CUDA"] {
            let e = bad.parse::<Choice>().unwrap_err();
            assert!(e.contains("auto, cpu, cuda or cuda:N"), "{e}");
        }
    }
}
