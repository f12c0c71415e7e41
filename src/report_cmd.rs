//! `lsmc report DIR… [--select SPLIT.METRIC] [--at best|final] [--by PATH]…
//! [--pivot PATH] [--where PATH=VALUE]… [--split S] [--metrics A,B]
//! [--percent] [--summary median-se|mean-sd] [--format md|csv|json]
//! [--plot FILE.svg|FILE.png]`
//!
//! Groups finished runs into configurations (model + overrides other than
//! the seed), picks per row (model + `--by` settings) the configuration whose
//! median validation metric over seeds is best, and reports the median and
//! standard error over seeds of its test metrics, as the paper's Table 2
//! does (`--summary mean-sd`: mean and standard deviation, as its Table 3,
//! and the best mean picks). Each run contributes the evaluation at which its `--select` metric
//! peaked (early stopping; `--at final` takes the last one instead).

use crate::EXIT_USAGE;
use lsmc_experiment::report::{self, At, Format, Options, Summary};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Sweep or run directories (searched for run directories).
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// The validation metric that picks hyper-parameters (and each run's evaluation).
    #[arg(long, default_value = "valid.accuracy", value_name = "SPLIT.METRIC")]
    select: String,
    /// Which evaluation of each run counts: where `--select` peaked, or the last.
    #[arg(long, value_enum, default_value = "best")]
    at: At,
    /// Override paths that split rows instead of being tuned (`--by K`). Repeatable.
    #[arg(long, value_name = "PATH")]
    by: Vec<String>,
    /// One `--by`-like path whose values become column groups (`--pivot K`).
    #[arg(long, value_name = "PATH")]
    pivot: Option<String>,
    /// Only these models (`--model synthetic_spigot`). Repeatable.
    #[arg(long = "model", value_name = "NAME")]
    models: Vec<String>,
    /// Only runs with this override (`--where K=10`). Repeatable.
    #[arg(long = "where", value_name = "PATH=VALUE")]
    filters: Vec<String>,
    /// The split whose metrics are reported.
    #[arg(long, default_value = "test")]
    split: String,
    /// Metrics to report (default: all but the loss).
    #[arg(long, value_delimiter = ',')]
    metrics: Vec<String>,
    /// Report fractions (accuracy, V-measure, flat trees) ×100, as the
    /// paper does; the loss, tree depth and arc length stay as they are.
    #[arg(long)]
    percent: bool,
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
    /// How seeds are summarised (and hyper-parameters chosen): median ±
    /// standard error, as the paper's Table 2, or mean ± standard
    /// deviation, as its Table 3.
    #[arg(long, value_enum, default_value = "median-se")]
    summary: Summary,
    /// Draw learning curves (median and inter-quartile band over seeds of
    /// each row's chosen configuration): `.svg` or `.png`.
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// The split the curves show.
    #[arg(long, default_value = "test")]
    plot_split: String,
    /// Plot the `--split` metrics against this `--by` setting (`--summary`'s
    /// centre ± spread, one line per model) instead of learning curves.
    #[arg(long, value_name = "PATH", requires = "plot")]
    plot_x: Option<String>,
}

pub fn run(args: &ReportArgs) -> ExitCode {
    let opts = Options {
        dirs: args.dirs.clone(),
        select: args.select.clone(),
        at: args.at,
        by: args.by.clone(),
        pivot: args.pivot.clone(),
        models: args.models.clone(),
        filters: args.filters.clone(),
        split: args.split.clone(),
        metrics: args.metrics.clone(),
        percent: args.percent,
        format: args.format,
        summary: args.summary,
        plot: args.plot.clone(),
        plot_split: args.plot_split.clone(),
        plot_x: args.plot_x.clone(),
    };
    let r = match report::report(&opts) {
        Ok(r) => r,
        Err(m) => {
            eprintln!("error: {m}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(n) = &r.note {
        eprintln!("note: {n}");
    }
    crate::out(&r.text);
    match r.plot {
        Some(Ok(path)) => eprintln!("wrote {}", path.display()),
        Some(Err(m)) => {
            eprintln!("error: {m}");
            return ExitCode::from(EXIT_USAGE);
        }
        None => {}
    }
    // A table without some runs is printed, but not passed off as whole.
    if r.unreadable > 0 {
        eprintln!(
            "error: {} run(s) could not be read and are not in the table (see the warnings above)",
            r.unreadable
        );
        return ExitCode::from(crate::EXIT_DIAGNOSTICS);
    }
    ExitCode::SUCCESS
}
