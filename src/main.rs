//! `lsmc`: the command-line front of the lsmc compiler.

mod bench_cmd;
mod check_cmd;
mod eval_cmd;
mod graph_cmd;
mod infer_cmd;
mod inspect_cmd;
mod predict_cmd;
mod report_cmd;
mod spec;
mod sweep_cmd;
mod train_cmd;
mod trained;

use clap::{Parser, Subcommand, ValueEnum};
use lsmc_runtime::Context;
use std::process::ExitCode;

/// Every structured op allocates its outputs and working charts afresh
/// per call (hundreds of KiB each); glibc's allocator hands such blocks
/// back to the kernel on free and faults them in again on the next call,
/// which cost a quarter of a non-projective marginals backward at n = 40
/// (measured: 0.85 ms against 0.66 ms). mimalloc keeps freed pages for
/// reuse.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "lsmc",
    version,
    about = "A language and compiler for latent-structure models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The most words a text under a tree latent (dependency or
    /// constituency) may have (train, sweep, eval, predict, infer, bench,
    /// inspect): exact inference over a tree takes time cubic in its length
    /// or more, so a longer text is refused rather than run for hours; a
    /// sequence latent, linear in the length, has no such limit
    /// [default: 1000].
    #[arg(long, global = true, value_name = "WORDS")]
    max_words: Option<usize>,
    /// Resolve relative data paths in specs and `--set` values against DIR,
    /// not each spec's directory (`use` paths stay relative to their
    /// file); exported to the runs a sweep starts [env: LSMC_DATA_ROOT].
    #[arg(long, global = true, value_name = "DIR")]
    data_root: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Check specs and explain every problem found; print a summary of clean ones.
    Check(check_cmd::CheckArgs),
    /// Train a spec; results, metrics and checkpoints go to a run directory.
    Train(train_cmd::TrainArgs),
    /// Print the computation graph a spec lowers to (`--dot` for Graphviz).
    Graph(graph_cmd::GraphArgs),
    /// Time training steps of a spec, or (`--structure`) structured inference; JSON, to compare with bench/.
    Bench(bench_cmd::BenchArgs),
    /// Show what the latent node and its surrogate did in the first training step (`--json`: every value).
    Inspect(inspect_cmd::InspectArgs),
    /// Train specs over a grid of overrides and seeds, in parallel; re-running resumes.
    Sweep(sweep_cmd::SweepArgs),
    /// Tables (median ± standard error over seeds) and learning curves from run directories.
    Report(report_cmd::ReportArgs),
    /// Evaluate trained runs again: metrics, loss and the shapes of induced trees.
    Eval(eval_cmd::EvalArgs),
    /// Classify sentences with a trained run and show each one's latent tree (terminal, CoNLL-U, JSON, SVG).
    Predict(predict_cmd::PredictArgs),
    /// Run one structured computation (MAP, marginals, log-partition, SparseMAP) on scores from JSON.
    Infer(infer_cmd::InferArgs),
    /// One task of a Slurm sweep's job array (run by Slurm, not by hand).
    #[command(hide = true)]
    SweepTask(sweep_cmd::TaskArgs),
}

/// `--set PATH=VALUE` overrides, shared by every command that reads a spec.
#[derive(clap::Args, Debug, Clone)]
pub struct Overrides {
    /// Override a `param`, a data argument (`data.seed`), a training setting
    /// (`train.steps`, `train.optimizer.lr`) or a surrogate argument of a
    /// latent (`z.eta`). Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    Auto,
    Always,
    Never,
}

impl Color {
    /// Whether to colour output written to stderr.
    pub fn enabled(self) -> bool {
        use std::io::IsTerminal;
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
            }
        }
    }
}

/// Exit statuses: 0 clean, 1 diagnostics, 2 usage or I/O error.
pub const EXIT_DIAGNOSTICS: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(mut e) => {
            spec::hint_set(&mut e, &<Cli as clap::CommandFactory>::command());
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // First of all, while this is the process's only thread: `--threads`
    // also sets matrixmultiply's environment variable (see spec::threads),
    // and `--data-root` sets LSMC_DATA_ROOT (spec::export_data_root).
    if let Err(code) = spec::export_data_root(cli.data_root.as_deref()) {
        return ExitCode::from(code);
    }
    let threads = match spec::threads(cli.command.threads()) {
        Ok(n) => n,
        Err(code) => return ExitCode::from(code),
    };
    // One context for the process: its device and threads. Commands
    // without `--device` run everything on the CPU.
    let max_words = cli
        .max_words
        .unwrap_or(lsmc_runtime::text_limit::DEFAULT_MAX_WORDS);
    let on = |device: &spec::DeviceArg, run: &dyn Fn(&Context) -> ExitCode| match device
        .context(threads)
    {
        Ok(cx) => run(&cx.with_max_words(max_words)),
        Err(code) => ExitCode::from(code),
    };
    let cpu = || Context::cpu(threads).with_max_words(max_words);
    match cli.command {
        Command::Check(args) => check_cmd::run(&args),
        Command::Train(args) => on(&args.device, &|cx| train_cmd::run(&args, cx)),
        Command::Graph(args) => graph_cmd::run(&args),
        Command::Bench(args) => on(&args.device, &|cx| bench_cmd::run(&args, cx)),
        Command::Infer(args) => on(&args.device, &|cx| infer_cmd::run(&args, cx)),
        Command::Eval(args) => eval_cmd::run(&args, &cpu()),
        Command::Predict(args) => predict_cmd::run(&args, &cpu()),
        Command::Inspect(args) => inspect_cmd::run(&args, &cpu()),
        Command::Sweep(args) => sweep_cmd::run(&args, cli.max_words),
        Command::SweepTask(args) => sweep_cmd::task(&args),
        Command::Report(args) => report_cmd::run(&args),
    }
}

impl Command {
    /// `--threads` of the commands that compute in this process (a sweep
    /// passes its own to the runs it starts).
    fn threads(&self) -> Option<usize> {
        match self {
            Command::Train(a) => a.threads,
            Command::Bench(a) => a.threads,
            Command::Eval(a) => a.threads,
            Command::Predict(a) => a.threads,
            Command::Inspect(a) => a.threads,
            Command::Check(_)
            | Command::Graph(_)
            | Command::Infer(_)
            | Command::Sweep(_)
            | Command::SweepTask(_)
            | Command::Report(_) => None,
        }
    }
}

/// Plain words for the I/O errors users meet.
pub use lsmc_runtime::records::io_reason;

/// Writes to standard output; a closed pipe (`lsmc check … | head`) ends
/// the output quietly instead of panicking.
pub fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}
