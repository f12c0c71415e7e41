//! `lsmc inspect SPEC [--set …] [--latent NAME] [--seed N] [--batch N] [--json]`:
//! what a latent node (the first, or `--latent`'s) did in the first training step — its scores, forward value,
//! the surrogate's inner iterates (µ and ∇_µ L at each), the gradient it
//! returned and the decoder passes it made. Computed in f64, with the seed,
//! parameters, batch and random draws of `lsmc train`'s first step; nothing
//! is trained or written.

use crate::{Color, Overrides, EXIT_DIAGNOSTICS};
use ndarray::ArrayD;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// The spec file (`.lsm`).
    spec: PathBuf,
    #[command(flatten)]
    overrides: Overrides,
    /// Seed (default: the spec's `train { seed N }`, else 1, as `lsmc train`).
    #[arg(long)]
    seed: Option<u64>,
    /// The latent to trace (default: the first latent line's).
    #[arg(long)]
    latent: Option<String>,
    /// Examples in the batch (default: the spec's batch size).
    #[arg(long)]
    batch: Option<usize>,
    /// Print the whole trace as JSON (default: a short summary).
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

fn array(a: &ArrayD<f64>) -> Value {
    fn rec(a: ndarray::ArrayViewD<f64>) -> Value {
        if a.ndim() == 0 {
            return json!(a[[]]);
        }
        Value::Array(a.outer_iter().map(rec).collect())
    }
    rec(a.view())
}

fn norm(a: &ArrayD<f64>) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The latent `--latent` names, or the first; the error says which
/// latents there are.
fn chosen_latent<'m>(
    model: &'m lsmc_compiler::model::Model,
    name: Option<&str>,
) -> Result<&'m lsmc_compiler::model::LatentModel, String> {
    let names = || {
        model
            .latents
            .iter()
            .map(|l| format!("`{}`", l.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        None => model
            .latents
            .first()
            .ok_or_else(|| "has no latent to inspect".to_string()),
        Some(n) => model.latent(n).ok_or_else(|| match model.latents.len() {
            0 => "has no latent to inspect".to_string(),
            _ => format!("has no latent `{n}`; its latents are {}", names()),
        }),
    }
}

pub fn run(args: &InspectArgs, cx: &lsmc_runtime::Context) -> ExitCode {
    if args.batch == Some(0) {
        eprintln!("error: --batch must be at least 1");
        return ExitCode::from(crate::EXIT_USAGE);
    }
    let loaded = match crate::spec::load(&args.spec, &args.overrides.set, args.color) {
        Ok(l) => l,
        Err(code) => return ExitCode::from(code),
    };
    let model = &loaded.model;
    let latent = match chosen_latent(model, args.latent.as_deref()) {
        Ok(l) => l,
        Err(message) => {
            eprintln!("error: `{}` {message}", args.spec.display());
            return ExitCode::from(EXIT_DIAGNOSTICS);
        }
    };
    let seed = args.seed.or(model.train.seed).unwrap_or(1);
    let ins = match lsmc_runtime::train::inspect::<f64>(cx, &loaded.program, seed, args.batch) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_DIAGNOSTICS);
        }
    };
    let Some(trace) = ins.latents.into_iter().find(|t| t.name == latent.name) else {
        eprintln!(
            "error: the latent node `{}` received no gradient in this step",
            latent.name
        );
        return ExitCode::from(EXIT_DIAGNOSTICS);
    };
    let surrogate = latent.surrogate.as_ref();
    let arguments: serde_json::Map<String, Value> = surrogate
        .map(|c| c.args.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
        .unwrap_or_default();
    let forward = format!("{:?}", latent.forward).to_lowercase();
    // As the spec writes it.
    let structure = latent.structure.written(latent.k, latent.single_root);
    if args.json {
        let out = json!({
            "spec": args.spec.display().to_string(),
            "set": args.overrides.set,
            "seed": seed,
            "latent": latent.name,
            "structure": structure,
            "mapping": forward,
            "surrogate": surrogate.map(|c| c.name.clone()),
            "arguments": arguments,
            "batch": ins.batch,
            "loss": ins.loss,
            "lengths": trace.lengths,
            "scores": array(&trace.scores),
            "forward": array(&trace.forward),
            "iterates": trace.iterates.iter().map(|it| json!({"mu": array(&it.mu), "grad": array(&it.grad)})).collect::<Vec<_>>(),
            "surrogate_grad": array(&trace.surrogate_grad),
            "decoder_calls": trace.decoder_calls,
        });
        crate::out(&format!("{out}\n"));
    } else {
        let via = surrogate
            .map(|c| {
                let a: Vec<String> = c.args.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!(" via {}({})", c.name, a.join(", "))
            })
            .unwrap_or_default();
        let mut text = format!(
            "latent {} : {} = {forward}{via}\nfirst training step (seed {seed}): batch {}, loss {:.6}\n",
            latent.name, structure, ins.batch, ins.loss
        );
        text += &format!(
            "  scores {:?}, |s| = {:.6}; forward |z| = {:.6}\n",
            trace.scores.shape(),
            norm(&trace.scores),
            norm(&trace.forward)
        );
        for (k, it) in trace.iterates.iter().enumerate() {
            text += &format!(
                "  iterate {k}: |µ| = {:.6}, |∇µ L| = {:.6}\n",
                norm(&it.mu),
                norm(&it.grad)
            );
        }
        text += &format!(
            "  gradient into the scores: |g| = {:.6}; decoder calls: {}\n(--json prints every value)\n",
            norm(&trace.surrogate_grad),
            trace.decoder_calls
        );
        crate::out(&text);
    }
    ExitCode::SUCCESS
}
