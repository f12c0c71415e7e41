//! `lsmc eval RUN_DIR… [--split valid,test] [--at best|final] [--json]`:
//! reloads trained runs and evaluates them again — the spec's metrics, the
//! loss and, for tree latents, the shapes of the induced trees.

use crate::trained::{self, At};
use crate::{Color, EXIT_DIAGNOSTICS, EXIT_USAGE};
use lsmc_ir::plan::Split;
use lsmc_runtime::real::Real;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Run directories, as `lsmc train` or `lsmc sweep` left them.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Splits to evaluate, comma-separated: train, valid, test (default:
    /// those the spec evaluates on).
    #[arg(long, value_delimiter = ',')]
    split: Vec<String>,
    /// Which saved parameters: the best validation evaluation or the last.
    #[arg(long, value_enum, default_value = "best")]
    at: At,
    /// One JSON object per run instead of a table.
    #[arg(long)]
    json: bool,
    /// Threads for matrix products and tree workers (default: one for
    /// matrix products; every core for tree workers in a model with a tree
    /// latent, one otherwise).
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, value_enum, default_value = "auto")]
    color: Color,
}

pub fn run(args: &EvalArgs, cx: &lsmc_runtime::Context) -> ExitCode {
    if let Some(bad) = args
        .split
        .iter()
        .find(|s| !["train", "valid", "test"].contains(&s.as_str()))
    {
        eprintln!("error: --split `{bad}`: the splits are train, valid and test");
        return ExitCode::from(EXIT_USAGE);
    }
    let mut status = ExitCode::SUCCESS;
    for dir in &args.runs {
        let precision = lsmc_experiment::runs::read_info(dir).map(|i| i.precision);
        let result = match precision.as_deref() {
            Ok("f64") => eval::<f64>(cx, dir, args),
            _ => eval::<f32>(cx, dir, args),
        };
        match result {
            Ok(v) if args.json => println!("{v}"),
            Ok(v) => print_table(dir, &v),
            Err(code) => status = ExitCode::from(code),
        }
    }
    status
}

fn eval<T: Real>(cx: &lsmc_runtime::Context, dir: &Path, args: &EvalArgs) -> Result<Value, u8> {
    let t = trained::load::<T>(dir, args.at, args.color)?;
    let splits: Option<Vec<Split>> = if args.split.is_empty() {
        None
    } else {
        Some(
            args.split
                .iter()
                .map(|s| {
                    Split::parse(s).ok_or_else(|| {
                        eprintln!("error: --split `{s}`: the splits are train, valid and test");
                        EXIT_USAGE
                    })
                })
                .collect::<Result<_, _>>()?,
        )
    };
    let results =
        lsmc_experiment::eval::evaluate(cx, &t.loaded.program, &t.params, splits.as_deref())
            .map_err(|e| {
                eprintln!("error: {}: {e}", dir.display());
                EXIT_DIAGNOSTICS
            })?;
    Ok(json!({
        "run": dir.display().to_string(),
        "model": t.loaded.program.name,
        "seed": t.info.seed,
        "at": match args.at { At::Best => "best", At::Final => "final" },
        "step": t.step,
        "results": results,
    }))
}

fn print_table(dir: &Path, v: &Value) {
    println!(
        "{} ({}, seed {}, {} parameters: step {})",
        dir.display(),
        v["model"].as_str().unwrap_or(""),
        v["seed"],
        v["at"].as_str().unwrap_or(""),
        v["step"]
    );
    let results: lsmc_runtime::records::Evaluation =
        serde_json::from_value(v["results"].clone()).unwrap_or_default();
    print!("{}", lsmc_experiment::eval::table(&results));
}
