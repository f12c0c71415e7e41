//! `lsmc train SPEC [--out DIR] [--set PATH=VALUE]… [--seed N] [--threads N] [--precision f32|f64]`,
//! and `lsmc train --resume RUN_DIR`, which takes all of those from the run.

use crate::{Color, Overrides, EXIT_DIAGNOSTICS};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use lsmc_compiler::diag::{self, Diagnostic};
use lsmc_ir::graph::Graph;
use lsmc_runtime::records::{Metrics, RunInfo, Summary};
use lsmc_runtime::run_lock::{RunLock, Utc};
use lsmc_runtime::train::{self, Observer, TrainError};
use lsmc_runtime::Context;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The spec file (`.lsm`); with `--resume RUN_DIR`, the run's own.
    spec: Option<PathBuf>,
    /// Run directory (default `runs/<model>-<timestamp>`).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
    /// Seed for initialisation, batching and noise (default: the spec's
    /// `train { seed N }`, else 1).
    #[arg(long)]
    seed: Option<u64>,
    /// Threads for matrix products and tree workers (default: one for
    /// matrix products; every core for tree workers in a model with a tree
    /// latent, one otherwise).
    #[arg(long)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub device: crate::spec::DeviceArg,
    /// Continue a run from its last checkpoint: `--resume RUN_DIR` alone
    /// (spec, overrides, seed and precision come from the run's run.json),
    /// or `SPEC --out RUN_DIR --resume` with the same flags as its start.
    #[arg(long, num_args = 0..=1, value_name = "RUN_DIR")]
    resume: Option<Option<PathBuf>>,
    /// Element type: f32 for training, f64 for reference runs [default: f32].
    #[arg(long, value_enum)]
    precision: Option<Precision>,
    #[arg(long, value_enum, default_value = "auto")]
    color: Color,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Precision {
    F32,
    F64,
}

/// A progress bar on a terminal, with evaluations printed above it; one
/// line per evaluation elsewhere. Both say how long the rest should take.
struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    /// The first step of this process and when it was taken: the ETA's
    /// rate counts this process's steps only (not a resumed run's earlier ones).
    first: Option<(u64, Instant)>,
}

fn brief(results: &BTreeMap<String, BTreeMap<String, f64>>) -> String {
    let mut parts = Vec::new();
    for (split, m) in results {
        let ms: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        parts.push(format!("{split}: {}", ms.join(" ")));
    }
    parts.join(" | ")
}

/// `1h02m`, `3m05s`, `12s`.
fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

impl Progress {
    /// The time the remaining steps should take at this process's rate
    /// so far (evaluations included).
    fn eta(&self, step: u64) -> Option<String> {
        let (first, at) = self.first?;
        let done = step.checked_sub(first).filter(|&d| d > 0)?;
        let per = at.elapsed().as_secs_f64() / done as f64;
        Some(duration(per * self.total.saturating_sub(step) as f64))
    }
}

impl Observer for Progress {
    fn start(&mut self, total: u64, first: u64) {
        self.total = total;
        self.first = Some((first, Instant::now()));
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] step {pos}/{len} (eta {eta}) {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_position(first);
            self.bar = Some(bar);
        }
    }
    fn step(&mut self, step: u64, epoch: u64, loss: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(step);
            if step.is_multiple_of(10) {
                bar.set_message(format!("epoch {epoch} loss {loss:.4}"));
            }
        }
    }
    fn evaluated(&mut self, step: u64, results: &BTreeMap<String, BTreeMap<String, f64>>) {
        let eta = match self.eta(step) {
            Some(t) if step < self.total => format!(", eta {t}"),
            _ => String::new(),
        };
        let line = format!("step {step}/{}{eta}: {}", self.total, brief(results));
        match &self.bar {
            // Above the bar, so the evaluations stay on screen.
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
    fn finish(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn fnv(text: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

fn precision_name(p: Precision) -> &'static str {
    match p {
        Precision::F32 => "f32",
        Precision::F64 => "f64",
    }
}

/// What a run is: its spec, overrides, seed, precision and directory,
/// from the command line or, with `--resume RUN_DIR`, from the run.
struct Resolved {
    spec: PathBuf,
    /// The run's data root, when resuming one trained with a root.
    data_root: Option<String>,
    set: Vec<String>,
    seed: Option<u64>,
    precision: Precision,
    out: Option<PathBuf>,
    resume: bool,
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// `--resume RUN_DIR` takes what the run was made with from its run.json;
/// a flag given as well must agree, and one that does not is named with
/// both values.
fn resolve(args: &TrainArgs) -> Result<Resolved, String> {
    let dir = match &args.resume {
        None => {
            let spec = args.spec.clone().ok_or(
                "lsmc train needs a spec (`lsmc train SPEC`), or `--resume RUN_DIR` to continue a run",
            )?;
            return Ok(Resolved {
                spec,
                data_root: None,
                set: args.overrides.set.clone(),
                seed: args.seed,
                precision: args.precision.unwrap_or(Precision::F32),
                out: args.out.clone(),
                resume: false,
            });
        }
        Some(Some(dir)) => dir.clone(),
        // `SPEC --out DIR --resume` (as `lsmc sweep` resumes its runs):
        // the command line says what the run is, and the checkpoint's
        // fingerprint refuses another.
        Some(None) if args.spec.is_some() => {
            let out = args
                .out
                .clone()
                .ok_or("--resume needs the run directory: `lsmc train --resume RUN_DIR`")?;
            return Ok(Resolved {
                spec: args.spec.clone().unwrap_or_default(),
                data_root: RunInfo::read(&out).ok().and_then(|i| i.data_root),
                set: args.overrides.set.clone(),
                seed: args.seed,
                precision: args.precision.unwrap_or(Precision::F32),
                out: Some(out),
                resume: true,
            });
        }
        Some(None) => args
            .out
            .clone()
            .ok_or("--resume needs the run directory: `lsmc train --resume RUN_DIR`")?,
    };
    let info = RunInfo::read(&dir).map_err(|e| {
        format!(
            "{e}\n  {} is not a run directory that `lsmc train` started",
            dir.display()
        )
    })?;
    let run_spec = info
        .spec_path
        .as_ref()
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(&info.spec));
    let from = dir.join("run.json");
    let conflict = |flag: &str, given: String, recorded: String| {
        format!(
            "{flag} {given} conflicts with the run's {recorded} ({}); drop the flag to resume the run as it was made, or train a new run into another --out",
            from.display()
        )
    };
    let paths = [
        ("the spec", &args.spec, "spec", &run_spec),
        ("--out", &args.out, "directory", &dir),
    ];
    for (flag, given, what, recorded) in paths {
        if let Some(given) = given.as_ref().filter(|g| !same_path(g, recorded)) {
            return Err(conflict(
                flag,
                given.display().to_string(),
                format!("{what} {}", recorded.display()),
            ));
        }
    }
    if let Some(seed) = args.seed.filter(|&s| s != info.seed) {
        return Err(conflict(
            "--seed",
            seed.to_string(),
            format!("seed {}", info.seed),
        ));
    }
    if let Some(p) = args
        .precision
        .filter(|&p| precision_name(p) != info.precision)
    {
        return Err(conflict(
            "--precision",
            precision_name(p).into(),
            format!("precision {}", info.precision),
        ));
    }
    if !args.overrides.set.is_empty() && args.overrides.set != info.overrides {
        let show = |s: &[String]| {
            if s.is_empty() {
                "none".to_string()
            } else {
                s.iter()
                    .map(|o| format!("--set {o}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        };
        return Err(conflict(
            "the overrides",
            show(&args.overrides.set),
            format!("overrides {}", show(&info.overrides)),
        ));
    }
    let precision = if info.precision == "f64" {
        Precision::F64
    } else {
        Precision::F32
    };
    Ok(Resolved {
        spec: run_spec,
        data_root: info.data_root,
        set: info.overrides,
        seed: Some(info.seed),
        precision,
        out: Some(dir),
        resume: true,
    })
}

/// The run's resolved configuration on one line: every setting the
/// training block ended with, `--set` flags applied.
fn config_line(report: &lsmc_compiler::Report, r: &Resolved, seed: u64) -> String {
    let mut parts = Vec::new();
    if let Some(s) = &report.summary {
        let t = &s.train;
        parts.push(format!("{}, batch {}, {}", t.optimizer, t.batch, t.length));
        parts.push(format!("evaluate {}", t.evaluate));
        parts.extend(t.controls.iter().cloned());
    }
    parts.push(format!("seed {seed}, {}", precision_name(r.precision)));
    if !r.set.is_empty() {
        parts.push(format!("--set {}", r.set.join(" ")));
    }
    format!("config: {}", parts.join("; "))
}

/// Ctrl-C (and SIGTERM, as Slurm sends before a job's time runs out):
/// the first asks the run to stop after its step with a checkpoint; a
/// second ends the process at once.
fn on_interrupt(flag: Arc<AtomicBool>) {
    let handler = move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\ninterrupted again: stopping now; the last checkpoint is kept");
            std::process::exit(EXIT_INTERRUPTED.into());
        }
        eprintln!(
            "\ninterrupted: stopping after this step with a checkpoint (Ctrl-C again to stop at once)"
        );
    };
    if let Err(e) = ctrlc::set_handler(handler) {
        eprintln!("warning: Ctrl-C will stop training without a checkpoint: {e}");
    }
}

/// The exit status of a run stopped by Ctrl-C: 128 + SIGINT, as shells use.
const EXIT_INTERRUPTED: u8 = 130;

pub fn run(args: &TrainArgs, cx: &Context) -> ExitCode {
    let r = match resolve(args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(crate::EXIT_USAGE);
        }
    };
    let root = crate::spec::run_data_root(r.data_root.as_deref());
    let data_root = root.as_ref().map(|d| d.dir.display().to_string());
    let loaded = match crate::spec::load_with(&r.spec, &r.set, args.color, root) {
        Ok(l) => l,
        Err(code) => return ExitCode::from(code),
    };
    let model = &loaded.model;
    let sized = crate::spec::workers_for(&loaded.program, cx, args.threads);
    let cx = sized.as_ref().unwrap_or(cx);
    let seed = r.seed.or(model.train.seed).unwrap_or(1);
    let out = r.out.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(format!("{}-{}", model.name, Utc::now().compact()))
    });
    let spec_text = loaded.report.resolved_text(&r.set);
    let precision = precision_name(r.precision);
    let interrupt = Arc::new(AtomicBool::new(false));
    let opts = train::Options {
        out: out.clone(),
        seed,
        resume: r.resume,
        fingerprint: fnv(&format!("{spec_text}\u{0}{seed}\u{0}{precision}")),
        spec_text,
        interrupt: interrupt.clone(),
    };
    // One writer per run directory, from before its first file to the end.
    let _lock = match RunLock::acquire(&out) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("error: {e}; wait for it to finish, or train into another --out");
            return ExitCode::from(crate::EXIT_USAGE);
        }
    };
    // Written first so that a sweep or a report can tell what this run
    // is even if it is killed before its first checkpoint; a directory that
    // already holds a run keeps its description (train refuses it below).
    if !out.join("checkpoint.bin").exists() {
        let info = RunInfo {
            spec: r.spec.display().to_string(),
            model: model.name.clone(),
            overrides: r.set.clone(),
            seed,
            precision: precision.to_string(),
            spec_path: std::fs::canonicalize(&r.spec)
                .ok()
                .map(|p| p.display().to_string()),
            data_root,
        };
        if let Err(e) = info.write(&out) {
            eprintln!(
                "error: cannot write {}: {}",
                out.join("run.json").display(),
                crate::io_reason(&e)
            );
            return ExitCode::from(crate::EXIT_USAGE);
        }
    }
    let mut progress = Progress {
        bar: None,
        total: 0,
        first: None,
    };
    eprintln!(
        "training {} ({}) → {}{}",
        model.name,
        r.spec.display(),
        out.display(),
        if r.resume { " (resuming)" } else { "" }
    );
    eprintln!("{}", config_line(&loaded.report, &r, seed));
    on_interrupt(interrupt);
    let result = match r.precision {
        Precision::F32 => train::train::<f32>(cx, &loaded.program, &opts, &mut progress),
        Precision::F64 => train::train::<f64>(cx, &loaded.program, &opts, &mut progress),
    };
    match result {
        Ok(summary) => {
            print_summary(&summary, &out);
            ExitCode::SUCCESS
        }
        Err(TrainError::Interrupted { step }) => {
            eprintln!(
                "stopped after step {step}; checkpoint written to {}\nresume with: lsmc train --resume {}",
                out.join(lsmc_runtime::records::CHECKPOINT).display(),
                out.display()
            );
            ExitCode::from(EXIT_INTERRUPTED)
        }
        Err(e) => {
            report_error(
                &e,
                &loaded.program.graph,
                &loaded.report,
                &out,
                args.color.enabled(),
            );
            ExitCode::from(EXIT_DIAGNOSTICS)
        }
    }
}

fn print_summary(s: &Summary, out: &std::path::Path) {
    let show = |m: Option<&Metrics>| -> String {
        m.into_iter()
            .flatten()
            .map(|(k, f)| format!("{k} {f:.4}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("model {}: {} steps in {:.1} s", s.model, s.steps, s.seconds);
    if let Some(why) = &s.stopped_early {
        println!("  stopped early: {why}");
    }
    for (which, r) in [("final", &s.last), ("best", &s.best)] {
        println!(
            "  {which:<5} (step {}): valid {} | test {}",
            r.step,
            show(r.splits.get("valid")),
            show(r.splits.get("test"))
        );
    }
    println!("  run directory: {}", out.display());
}

fn report_error(
    e: &TrainError,
    graph: &Graph,
    report: &lsmc_compiler::Report,
    out: &std::path::Path,
    color: bool,
) {
    match e {
        TrainError::NonFinite {
            step,
            node,
            in_gradient,
            evaluating,
            checkpoint,
        } => {
            let n = &graph.nodes[*node];
            let what = n
                .name
                .clone()
                .map(|s| format!("`{s}`"))
                .unwrap_or_else(|| format!("`{}`", n.op.name()));
            let kept = match checkpoint {
                Some(s) => format!(
                    "the last good checkpoint (step {s}) is kept in {}",
                    out.display()
                ),
                None => "no checkpoint had been written yet".to_string(),
            };
            let d = Diagnostic::error(
                "lsm::train::non_finite",
                format!(
                    "training diverged: a NaN or infinity appeared {} {} step {step}",
                    if *in_gradient {
                        "in a gradient"
                    } else {
                        "in a value"
                    },
                    if *evaluating {
                        "when evaluating after"
                    } else {
                        "in"
                    }
                ),
                n.span,
                format!(
                    "first non-finite {}: {what} ({}, node %{node})",
                    if *in_gradient { "gradient" } else { "value" },
                    n.section.name()
                ),
            )
            .with_help(Some(format!(
                "{kept}; a smaller learning rate usually helps"
            )));
            eprintln!("{}", diag::render(&d, &report.sources, color));
        }
        other => eprintln!("error: {other}"),
    }
}
