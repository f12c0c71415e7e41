//! `lsmc bench SPEC [--steps 100] [--repeats 5]`: seconds per `steps`
//! training steps (no evaluation, no files), as one JSON line — the same
//! form as the PyTorch baselines in `bench/`, so both run side by side.
//!
//! `lsmc bench --structure projective [--batch 32] [--n 10 20 40 80]`
//! (`--tags K` for `sequence`):
//! milliseconds per batched MAP, marginals, and marginals backward (the
//! exact VJP, timed with its forward, as autograd baselines time it) on
//! random f32 scores, one JSON line per op and length — the form of
//! `bench/torch_struct_trees.py`.

use crate::{Color, Overrides, EXIT_DIAGNOSTICS, EXIT_USAGE};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The spec file (`.lsm`); or use `--structure` to time structured inference.
    #[arg(required_unless_present = "structure", conflicts_with = "structure")]
    spec: Option<PathBuf>,
    /// Time a structure's MAP, marginals and marginals backward instead of a spec.
    #[arg(long, value_enum)]
    structure: Option<crate::infer_cmd::StructureArg>,
    /// Trees only: exactly one word attached to the root, or any number.
    #[arg(long, value_enum, default_value = "single")]
    root: crate::infer_cmd::RootArg,
    /// With `--structure`: also time SparseMAP with this active-set budget,
    /// forward and backward, both ways side by side: the backward over the
    /// forward's saved active sets (`sparsemap_backward`) and solving again
    /// (`sparsemap_backward_resolve`, what lsmc did before).
    #[arg(long, value_name = "MAX_ITER")]
    sparsemap: Option<usize>,
    /// Items per batch (`--structure`).
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Sentence lengths (or categories) to time (`--structure`).
    #[arg(long, num_args = 1.., default_values_t = [10, 20, 40, 80])]
    n: Vec<usize>,
    /// Tags of a structure over words with categories (`--structure
    /// sequence`): scores `[B, N, K, K]`.
    #[arg(long, default_value_t = 10, value_name = "K")]
    tags: usize,
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
    /// Threads for matrix products and tree workers (default: one for
    /// matrix products; every core for tree workers in a model with a tree
    /// latent, one otherwise).
    #[arg(long)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub device: crate::spec::DeviceArg,
    /// Seed (default: the spec's `train { seed N }`, else 1, as `lsmc train`).
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long, value_enum, default_value = "auto")]
    color: Color,
}

pub fn run(args: &BenchArgs, cx: &lsmc_runtime::Context) -> ExitCode {
    if args.repeats == 0 || args.steps == 0 {
        eprintln!("error: --steps and --repeats must be at least 1");
        return ExitCode::from(EXIT_USAGE);
    }
    let Some(spec) = &args.spec else {
        return structure_bench(args, cx);
    };
    if args.sparsemap.is_some() {
        eprintln!("error: --sparsemap times a structure: use it with --structure");
        return ExitCode::from(EXIT_USAGE);
    }
    let loaded = match crate::spec::load(spec, &args.overrides.set, args.color) {
        Ok(l) => l,
        Err(code) => return ExitCode::from(code),
    };
    let seed = args.seed.or(loaded.model.train.seed).unwrap_or(1);
    let sized = crate::spec::workers_for(&loaded.program, cx, args.threads);
    let cx = sized.as_ref().unwrap_or(cx);
    match lsmc_runtime::train::time_steps::<f32>(
        cx,
        &loaded.program,
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
                .unwrap_or_else(|| format!("auto ({} workers, 1 for products)", cx.threads()));
            println!(
                "{}",
                serde_json::json!({
                    "impl": "lsmc",
                    "spec": spec.display().to_string(),
                    "set": args.overrides.set,
                    "threads": threads,
                    "device": args.device.device,
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

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

/// Times `f` `repeats` times after `warmup` untimed runs; milliseconds.
fn time_ms(warmup: u64, repeats: usize, mut f: impl FnMut()) -> Vec<f64> {
    for _ in 0..warmup {
        f();
    }
    (0..repeats)
        .map(|_| {
            let t = std::time::Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

/// Bytes per score entry the timed ops hold at once: the f32 scores and
/// direction, the f32 outputs and the engines' f64 working copies.
const BYTES_PER_ENTRY: u64 = 48;

/// Refuses sizes before their scores are drawn: a text past `--max-words`
/// under a tree, or scores no memory holds (they used to abort on
/// allocation).
fn fits(
    cx: &lsmc_runtime::Context,
    layout: lsmc_ir::structures::Layout,
    shape: &[usize],
) -> Result<(), String> {
    use lsmc_runtime::{memory, text_limit};
    if let Some((_, words)) = text_limit::first_too_long(layout, shape, None, cx.max_words()) {
        return Err(text_limit::too_long(
            "each item",
            words,
            "for a tree",
            cx.max_words(),
        ));
    }
    let bytes = shape
        .iter()
        .try_fold(BYTES_PER_ENTRY, |a, &d| a.checked_mul(d as u64))
        .unwrap_or(u64::MAX);
    match memory::available() {
        Some(free) if bytes > free => Err(format!(
            "scores of shape {shape:?} need about {} to time, but the machine has {} available",
            memory::human(bytes),
            memory::human(free)
        )),
        _ => Ok(()),
    }
}

fn structure_bench(args: &BenchArgs, cx: &lsmc_runtime::Context) -> ExitCode {
    use lsmc_runtime::latent::structure::{Saved, Structure};
    use rand::SeedableRng;
    let kind = args.structure.expect("clap requires a spec or --structure");
    if args.batch == 0 || args.n.contains(&0) || args.sparsemap == Some(0) || args.tags == 0 {
        eprintln!("error: --batch, every --n, --tags and --sparsemap must be at least 1");
        return ExitCode::from(EXIT_USAGE);
    }
    let structure = Structure::new(kind.0, args.root == crate::infer_cmd::RootArg::Single);
    let threads = args
        .threads
        .map(|t| t.to_string())
        .unwrap_or_else(|| "all".into());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed.unwrap_or(1));
    for &n in &args.n {
        let layout = kind.0.scores;
        let shape = if layout.sized() && layout.over_words() {
            layout.shape_of(args.batch, n, args.tags)
        } else {
            layout.shape(args.batch, n)
        };
        if let Err(e) = fits(cx, layout, &shape) {
            eprintln!("error: n = {n}: {e}");
            return ExitCode::from(EXIT_DIAGNOSTICS);
        }
        let normal = rand_distr::StandardNormal;
        let s: ndarray::ArrayD<f32> =
            ndarray::ArrayD::from_shape_simple_fn(ndarray::IxDyn(&shape), || {
                rand::Rng::sample(&mut rng, normal)
            });
        let g: ndarray::ArrayD<f32> =
            ndarray::ArrayD::from_shape_simple_fn(ndarray::IxDyn(&shape), || {
                rand::Rng::sample(&mut rng, normal)
            });
        let warmup = args.warmup.min(3);
        let mut failed = None;
        let mut runs: Vec<(&str, Vec<f64>)> = Vec::new();
        runs.push((
            "map",
            time_ms(warmup, args.repeats, || {
                if let Err(e) = structure.map(cx, &s, None) {
                    failed = Some(e);
                }
            }),
        ));
        runs.push((
            "marginals",
            time_ms(warmup, args.repeats, || {
                if let Err(e) = structure.marginals(cx, &s, None) {
                    failed = Some(e);
                }
            }),
        ));
        runs.push((
            "backward",
            time_ms(warmup, args.repeats, || {
                // As training runs it: the forward keeps what its
                // backward reuses (like autograd's saved tensors).
                let r = structure
                    .marginals_saved(cx, &s, None)
                    .and_then(|(mu, state)| {
                        let at = Saved {
                            value: &mu,
                            state: state.as_ref(),
                        };
                        structure.marginals_vjp_at(cx, &s, None, &g, at)
                    });
                if let Err(e) = r {
                    failed = Some(e);
                }
            }),
        ));
        if let Some(max_iter) = args.sparsemap {
            runs.push((
                "sparsemap_backward",
                time_ms(warmup, args.repeats, || {
                    let r = structure
                        .sparsemap_saved(cx, &s, None, max_iter, None)
                        .and_then(|(z, state)| {
                            let at = Saved {
                                value: &z,
                                state: state.as_ref(),
                            };
                            structure.sparsemap_vjp_at(cx, &s, None, &g, max_iter, at)
                        });
                    if let Err(e) = r {
                        failed = Some(e);
                    }
                }),
            ));
            runs.push((
                "sparsemap_backward_resolve",
                time_ms(warmup, args.repeats, || {
                    let r = structure
                        .sparsemap_within(cx, &s, None, max_iter, None)
                        .and_then(|_| structure.sparsemap_vjp_within(cx, &s, None, &g, max_iter));
                    if let Err(e) = r {
                        failed = Some(e);
                    }
                }),
            ));
        }
        if let Some(e) = failed {
            eprintln!("error: n = {n}: {e}");
            return ExitCode::from(EXIT_DIAGNOSTICS);
        }
        for (op, all) in runs {
            let mut line = serde_json::json!({
                "impl": "lsmc",
                "version": env!("CARGO_PKG_VERSION"),
                "structure": kind.0.name,
                "root": format!("{:?}", args.root).to_lowercase(),
                "op": op,
                "batch": args.batch,
                "n": n,
                "threads": threads,
                "device": args.device.device,
                "median_ms": median(all.clone()),
                "all_ms": all,
            });
            if layout.sized() && layout.over_words() {
                line["tags"] = args.tags.into();
            }
            crate::out(&format!("{line}\n"));
        }
    }
    ExitCode::SUCCESS
}
