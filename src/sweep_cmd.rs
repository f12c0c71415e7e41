//! `lsmc sweep SPEC… [--grid PATH=V1,V2,…]… [--set PATH=VALUE]… [--seeds N |
//! --seed-list A,B,…] [--jobs N] [--threads N] [--on local|slurm …] --out DIR`,
//! `lsmc sweep --status DIR`
//!
//! Expands specs × grid × seeds into run directories
//! `DIR/<model>/<path=value,…>/seed-<n>` and trains them with `lsmc train`
//! child processes, `--jobs` at a time, or (`--on slurm`) submits them as
//! one Slurm job array and returns. Every combination is checked before
//! anything runs. Re-invoking skips finished runs and resumes killed ones
//! from their checkpoints; one failed run is reported and the others go on.

use crate::{Color, Overrides, EXIT_DIAGNOSTICS, EXIT_USAGE};
use lsmc_experiment::runs::{self, State};
use lsmc_experiment::slurm::{self, Standing};
use lsmc_experiment::sweep::{self, describe, Options, PlanError, Planned};
use lsmc_runtime::run_lock::RunLock;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// Spec files (`.lsm`); each is run on every grid point that applies to it.
    #[arg(required_unless_present = "status")]
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
    #[arg(long, required_unless_present = "status")]
    out: Option<PathBuf>,
    /// Where the runs train: here, `--jobs` at a time (`local`), or as one
    /// Slurm job array (`slurm`; the command returns once it is submitted).
    #[arg(long, value_enum, default_value = "local")]
    on: On,
    #[command(flatten)]
    slurm: SlurmArgs,
    /// Where each run of a Slurm sweep stands: finished, running, pending or
    /// failed (with Slurm's word and the end of the run's log).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["specs", "out"])]
    status: Option<PathBuf>,
    /// Print the runs the sweep would start, and start none.
    #[arg(long)]
    dry_run: bool,
    #[arg(long, value_enum, default_value = "auto")]
    color: Color,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum On {
    Local,
    Slurm,
}

/// What `sbatch` gets with `--on slurm` (`--threads` becomes
/// `--cpus-per-task`, `--jobs` the array's limit of tasks at once).
#[derive(clap::Args, Debug)]
struct SlurmArgs {
    #[command(flatten)]
    sbatch: slurm::Submit,
    /// Also submit `lsmc report DIR ARGS…` as a job that runs when every
    /// task of the array succeeded; its table goes to `DIR/report.txt`.
    /// ARGS are split at spaces (`--report "--by K --percent"`).
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    report: Option<String>,
}

/// `max_words`: the global `--max-words`, passed on to every run.
pub fn run(args: &SweepArgs, max_words: Option<usize>) -> ExitCode {
    if let Some(dir) = &args.status {
        return status(dir);
    }
    let Some(out) = args.out.clone() else {
        eprintln!("error: give the sweep directory with --out DIR");
        return ExitCode::from(EXIT_USAGE);
    };
    if args.on == On::Local && (args.slurm.report.is_some() || args.slurm.sbatch.any()) {
        eprintln!("error: --partition, --time, --mem, --gres, --account, --sbatch-arg and --report are for `--on slurm`");
        return ExitCode::from(EXIT_USAGE);
    }
    if args.threads == 0 || args.jobs == Some(0) {
        eprintln!("error: --threads and --jobs must be at least 1");
        return ExitCode::from(EXIT_USAGE);
    }
    if args.seeds == 0 {
        eprintln!("error: --seeds must be at least 1 (seeds 1..=N)");
        return ExitCode::from(EXIT_USAGE);
    }
    let seeds: Vec<u64> = if args.seed_list.is_empty() {
        (1..=args.seeds).collect()
    } else {
        args.seed_list.clone()
    };
    if let Some((i, s)) = seeds
        .iter()
        .enumerate()
        .find(|(i, s)| seeds[..*i].contains(s))
    {
        eprintln!(
            "error: --seed-list names seed {s} twice (positions {} and {}): two runs would write one directory",
            seeds.iter().position(|x| x == s).unwrap_or(0) + 1,
            i + 1
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let opts = Options {
        specs: args.specs.clone(),
        grid: args.grid.clone(),
        set: args.overrides.set.clone(),
        out: out.clone(),
        color: args.color.enabled(),
        data_root: crate::spec::data_root(),
    };
    let (planned, description) = match sweep::plan(&opts, &seeds) {
        Ok(p) => p,
        Err(PlanError::Usage(message)) => {
            eprintln!("{message}");
            return ExitCode::from(EXIT_USAGE);
        }
        Err(PlanError::Diagnostics(message)) => {
            eprintln!("{message}");
            return ExitCode::from(EXIT_DIAGNOSTICS);
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
        out.display()
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
                describe(p, &out),
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
    // One sweep at a time writes a sweep directory (its runs are locked
    // one by one by their own `lsmc train`).
    let _lock = match RunLock::acquire(&out) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("error: {e}; wait for that sweep to finish, or give another --out");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut inv = description;
    inv.argv = std::env::args().collect();
    if let Err(e) = sweep::write_description(&out, inv, &planned) {
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
    let child = sweep::Child {
        threads: args.threads,
        max_words,
    };
    if args.on == On::Slurm {
        return submit(args, &out, &exe, &todo, child);
    }
    let started = Instant::now();
    let failed = sweep::run_all(&exe, &todo, jobs, child, &out, &|n, p, _, line| {
        eprintln!("[{n}/{}] {}: {line}", todo.len(), describe(p, &out))
    });
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

/// `--on slurm`: submits the runs neither finished nor already pending or
/// running under an earlier submission, as one job array.
fn submit(
    args: &SweepArgs,
    out: &std::path::Path,
    exe: &std::path::Path,
    todo: &[&Planned],
    child: sweep::Child,
) -> ExitCode {
    let fail = |e: String| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_USAGE)
    };
    let subs = match slurm::submitted(out) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let live = match slurm::live(&subs) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let (busy, todo): (Vec<&Planned>, Vec<&Planned>) = todo
        .iter()
        .partition(|p| live.contains_key(&p.dir) || matches!(RunLock::holder(&p.dir), Ok(Some(_))));
    for p in &busy {
        let why = live
            .get(&p.dir)
            .map_or("its writer is training it".to_string(), |l| {
                format!("{} {}", l.task, l.state.to_lowercase())
            });
        eprintln!(
            "sweep: {} is already under way ({why}): not submitted again",
            describe(p, out)
        );
    }
    if todo.is_empty() {
        eprintln!(
            "sweep: nothing to submit; `lsmc sweep --status {}` shows where each run stands",
            out.display()
        );
        return ExitCode::SUCCESS;
    }
    let opts = slurm::Submit {
        at_once: args.jobs,
        ..args.slurm.sbatch.clone()
    };
    let report: Option<Vec<String>> = args
        .slurm
        .report
        .as_ref()
        .map(|r| r.split_whitespace().map(String::from).collect());
    match slurm::submit(out, exe, &todo, child, &opts, report.as_deref()) {
        Ok(s) => {
            eprintln!(
                "sweep: submitted {} runs as Slurm job array {}{}; `lsmc sweep --status {}` shows where each run stands",
                todo.len(),
                s.job,
                s.report_job.as_ref().map_or(String::new(), |r| format!(", and report job {r} after it (→ {}/report.txt)", out.display())),
                out.display()
            );
            crate::out(&format!("{}\n", s.job));
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `--status DIR`: one line per run of the sweep's Slurm submissions.
fn status(dir: &std::path::Path) -> ExitCode {
    let rows = match slurm::status(dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut counts = [0usize; 4];
    let mut text = String::new();
    for (run, standing) in &rows {
        let name = run.strip_prefix(dir).unwrap_or(run).display().to_string();
        let (i, word, detail) = match standing {
            Standing::Finished => (0, "finished", String::new()),
            Standing::Running(t) => (1, "running", t.clone()),
            Standing::Pending(t) => (2, "pending", t.clone()),
            Standing::Failed { slurm, log } => (3, "failed", format!("{slurm}; log: {log}")),
        };
        counts[i] += 1;
        text += &format!(
            "{word:<9} {name}{}\n",
            if detail.is_empty() {
                String::new()
            } else {
                format!("  {detail}")
            }
        );
    }
    crate::out(&text);
    eprintln!(
        "sweep: {} runs: {} finished, {} running, {} pending, {} failed",
        rows.len(),
        counts[0],
        counts[1],
        counts[2],
        counts[3]
    );
    if counts[3] > 0 {
        ExitCode::from(EXIT_DIAGNOSTICS)
    } else {
        ExitCode::SUCCESS
    }
}

#[derive(clap::Args, Debug)]
pub struct TaskArgs {
    /// The submission's plan (`DIR/slurm/plan-K.json`).
    plan: PathBuf,
    /// The task's index in the plan (`$SLURM_ARRAY_TASK_ID`).
    index: usize,
}

/// One task of a Slurm sweep: trains its run as a local sweep's child
/// would, and says how it went on standard output (Slurm's `--output`).
pub fn task(args: &TaskArgs) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find the lsmc executable to run: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match slurm::task(&exe, &args.plan, args.index) {
        Ok((ok, line)) => {
            println!("{line}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_DIAGNOSTICS)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
