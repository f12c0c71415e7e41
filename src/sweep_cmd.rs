//! `lsmc sweep SPEC… [--grid PATH=V1,V2,…]… [--set PATH=VALUE]… [--seeds N |
//! --seed-list A,B,…] [--jobs N] [--threads N] --out DIR`
//!
//! Expands specs × grid × seeds into run directories
//! `DIR/<model>/<path=value,…>/seed-<n>` and trains them with `lsmc train`
//! child processes, `--jobs` at a time. Every combination is checked before
//! anything runs. Re-invoking skips finished runs and resumes killed ones
//! from their checkpoints; one failed run is reported and the others go on.

use crate::runs::{self, RunInfo, State};
use crate::{Color, Overrides, EXIT_DIAGNOSTICS, EXIT_USAGE};
use lsmc_compiler::diag;
use lsmc_runtime::records::{self, Invocation, Summary, SweepRecord, SweepRun};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// Spec files (`.lsm`); each is run on every grid point that applies to it.
    #[arg(required = true)]
    specs: Vec<PathBuf>,
    /// A grid axis: an override path and its values (`train.optimizer.lr=1e-4,1e-3`).
    /// Repeatable; the grid is the product of the axes. An axis a spec has no
    /// such path for (`z.eta` on a model without a surrogate) is skipped for that spec.
    #[arg(long = "grid", value_name = "PATH=V1,V2,…")]
    grid: Vec<String>,
    #[command(flatten)]
    overrides: Overrides,
    /// Seeds 1..=N for every grid point.
    #[arg(long, default_value_t = 1, conflicts_with = "seed_list")]
    seeds: u64,
    /// Explicit seeds instead of 1..=N.
    #[arg(long, value_delimiter = ',', value_name = "A,B,…")]
    seed_list: Vec<u64>,
    /// Runs at once (default: cores / --threads).
    #[arg(long)]
    jobs: Option<usize>,
    /// Threads for matrix products in each run.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The sweep directory: run directories and `sweep.json`.
    #[arg(long)]
    out: PathBuf,
    /// Print the runs the sweep would start, and start none.
    #[arg(long)]
    dry_run: bool,
    #[arg(long, value_enum, default_value = "auto")]
    color: Color,
}

/// One run of the sweep.
struct Planned {
    dir: PathBuf,
    info: RunInfo,
}

/// A grid axis: `(path, values)`.
type Axis = (String, Vec<String>);

fn parse_axis(flag: &str) -> Result<Axis, String> {
    let (path, values) = flag
        .split_once('=')
        .ok_or_else(|| format!("--grid `{flag}`: expected PATH=V1,V2,…"))?;
    let path = path.trim().to_string();
    let values: Vec<String> = values
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if path.is_empty() || values.is_empty() {
        return Err(format!("--grid `{flag}`: expected PATH=V1,V2,…"));
    }
    Ok((path, values))
}

/// The product of the axes, each point a list of `path=value` flags.
fn product(axes: &[&Axis]) -> Vec<Vec<String>> {
    let mut points = vec![Vec::new()];
    for (path, values) in axes {
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push(format!("{path}={v}"));
                    q
                })
            })
            .collect();
    }
    points
}

/// A file-name-safe label for a grid point.
fn label(point: &[String]) -> String {
    if point.is_empty() {
        return "default".into();
    }
    point
        .join(",")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "=.,-_+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Checks `spec` with `flags`; `Ok(None)` when clean, `Ok(Some(paths))`
/// when the only problems are override paths the spec lacks, `Err` with
/// the rendered diagnostics otherwise.
fn check(spec: &Path, flags: &[String], color: bool) -> Result<Option<String>, String> {
    let name = spec.display().to_string();
    let report = lsmc_compiler::check_path(spec, &name, flags)
        .map_err(|e| format!("error: cannot read `{name}`: {}", crate::io_reason(&e)))?;
    let errors: Vec<_> = report
        .diagnostics
        .iter()
        .filter(|d| d.severity == lsmc_compiler::Severity::Error)
        .collect();
    if errors.is_empty() {
        if report.summary.as_ref().is_some_and(|s| s.library) {
            return Err(format!(
                "error: `{name}` is a library (surrogates and params for other specs to `use`); there is nothing to run"
            ));
        }
        return Ok(None);
    }
    if errors.iter().all(|d| d.code == "lsm::set::unknown_path") {
        return Ok(Some(
            errors
                .iter()
                .map(|d| diag::render(d, &report.sources, false))
                .collect::<Vec<_>>()
                .join("\n"),
        ));
    }
    Err(errors
        .iter()
        .map(|d| diag::render(d, &report.sources, color))
        .collect::<Vec<_>>()
        .join("\n"))
}

fn model_name(spec: &Path, flags: &[String]) -> Option<String> {
    let name = spec.display().to_string();
    lsmc_compiler::check_path(spec, &name, flags)
        .ok()?
        .model
        .map(|m| m.name)
}

/// Expands and checks the whole sweep; `Err` carries what to print.
fn plan(args: &SweepArgs, seeds: &[u64]) -> Result<(Vec<Planned>, Invocation), (String, u8)> {
    let usage = |m: String| (m, EXIT_USAGE);
    let color = args.color.enabled();
    let mut axes: Vec<Axis> = Vec::new();
    for flag in &args.grid {
        let axis = parse_axis(flag).map_err(usage)?;
        if axes.iter().any(|(p, _)| *p == axis.0) {
            return Err(usage(format!("--grid `{}` is given twice", axis.0)));
        }
        if args
            .overrides
            .set
            .iter()
            .any(|s| s.split('=').next().map(str::trim) == Some(axis.0.as_str()))
        {
            return Err(usage(format!(
                "`{}` is both a --grid axis and a --set override",
                axis.0
            )));
        }
        axes.push(axis);
    }
    let mut planned = Vec::new();
    let mut skipped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut used = vec![false; axes.len()];
    let mut models: BTreeMap<String, String> = BTreeMap::new();
    for spec in &args.specs {
        let spec_name = spec.display().to_string();
        if let Err(m) = check(spec, &args.overrides.set, color) {
            return Err((m, EXIT_DIAGNOSTICS));
        }
        // An axis applies to a spec when the spec has its path.
        let mut applies = Vec::new();
        for (i, (path, values)) in axes.iter().enumerate() {
            let mut flags = args.overrides.set.clone();
            flags.push(format!("{path}={}", values[0]));
            match check(spec, &flags, color) {
                Ok(None) | Err(_) => {
                    applies.push(&axes[i]);
                    used[i] = true;
                }
                Ok(Some(_)) => skipped
                    .entry(spec_name.clone())
                    .or_default()
                    .push(path.clone()),
            }
        }
        let Some(model) = model_name(spec, &args.overrides.set) else {
            return Err(usage(format!("`{spec_name}` has no model to run")));
        };
        if let Some(other) = models.insert(model.clone(), spec_name.clone()) {
            if other != spec_name {
                return Err(usage(format!(
                    "`{other}` and `{spec_name}` both declare model `{model}`: their runs would share directories"
                )));
            }
            continue;
        }
        for point in product(&applies) {
            let mut flags = args.overrides.set.clone();
            flags.extend(point.iter().cloned());
            match check(spec, &flags, color) {
                Ok(None) => {}
                Ok(Some(m)) | Err(m) => return Err((m, EXIT_DIAGNOSTICS)),
            }
            for &seed in seeds {
                let dir = args
                    .out
                    .join(&model)
                    .join(label(&point))
                    .join(format!("seed-{seed}"));
                planned.push(Planned {
                    dir,
                    info: RunInfo {
                        spec: spec_name.clone(),
                        model: model.clone(),
                        overrides: flags.clone(),
                        seed,
                        precision: "f32".into(),
                        spec_path: None,
                    },
                });
            }
        }
    }
    for (i, (path, _)) in axes.iter().enumerate() {
        if !used[i] {
            // Show why with the checker's own words (it suggests a path).
            let why = check(&args.specs[0], &[format!("{path}={}", axes[i].1[0])], color)
                .ok()
                .flatten()
                .unwrap_or_default();
            return Err((
                format!("--grid `{path}` applies to none of the specs\n{why}"),
                EXIT_DIAGNOSTICS,
            ));
        }
    }
    let description = Invocation {
        specs: args.specs.iter().map(|s| s.display().to_string()).collect(),
        grid: axes.into_iter().collect(),
        set: args.overrides.set.clone(),
        seeds: seeds.to_vec(),
        skipped_axes: skipped,
        argv: Vec::new(),
    };
    Ok((planned, description))
}

/// Merges this invocation into `DIR/sweep.json`, so one directory can hold
/// several sweeps (a table and then an extra figure) and report on them all.
/// An unreadable `sweep.json` is an error, not overwritten: it records the
/// earlier invocations.
fn write_description(out: &Path, this: Invocation, planned: &[Planned]) -> Result<(), String> {
    let path = out.join(records::SWEEP);
    let mut doc = SweepRecord::read(out)?.unwrap_or_default();
    doc.invocations.push(this);
    for p in planned {
        let dir = p
            .dir
            .strip_prefix(out)
            .unwrap_or(&p.dir)
            .display()
            .to_string();
        if !doc.runs.iter().any(|r| r.dir == dir) {
            doc.runs.push(SweepRun {
                dir,
                info: p.info.clone(),
            });
        }
    }
    std::fs::create_dir_all(out)
        .and_then(|_| records::write_json(&path, &doc))
        .map_err(|e| format!("{}: {}", path.display(), crate::io_reason(&e)))
}

/// What one finished child left: a line for the terminal, and success.
fn run_one(exe: &Path, p: &Planned, threads: usize) -> (bool, String) {
    let resume = runs::state(&p.dir) == State::Partial;
    if let Err(e) = std::fs::create_dir_all(&p.dir) {
        return (false, format!("cannot create the run directory: {e}"));
    }
    let log_path = p.dir.join("train.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path);
    let (Ok(out), Ok(err)) = (
        log.as_ref()
            .map_err(|_| ())
            .and_then(|f| f.try_clone().map_err(|_| ())),
        log.as_ref()
            .map_err(|_| ())
            .and_then(|f| f.try_clone().map_err(|_| ())),
    ) else {
        return (false, format!("cannot write {}", log_path.display()));
    };
    let mut cmd = Command::new(exe);
    cmd.arg("train")
        .arg(&p.info.spec)
        .arg("--out")
        .arg(&p.dir)
        .args(["--seed", &p.info.seed.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--color", "never"]);
    for s in &p.info.overrides {
        cmd.arg("--set").arg(s);
    }
    if resume {
        cmd.arg("--resume");
    }
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .status();
    match status {
        Ok(s) if s.success() => {
            let best = records::read_json::<Summary>(&p.dir.join(records::SUMMARY), "a summary")
                .map(|s| {
                    let valid = s
                        .best
                        .splits
                        .get("valid")
                        .into_iter()
                        .flatten()
                        .filter(|(k, _)| *k != "loss")
                        .map(|(k, v)| format!("{k} {v:.4}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!("{:.1} s; best valid {valid}", s.seconds)
                })
                .unwrap_or_default();
            (
                true,
                format!("{}done in {best}", if resume { "resumed, " } else { "" }),
            )
        }
        Ok(s) => {
            let last = std::fs::read_to_string(&log_path)
                .ok()
                .and_then(|t| {
                    // The headline of the diagnostic or error that ended the run.
                    t.lines()
                        .rev()
                        .find(|l| l.contains('×') || l.trim_start().starts_with("error"))
                        .map(|l| l.trim().trim_start_matches('×').trim().to_string())
                })
                .unwrap_or_default();
            (
                false,
                format!(
                    "FAILED ({}){}; log: {}",
                    s.code()
                        .map(|c| format!("exit {c}"))
                        .unwrap_or_else(|| "killed".into()),
                    if last.is_empty() {
                        String::new()
                    } else {
                        format!(": {last}")
                    },
                    log_path.display()
                ),
            )
        }
        Err(e) => (false, format!("FAILED to start lsmc train: {e}")),
    }
}

fn describe(p: &Planned, out: &Path) -> String {
    p.dir
        .strip_prefix(out)
        .unwrap_or(&p.dir)
        .display()
        .to_string()
}

pub fn run(args: &SweepArgs) -> ExitCode {
    if args.threads == 0 || args.jobs == Some(0) {
        eprintln!("error: --threads and --jobs must be at least 1");
        return ExitCode::from(EXIT_USAGE);
    }
    let seeds: Vec<u64> = if args.seed_list.is_empty() {
        (1..=args.seeds.max(1)).collect()
    } else {
        args.seed_list.clone()
    };
    let (planned, description) = match plan(args, &seeds) {
        Ok(p) => p,
        Err((message, code)) => {
            eprintln!("{message}");
            return ExitCode::from(code);
        }
    };
    let states: Vec<State> = planned.iter().map(|p| runs::state(&p.dir)).collect();
    let count = |s: State| states.iter().filter(|&&x| x == s).count();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.unwrap_or((cores / args.threads).max(1));
    eprintln!(
        "sweep: {} runs ({} finished, {} to resume, {} to start), {jobs} at a time → {}",
        planned.len(),
        count(State::Complete),
        count(State::Partial),
        count(State::Fresh),
        args.out.display()
    );
    if args.dry_run {
        for (p, s) in planned.iter().zip(&states) {
            let what = match s {
                State::Complete => "finished",
                State::Partial => "resume",
                State::Fresh => "start",
            };
            crate::out(&format!(
                "{what:<8} {}  lsmc train {} --seed {}{}\n",
                describe(p, &args.out),
                p.info.spec,
                p.info.seed,
                p.info
                    .overrides
                    .iter()
                    .map(|s| format!(" --set {s}"))
                    .collect::<String>()
            ));
        }
        return ExitCode::SUCCESS;
    }
    let mut inv = description;
    inv.argv = std::env::args().collect();
    if let Err(e) = write_description(&args.out, inv, &planned) {
        eprintln!("error: cannot write the sweep's description: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find the lsmc executable to run: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let todo: Vec<&Planned> = planned
        .iter()
        .zip(&states)
        .filter(|(_, s)| **s != State::Complete)
        .map(|(p, _)| p)
        .collect();
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let failed = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(todo.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(p) = todo.get(i) else { break };
                let (ok, line) = run_one(&exe, p, args.threads);
                let n = finished.fetch_add(1, Ordering::SeqCst) + 1;
                eprintln!("[{n}/{}] {}: {line}", todo.len(), describe(p, &args.out));
                if !ok {
                    failed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(describe(p, &args.out));
                }
            });
        }
    });
    let failed = failed.into_inner().unwrap_or_else(|e| e.into_inner());
    eprintln!(
        "sweep: {} of {} runs finished in {:.1} s{}",
        planned.len() - failed.len(),
        planned.len(),
        started.elapsed().as_secs_f64(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(
                "; {} failed: {} (re-run the same command to retry them)",
                failed.len(),
                failed.join(", ")
            )
        }
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DIAGNOSTICS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_the_product_of_its_axes_in_order() {
        let a = ("K".to_string(), vec!["3".to_string(), "10".to_string()]);
        let b = (
            "z.eta".to_string(),
            vec!["0.1".to_string(), "1".to_string()],
        );
        let points = product(&[&a, &b]);
        assert_eq!(
            points,
            vec![
                vec!["K=3", "z.eta=0.1"],
                vec!["K=3", "z.eta=1"],
                vec!["K=10", "z.eta=0.1"],
                vec!["K=10", "z.eta=1"],
            ]
        );
        assert_eq!(product(&[]), vec![Vec::<String>::new()]);
        assert_eq!(label(&points[1]), "K=3,z.eta=1");
        assert_eq!(label(&["a.b=x y/z".to_string()]), "a.b=x_y_z");
    }

    #[test]
    fn a_malformed_axis_is_refused() {
        assert!(parse_axis("K").is_err());
        assert!(parse_axis("K=").is_err());
        assert!(parse_axis("=1,2").is_err());
        assert_eq!(
            parse_axis("train.optimizer.lr = 1e-3, 2e-3").unwrap(),
            (
                "train.optimizer.lr".to_string(),
                vec!["1e-3".to_string(), "2e-3".to_string()]
            )
        );
    }
}
