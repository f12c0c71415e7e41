//! `lsmc predict RUN_DIR [--input FILE | -] [--split S] [--limit N]
//! [--format text|conllu|json|svg] [--out FILE]` (`… | lsmc predict RUN`
//! reads standard input): classifies sentences or
//! sentence pairs with a trained run and shows the tree of each latent and
//! each attention matrix (`lsmc_experiment::predict`).

use crate::trained::{self, At};
use crate::{Color, EXIT_DIAGNOSTICS, EXIT_USAGE};
use lsmc_experiment::predict::{self, render, Format, InputError, Source};
use lsmc_runtime::real::Real;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct PredictArgs {
    /// A run directory, as `lsmc train` or `lsmc sweep` left it.
    run: PathBuf,
    /// Examples to classify (`-`: standard input): for an SST model one
    /// sentence a line; for table data (SNLI, SICK, …) records in the
    /// data's own format and fields, the label optional. Without it or
    /// --split, examples piped in are read from standard input.
    #[arg(long, conflicts_with = "split")]
    input: Option<PathBuf>,
    /// Classify a split of the run's own data instead: train, valid or test.
    #[arg(long)]
    split: Option<String>,
    /// At most this many examples.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Write here instead of standard output (required for SVG on a terminal).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Which saved parameters: the best validation evaluation or the last.
    #[arg(long, value_enum, default_value = "best")]
    at: At,
    /// Threads for matrix products and tree workers (default: one for
    /// matrix products; every core for tree workers in a model with a tree
    /// latent, one otherwise).
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, value_enum, default_value = "auto")]
    color: Color,
}

pub fn run(args: &PredictArgs, cx: &lsmc_runtime::Context) -> ExitCode {
    if args.format == Format::Svg && args.out.is_none() && std::io::stdout().is_terminal() {
        eprintln!("error: SVG goes to a file: add --out FILE.svg");
        return ExitCode::from(EXIT_USAGE);
    }
    let precision = lsmc_experiment::runs::read_info(&args.run).map(|i| i.precision);
    let result = match precision.as_deref() {
        Ok("f64") => predict::<f64>(cx, args),
        _ => predict::<f32>(cx, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => ExitCode::from(code),
    }
}

fn predict<T: Real>(cx: &lsmc_runtime::Context, args: &PredictArgs) -> Result<(), u8> {
    let t = trained::load::<T>(&args.run, args.at, args.color)?;
    let graph = &t.loaded.program.graph;
    let source = Source::of(&t.loaded.program.data).map_err(|e| {
        eprintln!("error: {}: {e}", args.run.display());
        EXIT_USAGE
    })?;
    let fail = |e: String| {
        eprintln!("error: {e}");
        EXIT_DIAGNOSTICS
    };
    let input_error = |e: InputError| {
        eprintln!("error: {e}");
        match e {
            InputError::Unreadable(_) => EXIT_USAGE,
            InputError::Malformed(_) => EXIT_DIAGNOSTICS,
        }
    };
    // Neither --input nor --split: examples piped in, as with `--input -`;
    // on a terminal, or with nothing piped, say how to give them.
    let piped = args.input.is_none() && args.split.is_none() && !std::io::stdin().is_terminal();
    let mut items = match (&args.input, &args.split) {
        (Some(p), _) => source.read_input(p).map_err(input_error)?,
        (None, Some(s)) => source.split_items(s).map_err(fail)?,
        (None, None) if piped => {
            let text = predict::read_stdin().map_err(input_error)?;
            if text.trim().is_empty() {
                eprintln!("error: standard input is empty: pipe examples in, or give --input FILE or --split test");
                return Err(EXIT_USAGE);
            }
            source.read_stdin_text(&text).map_err(input_error)?
        }
        (None, None) => {
            eprintln!(
                "error: give examples with --input FILE (or - for standard input), or --split test"
            );
            return Err(EXIT_USAGE);
        }
    };
    if let Some(n) = args.limit {
        items.truncate(n);
    }
    let origin = match (&args.input, &args.split) {
        (Some(p), _) if p.as_os_str() == "-" => "standard input".to_string(),
        (None, None) => "standard input".to_string(),
        (Some(p), _) => p.display().to_string(),
        (None, s) => format!("the {} split", s.as_deref().unwrap_or("test")),
    };
    let predictions =
        predict::predict(cx, &source, graph, &t.params, items, &origin).map_err(fail)?;
    let text = render(args.format, &predictions, &source.class_names());
    match &args.out {
        Some(path) => std::fs::write(path, text).map_err(|e| {
            eprintln!(
                "error: cannot write {}: {}",
                path.display(),
                crate::io_reason(&e)
            );
            EXIT_USAGE
        })?,
        None => print!("{text}"),
    }
    Ok(())
}
