//! Reading a spec for the commands that run it: check, then lower, with
//! every diagnostic rendered on the way.

use crate::{Color, EXIT_DIAGNOSTICS, EXIT_USAGE};
use lsmc_compiler::{diag, model::Model, Report};
use lsmc_ir::Program;
use lsmc_runtime::latent::registry::catalog;
use lsmc_runtime::Context;
use std::path::Path;

pub struct Loaded {
    pub report: Report,
    pub model: Model,
    pub program: Program,
}

/// Checks and lowers `path`; on failure prints why and returns the exit status.
pub fn load(path: &Path, overrides: &[String], color: Color) -> Result<Loaded, u8> {
    let name = path.display().to_string();
    let report = match lsmc_compiler::check_path(path, &name, overrides, catalog()) {
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

/// The thread count of `--threads` (`None`: all cores), refusing zero.
/// Called once, first thing in `main`: see there for why.
pub fn threads(threads: Option<usize>) -> Result<usize, u8> {
    match threads {
        None => Ok(lsmc_runtime::context::all_cores()),
        Some(0) => {
            eprintln!("error: --threads must be at least 1");
            Err(EXIT_USAGE)
        }
        Some(n) => {
            // matrixmultiply (inside ndarray) takes its thread count from
            // this variable alone, read once at its first product; lsmc's
            // own workers take theirs from the context. Set while the
            // process has one thread and no GPU context, so no other thread
            // can be reading the environment as it changes.
            std::env::set_var("MATMUL_NUM_THREADS", n.to_string());
            Ok(n)
        }
    }
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
    /// The context of a command that runs structured ops: this device and
    /// `threads` workers, or why the device cannot be had.
    pub fn context(&self, threads: usize) -> Result<Context, u8> {
        let choice: lsmc_runtime::device::Choice = self.device.parse().map_err(|e| {
            eprintln!("error: --device: {e}");
            EXIT_USAGE
        })?;
        // `auto`'s fallback note comes with the first tree op, if any.
        Context::new(choice, threads).map_err(|e| {
            eprintln!("error: --device {}: {e}", self.device);
            EXIT_USAGE
        })
    }
}
