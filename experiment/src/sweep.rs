//! Sweeps: specs × grid × seeds expanded into run directories
//! `DIR/<model>/<path=value,…>/seed-<n>`, every combination checked before
//! anything runs, and trained by `lsmc train` child processes, some at a
//! time. Finished runs are skipped and killed ones resumed from their
//! checkpoints; one failed run is reported and the others go on.

use crate::runs::{self, State};
use lsmc_compiler::diag;
use lsmc_runtime::latent::registry::catalog;
use lsmc_runtime::records::{self, Invocation, RunInfo, Summary, SweepRecord, SweepRun};
use lsmc_runtime::run_lock::RunLock;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// What `lsmc sweep` was asked for (its flags, described there).
#[derive(Clone, Debug)]
pub struct Options {
    pub specs: Vec<PathBuf>,
    /// `PATH=V1,V2,…` axes (commas inside parentheses belong to a value).
    pub grid: Vec<String>,
    /// `--set` overrides for every run.
    pub set: Vec<String>,
    pub out: PathBuf,
    /// Colour in rendered diagnostics.
    pub color: bool,
    /// What relative data paths resolve against (`--data-root`,
    /// `LSMC_DATA_ROOT`; the runs inherit the variable), recorded in each
    /// run's description.
    pub data_root: Option<lsmc_compiler::DataRoot>,
}

/// Why a sweep cannot start.
#[derive(Debug)]
pub enum PlanError {
    /// A malformed flag.
    Usage(String),
    /// The checker's diagnostics for a spec and its overrides, rendered.
    Diagnostics(String),
}

/// One run of the sweep (also a line of a Slurm plan, [`crate::slurm::Plan`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Planned {
    pub dir: PathBuf,
    #[serde(flatten)]
    pub info: RunInfo,
}

/// A grid axis: `(path, values)`.
type Axis = (String, Vec<String>);

fn parse_axis(flag: &str) -> Result<Axis, String> {
    let (path, values) = flag
        .split_once('=')
        .ok_or_else(|| format!("--grid `{flag}`: expected PATH=V1,V2,…"))?;
    let path = path.trim().to_string();
    let values: Vec<String> = split_top_level(values)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if path.is_empty() || values.is_empty() {
        return Err(format!("--grid `{flag}`: expected PATH=V1,V2,…"));
    }
    Ok((path, values))
}

/// Splits at the commas outside parentheses, so a value may be a call
/// with several arguments (a latent's `argmax(s) via spigot(eta = 0.1, steps = 1)`).
fn split_top_level(text: &str) -> impl Iterator<Item = &str> {
    let mut depth = 0i32;
    let mut start = 0;
    let mut cuts = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                cuts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    cuts.push(&text[start..]);
    cuts.into_iter()
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
fn check(
    spec: &Path,
    flags: &[String],
    color: bool,
    root: Option<&lsmc_compiler::DataRoot>,
) -> Result<Option<String>, String> {
    let name = spec.display().to_string();
    let report = lsmc_compiler::check_path_with(spec, &name, flags, catalog(), root)
        .map_err(|e| format!("error: cannot read `{name}`: {}", records::io_reason(&e)))?;
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

fn model_name(
    spec: &Path,
    flags: &[String],
    root: Option<&lsmc_compiler::DataRoot>,
) -> Option<String> {
    let name = spec.display().to_string();
    lsmc_compiler::check_path_with(spec, &name, flags, catalog(), root)
        .ok()?
        .model
        .map(|m| m.name)
}

/// Expands and checks the whole sweep; `Err` carries what to print.
pub fn plan(args: &Options, seeds: &[u64]) -> Result<(Vec<Planned>, Invocation), PlanError> {
    let usage = PlanError::Usage;
    let color = args.color;
    let root = args.data_root.as_ref();
    let mut axes: Vec<Axis> = Vec::new();
    for flag in &args.grid {
        let axis = parse_axis(flag).map_err(usage)?;
        if axes.iter().any(|(p, _)| *p == axis.0) {
            return Err(usage(format!("--grid `{}` is given twice", axis.0)));
        }
        if args
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
        if let Err(m) = check(spec, &args.set, color, root) {
            return Err(PlanError::Diagnostics(m));
        }
        // An axis applies to a spec when the spec has its path.
        let mut applies = Vec::new();
        for (i, (path, values)) in axes.iter().enumerate() {
            let mut flags = args.set.clone();
            flags.push(format!("{path}={}", values[0]));
            match check(spec, &flags, color, root) {
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
        let Some(model) = model_name(spec, &args.set, root) else {
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
            let mut flags = args.set.clone();
            flags.extend(point.iter().cloned());
            match check(spec, &flags, color, root) {
                Ok(None) => {}
                Ok(Some(m)) | Err(m) => return Err(PlanError::Diagnostics(m)),
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
                        data_root: root.map(|d| d.dir.display().to_string()),
                    },
                });
            }
        }
    }
    for (i, (path, _)) in axes.iter().enumerate() {
        if !used[i] {
            // Show why with the checker's own words (it suggests a path).
            let why = check(
                &args.specs[0],
                &[format!("{path}={}", axes[i].1[0])],
                color,
                root,
            )
            .ok()
            .flatten()
            .unwrap_or_default();
            return Err(PlanError::Diagnostics(format!(
                "--grid `{path}` applies to none of the specs\n{why}"
            )));
        }
    }
    let description = Invocation {
        specs: args.specs.iter().map(|s| s.display().to_string()).collect(),
        grid: axes.into_iter().collect(),
        set: args.set.clone(),
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
pub fn write_description(out: &Path, this: Invocation, planned: &[Planned]) -> Result<(), String> {
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
        .map_err(|e| format!("{}: {}", path.display(), records::io_reason(&e)))
}

/// Waits while another process writes `dir` (a child of an earlier sweep
/// that was killed, still training): how long it waited, and for whom.
fn wait_for_writer(dir: &Path) -> Option<String> {
    let started = std::time::Instant::now();
    let mut holder = None;
    while let Ok(Some(h)) = RunLock::holder(dir) {
        holder = Some(h.map_or("another process".to_string(), |h| {
            format!("process {}", h.pid)
        }));
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    holder.map(|who| {
        format!(
            "waited {:.0} s for {who}, which was training it; ",
            started.elapsed().as_secs_f64()
        )
    })
}

/// How the sweep's runs are started, beyond their spec, seed and overrides.
#[derive(Clone, Copy, Debug)]
pub struct Child {
    /// `--threads` of each run.
    pub threads: usize,
    /// `--max-words`, when the sweep was given one.
    pub max_words: Option<usize>,
}

/// What one finished child left: a line for the terminal, and success. A
/// run another process is training (an orphan of a killed sweep) is waited
/// for, then skipped if that process finished it, so no work is done twice.
pub fn run_one(exe: &Path, p: &Planned, child: Child) -> (bool, String) {
    let waited = wait_for_writer(&p.dir);
    let state = runs::state(&p.dir);
    if let (Some(w), State::Complete) = (&waited, state) {
        return (true, format!("{w}it finished the run"));
    }
    let waited = waited.unwrap_or_default();
    let resume = state == State::Partial;
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
        .args(["--threads", &child.threads.to_string()])
        .args(["--color", "never"]);
    if let Some(n) = child.max_words {
        cmd.args(["--max-words", &n.to_string()]);
    }
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
                format!(
                    "{waited}{}done in {best}",
                    if resume { "resumed, " } else { "" }
                ),
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

pub fn describe(p: &Planned, out: &Path) -> String {
    p.dir
        .strip_prefix(out)
        .unwrap_or(&p.dir)
        .display()
        .to_string()
}

/// Runs `todo` with `exe` (`lsmc`), `jobs` at a time; `done` hears of
/// each run as it ends (how many have ended, the run, success, a line for
/// the terminal). Returns the runs that failed.
pub fn run_all(
    exe: &Path,
    todo: &[&Planned],
    jobs: usize,
    child: Child,
    out: &Path,
    done: &(dyn Fn(usize, &Planned, bool, &str) + Sync),
) -> Vec<String> {
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let failed = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(todo.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(p) = todo.get(i) else { break };
                let (ok, line) = run_one(exe, p, child);
                let n = finished.fetch_add(1, Ordering::SeqCst) + 1;
                done(n, p, ok, &line);
                if !ok {
                    failed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(describe(p, out));
                }
            });
        }
    });
    failed.into_inner().unwrap_or_else(|e| e.into_inner())
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

    #[test]
    fn a_latent_axis_splits_only_at_commas_outside_parentheses() {
        assert_eq!(
            parse_axis("z=marg(s), argmax(s) via spigot(eta = 0.1, steps = 1)").unwrap(),
            (
                "z".to_string(),
                vec![
                    "marg(s)".to_string(),
                    "argmax(s) via spigot(eta = 0.1, steps = 1)".to_string()
                ]
            )
        );
    }
}
