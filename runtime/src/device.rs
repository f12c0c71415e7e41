//! Where the structured ops over projective trees run: on the CPU engine,
//! or on a GPU through the CUDA kernels (`lsmc-kernels`). The choice
//! (`--device auto|cpu|cuda[:N]` on the command line) is opened by
//! [`crate::context::Context::new`] and lives in that context; the CPU
//! engine stays the reference and the fallback. Everything else in a
//! graph (the encoder, the decoder) runs on the CPU either way.

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
