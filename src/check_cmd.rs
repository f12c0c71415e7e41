//! `lsmc check SPEC… [--set PATH=VALUE]… [--format human|json]`

use crate::{Color, Overrides, EXIT_DIAGNOSTICS, EXIT_USAGE};
use clap::ValueEnum;
use lsmc_compiler::diag;
use lsmc_ir::data::DataSource;
use lsmc_ir::types::TEXT_LENGTHS;
use lsmc_runtime::latent::registry::catalog;
use lsmc_runtime::memory;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Spec files (`.lsm`).
    #[arg(required = true, value_name = "SPEC")]
    specs: Vec<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
    /// `human` renders diagnostics with source snippets; `json` prints one
    /// JSON object with every diagnostic (file, line, column, code, …).
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    /// Colour diagnostics.
    #[arg(long, value_enum, default_value = "auto")]
    color: Color,
    /// Print only diagnostics, not the summary of clean specs.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Human,
    Json,
}

pub fn run(args: &CheckArgs) -> ExitCode {
    let color = args.color.enabled();
    let mut status = 0u8;
    let mut files = Vec::new();
    let mut json_diags = Vec::new();
    let (mut clean, mut failed) = (0, 0);
    let root = crate::spec::data_root();
    for path in &args.specs {
        let name = path.display().to_string();
        let report = match lsmc_compiler::check_path_with(
            path,
            &name,
            &args.overrides.set,
            catalog(),
            root.as_ref(),
        ) {
            Ok(r) => r,
            Err(e) => {
                let reason = match e.kind() {
                    std::io::ErrorKind::NotFound => "no such file".to_string(),
                    std::io::ErrorKind::InvalidData => "not UTF-8 text".to_string(),
                    _ => e.to_string(),
                };
                eprintln!("error: cannot read `{name}`: {reason}");
                if let Some(help) = crate::spec::set_help(path) {
                    eprintln!("{help}");
                }
                status = EXIT_USAGE;
                files.push(serde_json::json!({ "file": name, "ok": false, "error": reason }));
                continue;
            }
        };
        let errors = report.has_errors();
        if errors {
            failed += 1;
            status = status.max(EXIT_DIAGNOSTICS);
        } else {
            clean += 1;
        }
        match args.format {
            Format::Human => {
                for d in &report.diagnostics {
                    eprint!("{}", diag::render(d, &report.sources, color));
                    eprintln!();
                }
                if let (Some(s), false) = (&report.summary, args.quiet) {
                    let memory = memory_line(&report).unwrap_or_default();
                    crate::out(&format!("{name}: ok\n{s}{memory}\n"));
                }
            }
            Format::Json => {
                json_diags.extend(
                    report
                        .diagnostics
                        .iter()
                        .map(|d| diag::to_json(d, &report.sources)),
                );
                files.push(serde_json::json!({
                    "file": name,
                    "ok": !errors,
                    "summary": report.summary,
                    "memory": estimate(&report).map(|(e, at)| serde_json::json!({
                        "bytes": e.total(),
                        "parameters": e.params,
                        "optimizer": e.optimizer,
                        "activations": e.activations,
                        "data": e.data,
                        "at": at,
                    })),
                }));
            }
        }
    }
    match args.format {
        Format::Json => {
            let out = serde_json::json!({ "files": files, "diagnostics": json_diags });
            crate::out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&out).unwrap_or_default()
            ));
        }
        Format::Human if args.specs.len() > 1 || failed > 0 => {
            if failed > 0 {
                eprintln!("{failed} of {} specs have errors", clean + failed);
            } else if !args.quiet {
                crate::out(&format!("{clean} specs checked: all clean\n"));
            }
        }
        Format::Human => {}
    }
    ExitCode::from(status)
}

/// Words per text that `check` estimates activations at, the data's own
/// lengths being unknown until it is read (training measures them).
const CHECK_WORDS: usize = 50;

/// The memory a clean spec will need in training (f32), at its batch size
/// and, for texts, [`CHECK_WORDS`] words each.
fn estimate(report: &lsmc_compiler::Report) -> Option<(memory::Estimate, String)> {
    let program = lsmc_compiler::lower::lower(report.model.as_ref()?).ok()?;
    let (batch, texts) = match &program.data {
        DataSource::SyntheticMixture(m) => (program.train.batch.unwrap_or(m.train as u64), 0),
        DataSource::Sst(_) => (program.train.batch.unwrap_or(256), 1),
        DataSource::HmmSequences(h) => (program.train.batch.unwrap_or(h.train as u64), 1),
        DataSource::Table(t) => (program.train.batch.unwrap_or(256), t.texts.len()),
    };
    let lengths: Vec<(&str, usize)> = TEXT_LENGTHS
        .iter()
        .take(texts)
        .map(|s| (*s, CHECK_WORDS))
        .collect();
    let estimate = memory::Estimate {
        activations: memory::activations(&program.graph, batch, &lengths, 4),
        ..memory::Estimate::before_data(&program, 4)
    };
    let words = if texts == 0 {
        String::new()
    } else {
        format!(", {CHECK_WORDS} words a text")
    };
    Some((estimate, format!("batch {batch}{words}")))
}

fn memory_line(report: &lsmc_compiler::Report) -> Option<String> {
    let (e, at) = estimate(report)?;
    Some(format!("  memory   {e} in training at {at}\n"))
}
