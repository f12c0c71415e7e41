//! `lsmc sweep SPEC… [--grid PATH=V1,V2,…]… [--set PATH=VALUE]… [--seeds N |
//! --seed-list A,B,…] [--jobs N] [--threads N] --out DIR`
//!
//! Expands specs × grid × seeds into run directories
//! `DIR/<model>/<path=value,…>/seed-<n>` and trains them with `lsmc train`
//! child processes, `--jobs` at a time. Every combination is checked before
//! anything runs. Re-invoking skips finished runs and resumes killed ones
//! from their checkpoints; one failed run is reported and the others go on.

use crate::{Color, Overrides, EXIT_DIAGNOSTICS, EXIT_USAGE};
use lsmc_experiment::runs::{self, State};
use lsmc_experiment::sweep::{self, describe, Options, PlanError, Planned};
use lsmc_runtime::run_lock::RunLock;
use std::path::PathBuf;
use std::process::ExitCode;
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

/// `max_words`: the global `--max-words`, passed on to every run.
pub fn run(args: &SweepArgs, max_words: Option<usize>) -> ExitCode {
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
        out: args.out.clone(),
        color: args.color.enabled(),
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
    // One sweep at a time writes a sweep directory (its runs are locked
    // one by one by their own `lsmc train`).
    let _lock = match RunLock::acquire(&args.out) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("error: {e}; wait for that sweep to finish, or give another --out");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut inv = description;
    inv.argv = std::env::args().collect();
    if let Err(e) = sweep::write_description(&args.out, inv, &planned) {
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
    let started = Instant::now();
    let failed = sweep::run_all(
        &exe,
        &todo,
        jobs,
        sweep::Child {
            threads: args.threads,
            max_words,
        },
        &args.out,
        &|n, p, _, line| eprintln!("[{n}/{}] {}: {line}", todo.len(), describe(p, &args.out)),
    );
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
