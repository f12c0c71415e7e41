//! Where a trained run's spec stood and which file holds the parameters
//! asked for, for `lsmc eval` and `lsmc predict`.

use lsmc_runtime::records::{RunInfo, BEST, CHECKPOINT};
use std::path::{Path, PathBuf};

/// Which saved parameters to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum At {
    /// The best evaluation by the first metric on the validation split
    /// (`best.bin`), as the run's summary reports it.
    Best,
    /// The last evaluation (`checkpoint.bin`).
    Final,
}

/// Where the trained spec stood: its recorded absolute path, else the
/// recorded path if it still exists from here, else the run directory.
pub fn origin(dir: &Path, info: &RunInfo) -> PathBuf {
    if let Some(p) = &info.spec_path {
        return PathBuf::from(p);
    }
    let recorded = PathBuf::from(&info.spec);
    std::fs::canonicalize(&recorded).unwrap_or_else(|_| dir.join("spec.lsm"))
}

/// The file in `dir` holding the parameters saved `at`; `Err` says why
/// there is none.
pub fn params_file(dir: &Path, at: At) -> Result<PathBuf, String> {
    let file = dir.join(match at {
        At::Best => BEST,
        At::Final => CHECKPOINT,
    });
    if file.exists() {
        return Ok(file);
    }
    Err(format!(
        "{} has no {}: {}",
        dir.display(),
        file.file_name().unwrap_or_default().to_string_lossy(),
        match at {
            At::Best if dir.join(CHECKPOINT).exists() =>
                "this run was trained before lsmc kept its best parameters; use --at final",
            _ => "the run has not reached its first evaluation",
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_without_the_asked_for_parameters_says_why() {
        let dir = std::env::temp_dir().join(format!("lsmc-trained-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = params_file(&dir, At::Final).unwrap_err();
        assert!(
            e.contains("has no checkpoint.bin") && e.contains("first evaluation"),
            "{e}"
        );
        std::fs::write(dir.join(CHECKPOINT), b"").unwrap();
        let e = params_file(&dir, At::Best).unwrap_err();
        assert!(
            e.contains("has no best.bin") && e.contains("--at final"),
            "{e}"
        );
        assert_eq!(params_file(&dir, At::Final).unwrap(), dir.join(CHECKPOINT));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
