//! Reading a spec for the commands that run it: check, then lower, with
//! every diagnostic rendered on the way.

use crate::{Color, EXIT_DIAGNOSTICS, EXIT_USAGE};
use lsmc_compiler::{diag, model::Model, DataRoot, Report, RootFrom};
use lsmc_ir::Program;
use lsmc_runtime::latent::registry::catalog;
use lsmc_runtime::Context;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub struct Loaded {
    pub report: Report,
    pub model: Model,
    pub program: Program,
}

/// Checks and lowers `path`; on failure prints why and returns the exit status.
pub fn load(path: &Path, overrides: &[String], color: Color) -> Result<Loaded, u8> {
    load_with(path, overrides, color, data_root())
}

/// [`load`] with relative data paths resolved against `root` (none: the
/// spec's directory).
pub fn load_with(
    path: &Path,
    overrides: &[String],
    color: Color,
    root: Option<DataRoot>,
) -> Result<Loaded, u8> {
    let name = path.display().to_string();
    let report =
        match lsmc_compiler::check_path_with(path, &name, overrides, catalog(), root.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: cannot read `{name}`: {}", crate::io_reason(&e));
                if let Some(help) = set_help(path) {
                    eprintln!("{help}");
                }
                return Err(EXIT_USAGE);
            }
        };
    from_report(report, &name, color)
}

/// The environment variable that holds the data root: what `--data-root`
/// sets for the whole process and the runs a sweep starts.
pub const DATA_ROOT_ENV: &str = "LSMC_DATA_ROOT";

/// Set when the data root came from `--data-root` (the variable then
/// holds it too), so diagnostics name the flag.
static ROOT_FROM_FLAG: OnceLock<PathBuf> = OnceLock::new();

/// `--data-root DIR`: checks that `DIR` is a directory and exports it,
/// absolute, as `LSMC_DATA_ROOT`, so that every spec this process reads,
/// and every `lsmc train` a sweep starts here or through Slurm, resolves
/// relative data paths against it. Called once, first thing in `main`
/// (see [`threads`] for why).
pub fn export_data_root(flag: Option<&Path>) -> Result<(), u8> {
    let Some(dir) = flag else {
        return Ok(());
    };
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    if !absolute.is_dir() {
        let what = if absolute.exists() {
            "not a directory"
        } else {
            "no such directory"
        };
        eprintln!("error: --data-root `{}`: {what}", dir.display());
        return Err(EXIT_USAGE);
    }
    // One thread yet, no GPU context: nothing reads the environment as
    // it changes.
    std::env::set_var(DATA_ROOT_ENV, &absolute);
    let _ = ROOT_FROM_FLAG.set(absolute);
    Ok(())
}

/// The data root of a run: the one given now (`--data-root`,
/// `LSMC_DATA_ROOT`), else the one it was trained with (`run.json`).
pub fn run_data_root(recorded: Option<&str>) -> Option<DataRoot> {
    data_root().or_else(|| {
        recorded.map(|dir| DataRoot {
            dir: PathBuf::from(dir),
            from: RootFrom::Run,
        })
    })
}

/// The data root relative data paths resolve against: `--data-root`,
/// else `LSMC_DATA_ROOT` when set and not empty (made absolute against
/// the working directory), else none (each spec's own directory).
pub fn data_root() -> Option<DataRoot> {
    if let Some(dir) = ROOT_FROM_FLAG.get() {
        return Some(DataRoot {
            dir: dir.clone(),
            from: RootFrom::Flag,
        });
    }
    let dir = std::env::var_os(DATA_ROOT_ENV).filter(|d| !d.is_empty())?;
    let dir = PathBuf::from(dir);
    Some(DataRoot {
        dir: std::path::absolute(&dir).unwrap_or(dir),
        from: RootFrom::Env,
    })
}

/// For a spec argument that cannot be read and looks like an override
/// (`K=3`, `train.steps=10`): a help line suggesting `--set`.
pub fn set_help(arg: &Path) -> Option<String> {
    let arg = arg.to_str()?;
    looks_like_override(arg)
        .then(|| format!("  help: `{arg}` is not a file; to override a value, write `--set {arg}`"))
}

/// `PATH=VALUE` with a name-like path: not a flag, not a file name.
fn looks_like_override(arg: &str) -> bool {
    let Some((path, value)) = arg.split_once('=') else {
        return false;
    };
    let name = |part: &str| {
        part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    !value.is_empty() && !path.is_empty() && path.split('.').all(name)
}

/// Adds a tip to clap's "unexpected argument `K=3`" for the commands that
/// take `--set`: an override written the Hydra way, without the flag.
pub fn hint_set(e: &mut clap::Error, command: &clap::Command) {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::UnknownArgument {
        return;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return;
    };
    if !looks_like_override(arg) {
        return;
    }
    // The subcommand: the first argument that names one.
    let takes_set = std::env::args_os()
        .skip(1)
        .find_map(|a| command.find_subcommand(a.to_str()?))
        .is_some_and(|sub| sub.get_arguments().any(|a| a.get_long() == Some("set")));
    if !takes_set {
        return;
    }
    let tip = format!("to override a value, write `--set {arg}`");
    let mut tips = match e.get(ContextKind::Suggested) {
        Some(ContextValue::StyledStrs(tips)) => tips.clone(),
        _ => Vec::new(),
    };
    tips.push(tip.into());
    e.insert(ContextKind::Suggested, ContextValue::StyledStrs(tips));
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

/// The thread count of `--threads` (`None`: all cores, see
/// [`workers_for`]), refusing zero. Called once, first thing in `main`:
/// see there for why.
pub fn threads(threads: Option<usize>) -> Result<usize, u8> {
    match threads {
        None => {
            // Matrix products one thread at a time unless asked: at these
            // models' sizes matrixmultiply's threads cost more than they
            // give (BENCHMARKS.md, "Threads": the SST baseline 0.42 s on
            // one thread, 0.59 s on two). A variable the user set wins.
            if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
                std::env::set_var("MATMUL_NUM_THREADS", "1");
            }
            Ok(lsmc_runtime::context::all_cores())
        }
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

/// The context a program runs best with when `--threads` is not given:
/// every core for a model with a latent over words (its trees are solved
/// one sentence per worker), one thread otherwise — the workers' pool
/// only slows small products down (BENCHMARKS.md, "Threads"). With
/// `--threads`, `cx` as it is.
pub fn workers_for(program: &Program, cx: &Context, explicit: Option<usize>) -> Option<Context> {
    if explicit.is_some() {
        return None;
    }
    let trees = program
        .graph
        .latent_ops()
        .any(|(_, l)| l.structure.scores.over_words());
    (!trees).then(|| cx.with_threads(1))
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
