//! `lsmc train SPEC [--out DIR] [--set PATH=VALUE]… [--seed N] [--threads N] [--resume] [--precision f32|f64]`

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
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The spec file (`.lsm`).
    spec: PathBuf,
    /// Run directory (default `runs/<model>-<timestamp>`).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
    /// Seed for initialisation, batching and noise (default: the spec's
    /// `train { seed N }`, else 1).
    #[arg(long)]
    seed: Option<u64>,
    /// Threads for matrix products (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub device: crate::spec::DeviceArg,
    /// Continue the run in `--out` from its last checkpoint.
    #[arg(long, requires = "out")]
    resume: bool,
    /// Element type: f32 for training, f64 for reference runs.
    #[arg(long, value_enum, default_value = "f32")]
    precision: Precision,
    #[arg(long, value_enum, default_value = "auto")]
    color: Color,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Precision {
    F32,
    F64,
}

/// A progress bar on a terminal; one line per evaluation elsewhere.
struct Progress {
    bar: Option<ProgressBar>,
    last: String,
}

fn brief(results: &BTreeMap<String, BTreeMap<String, f64>>) -> String {
    let mut parts = Vec::new();
    for (split, m) in results {
        let ms: Vec<String> = m
            .iter()
            .map(|(k, v)| {
                if k == "loss" {
                    format!("loss {v:.4}")
                } else {
                    format!("{k} {v:.4}")
                }
            })
            .collect();
        parts.push(format!("{split}: {}", ms.join(" ")));
    }
    parts.join(" | ")
}

impl Observer for Progress {
    fn start(&mut self, total: u64, first: u64) {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:30}] step {pos}/{len} {msg}")
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
                bar.set_message(format!("epoch {epoch} loss {loss:.4} {}", self.last));
            }
        }
    }
    fn evaluated(&mut self, step: u64, results: &BTreeMap<String, BTreeMap<String, f64>>) {
        self.last = brief(results);
        match &self.bar {
            Some(bar) => bar.set_message(self.last.clone()),
            None => eprintln!("step {step}: {}", self.last),
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

pub fn run(args: &TrainArgs, cx: &Context) -> ExitCode {
    let loaded = match crate::spec::load(&args.spec, &args.overrides.set, args.color) {
        Ok(l) => l,
        Err(code) => return ExitCode::from(code),
    };
    let model = &loaded.model;
    let seed = args.seed.or(model.train.seed).unwrap_or(1);
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(format!("{}-{}", model.name, Utc::now().compact()))
    });
    let spec_text = loaded.report.resolved_text(&args.overrides.set);
    let precision = match args.precision {
        Precision::F32 => "f32",
        Precision::F64 => "f64",
    };
    let opts = train::Options {
        out: out.clone(),
        seed,
        resume: args.resume,
        fingerprint: fnv(&format!("{spec_text}\u{0}{seed}\u{0}{precision}")),
        spec_text,
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
            spec: args.spec.display().to_string(),
            model: model.name.clone(),
            overrides: args.overrides.set.clone(),
            seed,
            precision: precision.to_string(),
            spec_path: std::fs::canonicalize(&args.spec)
                .ok()
                .map(|p| p.display().to_string()),
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
        last: String::new(),
    };
    eprintln!(
        "training {} ({}) → {}{}",
        model.name,
        args.spec.display(),
        out.display(),
        if args.resume { " (resuming)" } else { "" }
    );
    let result = match args.precision {
        Precision::F32 => train::train::<f32>(cx, &loaded.program, &opts, &mut progress),
        Precision::F64 => train::train::<f64>(cx, &loaded.program, &opts, &mut progress),
    };
    match result {
        Ok(summary) => {
            print_summary(&summary, &out);
            ExitCode::SUCCESS
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
