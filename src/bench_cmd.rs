//! `lsmc bench SPEC [--steps 100] [--repeats 5]`: seconds per `steps`
//! training steps (no evaluation, no files), as one JSON line — the same
//! form as the PyTorch baselines in `bench/`, so both run side by side.

use crate::{Color, Overrides, EXIT_DIAGNOSTICS, EXIT_USAGE};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The spec file (`.lsm`).
    spec: PathBuf,
    #[command(flatten)]
    overrides: Overrides,
    /// Training steps per timed run.
    #[arg(long, default_value_t = 100)]
    steps: u64,
    /// Timed runs; the median is reported.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 20)]
    warmup: u64,
    /// Threads for matrix products (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Seed (default: the spec's `train { seed N }`, else 1, as `lsmc train`).
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long, value_enum, default_value = "auto")]
    color: Color,
}

pub fn run(args: &BenchArgs) -> ExitCode {
    if args.repeats == 0 || args.steps == 0 {
        eprintln!("error: --steps and --repeats must be at least 1");
        return ExitCode::from(EXIT_USAGE);
    }
    let loaded = match crate::spec::load_with_threads(
        &args.spec,
        &args.overrides.set,
        args.color,
        args.threads,
    ) {
        Ok(l) => l,
        Err(code) => return ExitCode::from(code),
    };
    let seed = args.seed.or(loaded.model.train.seed).unwrap_or(1);
    match lsmc_runtime::train::time_steps::<f32>(
        &loaded.graph,
        &loaded.model,
        seed,
        args.steps,
        args.repeats,
        args.warmup,
    ) {
        Ok(mut times) => {
            let all = times.clone();
            times.sort_by(|a, b| a.total_cmp(b));
            let median = times[times.len() / 2];
            let threads = args
                .threads
                .map(|t| t.to_string())
                .unwrap_or_else(|| "all".into());
            println!(
                "{}",
                serde_json::json!({
                    "impl": "lsmc",
                    "spec": args.spec.display().to_string(),
                    "set": args.overrides.set,
                    "threads": threads,
                    "steps": args.steps,
                    "median_seconds": median,
                    "all": all,
                })
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_DIAGNOSTICS)
        }
    }
}
