//! Reading a spec for the commands that run it: check, then lower, with
//! every diagnostic rendered on the way.

use crate::{Color, EXIT_DIAGNOSTICS, EXIT_USAGE};
use lsmc_compiler::{diag, model::Model, Report};
use lsmc_ir::Program;
use std::path::Path;

pub struct Loaded {
    pub report: Report,
    pub model: Model,
    pub program: Program,
}

/// Checks and lowers `path`; on failure prints why and returns the exit status.
pub fn load(path: &Path, overrides: &[String], color: Color) -> Result<Loaded, u8> {
    let name = path.display().to_string();
    let report = match lsmc_compiler::check_path(path, &name, overrides) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot read `{name}`: {}", crate::io_reason(&e));
            return Err(EXIT_USAGE);
        }
    };
    from_report(report, &name, color)
}

/// Lowers a checked spec; on failure prints why and returns the exit status.
pub fn from_report(report: Report, name: &str, color: Color) -> Result<Loaded, u8> {
    let color = color.enabled();
    for d in &report.diagnostics {
        eprintln!("{}", diag::render(d, &report.sources, color));
    }
    let Some(model) = report.model.clone() else {
        return Err(EXIT_DIAGNOSTICS);
    };
    if report.summary.as_ref().is_some_and(|s| s.library) {
        eprintln!("error: `{name}` is a library (surrogates and params for other specs to `use`); there is nothing to run");
        return Err(EXIT_USAGE);
    }
    match lsmc_compiler::lower::lower(&model) {
        Ok(program) => Ok(Loaded {
            report,
            model,
            program,
        }),
        Err(diags) => {
            for d in &diags {
                eprintln!("{}", diag::render(d, &report.sources, color));
            }
            Err(EXIT_DIAGNOSTICS)
        }
    }
}

/// [`load`] for the commands that compute: first sets the thread count
/// (`None`: all cores), refusing zero.
pub fn load_with_threads(
    path: &Path,
    overrides: &[String],
    color: Color,
    threads: Option<usize>,
) -> Result<Loaded, u8> {
    set_threads(threads)?;
    load(path, overrides, color)
}

/// Sets the thread count for matrix products and tree workers (`None`:
/// all cores), refusing zero.
pub fn set_threads(threads: Option<usize>) -> Result<(), u8> {
    if let Some(n) = threads {
        if n == 0 {
            eprintln!("error: --threads must be at least 1");
            return Err(EXIT_USAGE);
        }
        // Read by matrixmultiply (and the tree workers) when they first start.
        std::env::set_var("MATMUL_NUM_THREADS", n.to_string());
    }
    Ok(())
}

/// `--device auto|cpu|cuda[:N]`: where the structured ops over trees run.
#[derive(clap::Args, Debug, Clone)]
pub struct DeviceArg {
    /// Where tree inference runs: `auto` (the GPU when one is present, else
    /// the CPU, said in one line), `cpu`, `cuda` or `cuda:N` (an error
    /// without that GPU).
    #[arg(long, default_value = "auto", value_name = "auto|cpu|cuda[:N]")]
    pub device: String,
}

impl DeviceArg {
    /// Selects the device for this process, or says why it cannot.
    pub fn select(&self) -> Result<(), u8> {
        let choice: lsmc_runtime::device::Choice = self.device.parse().map_err(|e| {
            eprintln!("error: --device: {e}");
            EXIT_USAGE
        })?;
        match lsmc_runtime::device::select(choice) {
            // `auto`'s fallback note comes with the first tree op, if any.
            Ok(_) => Ok(()),
            Err(e) => {
                eprintln!("error: --device {}: {e}", self.device);
                Err(EXIT_USAGE)
            }
        }
    }
}
