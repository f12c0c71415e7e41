//! The training loop and its run directory.
//!
//! `DIR/spec.lsm` (the resolved spec), `DIR/metrics.jsonl` (one object per
//! evaluation and split), `DIR/checkpoint.bin` (after every evaluation) and
//! `DIR/summary.json` (at the end): the types of [`crate::records`]. A run is deterministic for a seed and a
//! thread count; `resume` continues from the checkpoint and ends
//! bit-identical to an uninterrupted run.

use crate::checkpoint::{self, Checkpoint, Header};
use crate::context::Context;
use crate::data::{self, Dataset};
use crate::exec::{ExecError, Executor};
use crate::latent::structure::Statistics;
use crate::memory;
use crate::metrics;
use crate::optim::Optimizer;
use crate::real::Real;
use crate::records::{self, Evaluated, MetricsLine, Summary};
use crate::text_limit;
use lsmc_ir::graph::{Graph, Init, NodeId};
use lsmc_ir::plan::{Split, TrainPlan, Unit};
use lsmc_ir::Program;
use ndarray::ArrayD;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct Options {
    pub out: PathBuf,
    pub seed: u64,
    pub resume: bool,
    /// The resolved spec, written to `DIR/spec.lsm`.
    pub spec_text: String,
    /// Identifies spec, overrides and seed; a checkpoint from another run is refused.
    pub fingerprint: String,
    /// Set (by a Ctrl-C handler) to stop after the step under way, with a
    /// checkpoint at it: [`TrainError::Interrupted`].
    pub interrupt: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Progress reports for a front end (a progress bar, a log).
pub trait Observer {
    fn start(&mut self, total_steps: u64, first_step: u64);
    fn step(&mut self, step: u64, epoch: u64, loss: f64);
    fn evaluated(&mut self, step: u64, results: &BTreeMap<String, BTreeMap<String, f64>>);
    fn finish(&mut self);
}

#[derive(Debug)]
pub enum TrainError {
    /// A NaN or infinity appeared (in training step `step`, or in the
    /// evaluation after it); the last good checkpoint is kept.
    NonFinite {
        step: u64,
        node: NodeId,
        in_gradient: bool,
        evaluating: bool,
        checkpoint: Option<u64>,
    },
    Exec(String),
    Data(String),
    Io(String),
    Checkpoint(String),
    /// The run would need more memory than the machine has.
    Memory(String),
    /// Stopped on request after `step`, with a checkpoint there.
    Interrupted {
        step: u64,
    },
}

impl std::fmt::Display for TrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrainError::NonFinite { step, node, .. } => {
                write!(f, "non-finite value at node %{node} in step {step}")
            }
            TrainError::Interrupted { step } => {
                write!(f, "interrupted after step {step}; the checkpoint is at it")
            }
            TrainError::Exec(m)
            | TrainError::Data(m)
            | TrainError::Io(m)
            | TrainError::Checkpoint(m)
            | TrainError::Memory(m) => f.write_str(m),
        }
    }
}

/// An executor's refusal or failure outside a training step.
fn exec_error(e: ExecError) -> TrainError {
    TrainError::Exec(e.to_string())
}

fn io(e: std::io::Error, what: &str) -> TrainError {
    TrainError::Io(format!("{what}: {e}"))
}

/// Parameter values as the graph's `Init`s say, from the run's seed. A
/// parameter copied from data the data does not provide, or provides in
/// another shape, is an error naming both.
pub fn init_params<T: Real>(
    graph: &Graph,
    data: &Dataset<T>,
    seed: u64,
) -> Result<Vec<ArrayD<T>>, TrainError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    graph
        .params
        .iter()
        .map(|p| match &p.init {
            Init::Uniform(a) => Ok(ArrayD::from_shape_simple_fn(
                ndarray::IxDyn(&p.shape),
                || T::of(rng.random_range(-a..*a)),
            )),
            Init::Zeros => Ok(ArrayD::zeros(ndarray::IxDyn(&p.shape))),
            Init::FromInput(name) => {
                let a = data
                    .train
                    .inputs
                    .get(name)
                    .or_else(|| data.train.shared.get(name))
                    .ok_or_else(|| {
                        TrainError::Data(format!(
                            "parameter `{}` starts as a copy of `{name}`, which the data does not provide",
                            p.name
                        ))
                    })?;
                // The table's size is known only once the data is read.
                if !p.shape.is_empty() && p.shape.iter().all(|&d| d > 0) && a.shape() != p.shape.as_slice() {
                    return Err(TrainError::Data(format!(
                        "parameter `{}` has shape {:?}, but `{name}` has shape {:?}",
                        p.name,
                        p.shape,
                        a.shape()
                    )));
                }
                Ok((**a).clone())
            }
        })
        .collect()
}

struct Plan {
    batch: usize,
    total_steps: u64,
    /// Steps between evaluations.
    every: u64,
    /// Steps between `log every` lines.
    log_every: Option<u64>,
}

fn plan(t: &TrainPlan, train_len: usize) -> Plan {
    let batch = t
        .batch
        .map(|b| b as usize)
        .unwrap_or(train_len)
        .clamp(1, train_len.max(1));
    let batches_per_epoch = train_len.div_ceil(batch).max(1) as u64;
    let total_steps = match (t.steps, t.epochs) {
        (Some(s), _) => s,
        (None, Some(e)) => e * batches_per_epoch,
        (None, None) => batches_per_epoch,
    };
    let in_steps = |(n, unit): (u64, Unit)| -> u64 {
        match unit {
            Unit::Steps => n,
            Unit::Epochs => n * batches_per_epoch,
        }
        .max(1)
    };
    Plan {
        batch,
        total_steps,
        every: t.evaluate_every.map_or(total_steps.max(1), in_steps),
        log_every: t.log_every.map(in_steps),
    }
}

/// Evaluates every split the plan names, in evaluation mode.
pub fn evaluate<T: Real>(
    exec: &Executor,
    plan: &TrainPlan,
    params: &[ArrayD<T>],
    data: &Dataset<T>,
) -> Result<BTreeMap<String, BTreeMap<String, f64>>, ExecError> {
    evaluate_splits(exec, plan, params, data, &plan.evaluate_on)
}

/// Evaluates the named splits (`train`, `valid`, `test`) in evaluation
/// mode: the loss, the spec's metrics and the statistics each latent's
/// structure reports about the structures it induced (for trees
/// `tree_depth`, `flat_trees`, `arc_length`; named by
/// [`statistic_key`]).
pub fn evaluate_splits<T: Real>(
    exec: &Executor,
    plan: &TrainPlan,
    params: &[ArrayD<T>],
    data: &Dataset<T>,
    splits: &[Split],
) -> Result<BTreeMap<String, BTreeMap<String, f64>>, ExecError> {
    let graph = exec.graph;
    let mut out = BTreeMap::new();
    for &split in splits {
        let part = data.split(split);
        // Per metric, what it has seen so far (V-measure and path match
        // need every prediction at once).
        let mut loss = (0.0, 0usize);
        let mut tallies: Vec<metrics::Tally> = plan
            .metrics
            .iter()
            .map(|m| metrics::Tally::new(m.kind))
            .collect();
        // Per latent with statistics, in the order they are met.
        let mut induced: Vec<(String, Box<dyn Statistics>)> = Vec::new();
        let batches = part.evaluation_batches();
        let single = batches.len() == 1;
        for idx in batches {
            let batch = if single { part.all() } else { part.batch(&idx) };
            // Evaluation draws no random numbers; a fixed generator keeps the
            // training generator untouched, so evaluating never changes a run.
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            let pass = exec.forward(params, &batch, false, &mut rng)?;
            let l = exec.loss(&pass);
            loss = if single {
                (l, 1)
            } else {
                (loss.0 + l * batch.size as f64, loss.1 + batch.size)
            };
            let value = |name: &str| -> &ArrayD<T> {
                match graph.value(name) {
                    Some(id) => pass.value(id),
                    None => &batch.inputs[name],
                }
            };
            for found in exec.induced(&pass).map_err(ExecError::Unsupported)? {
                add_induced(&mut induced, found);
            }
            for (tally, metric) in tallies.iter_mut().zip(&plan.metrics) {
                let lengths = match &metric.lengths {
                    Some(name) => Some(batch_lengths(&batch, name)?),
                    None => None,
                };
                tally
                    .add(value(&metric.pred), value(&metric.gold), lengths.as_deref())
                    .map_err(|e| ExecError::Unsupported(format!("{}: {e}", metric.text)))?;
            }
        }
        let mut m = BTreeMap::new();
        m.insert("loss".to_string(), loss.0 / loss.1.max(1) as f64);
        for (tally, key) in tallies.iter().zip(plan.metric_keys()) {
            m.insert(key, tally.value());
        }
        for (latent, stats) in &induced {
            for (name, v) in stats.report() {
                m.insert(statistic_key(graph, latent, name), v);
            }
        }
        out.insert(split.name().to_string(), m);
    }
    Ok(out)
}

/// The true lengths a per-word metric reads from a batch's input `name`.
fn batch_lengths<T: Real>(
    batch: &crate::exec::Batch<T>,
    name: &str,
) -> Result<Vec<usize>, ExecError> {
    let lengths = batch.inputs.get(name).ok_or_else(|| {
        ExecError::Unsupported(format!(
            "a metric over words needs the input `{name}`, which the data does not provide"
        ))
    })?;
    Ok(lengths.iter().map(|v| v.f64() as usize).collect())
}

/// Adds one batch's induced structures to their latent's statistics.
fn add_induced(induced: &mut Vec<(String, Box<dyn Statistics>)>, found: crate::exec::Induced) {
    let at = match induced.iter().position(|(n, _)| *n == found.latent) {
        Some(k) => k,
        None => match found.structure.statistics() {
            Some(stats) => {
                induced.push((found.latent.clone(), stats));
                induced.len() - 1
            }
            None => return,
        },
    };
    found.items.iter().for_each(|item| induced[at].1.add(item));
}

/// The metric key of a latent's structure statistic: the statistic's own
/// name (`tree_depth`) in a one-latent model, after the latent's name
/// (`zp.tree_depth`) when there are several.
pub fn statistic_key(graph: &lsmc_ir::graph::Graph, latent: &str, name: &str) -> String {
    if graph.latents.len() > 1 {
        format!("{latent}.{name}")
    } else {
        name.to_string()
    }
}

/// The number the best evaluation is chosen by: the first metric on the
/// validation split (higher is better), or its loss (lower is better).
fn score(plan: &TrainPlan, results: &BTreeMap<String, BTreeMap<String, f64>>) -> Option<f64> {
    let valid = results.get("valid")?;
    match plan.metric_keys().first() {
        Some(key) => valid.get(key).copied(),
        None => valid.get("loss").map(|l| -l),
    }
}

fn evaluated(
    step: u64,
    epoch: u64,
    results: &BTreeMap<String, BTreeMap<String, f64>>,
) -> Evaluated {
    Evaluated {
        step,
        epoch,
        splits: results.clone(),
    }
}

/// Where training is in the data.
#[derive(Clone)]
struct Cursor {
    epoch: u64,
    /// Position in this epoch's example order.
    position: usize,
    order: Vec<u32>,
}

impl Cursor {
    fn start(examples: usize) -> Cursor {
        Cursor {
            epoch: 0,
            position: 0,
            order: (0..examples as u32).collect(),
        }
    }
}

/// The cursor's next training batch (the whole split when the batch covers
/// it), shuffling the order at the start of each epoch.
fn next_batch<T: Real>(
    data: &Dataset<T>,
    batch_size: usize,
    rng: &mut ChaCha8Rng,
    cur: &mut Cursor,
) -> crate::exec::Batch<T> {
    let full_batch = batch_size >= data.train.len;
    if cur.position == 0 && !full_batch {
        cur.order.shuffle(rng);
        data.train.bucket(&mut cur.order, batch_size);
    }
    if full_batch {
        data.train.all()
    } else {
        let end = (cur.position + batch_size).min(cur.order.len());
        let idx: Vec<usize> = cur.order[cur.position..end]
            .iter()
            .map(|&i| i as usize)
            .collect();
        data.train.batch(&idx)
    }
}

/// What the latent nodes did in one training step, for `lsmc inspect`.
pub struct Inspection<T> {
    /// Examples in the batch.
    pub batch: usize,
    /// The batch loss before the step.
    pub loss: f64,
    /// Per latent that received a gradient, in the graph's latent order.
    pub latents: Vec<crate::exec::LatentTrace<T>>,
    /// Decoder passes the surrogates made (the free `grad(z)` excluded).
    pub decoder_calls: usize,
}

/// The first training step of a run — the same seed, parameters, batch and
/// random draws as `lsmc train` — traced at the latent nodes. `batch`
/// overrides the spec's batch size. Nothing is updated or written.
pub fn inspect<T: Real>(
    cx: &Context,
    program: &Program,
    seed: u64,
    batch: Option<usize>,
) -> Result<Inspection<T>, TrainError> {
    let graph = &program.graph;
    let exec = Executor::new(graph, cx).map_err(exec_error)?;
    let data: Dataset<T> = data::load(&program.data).map_err(TrainError::Data)?;
    let size = batch.unwrap_or_else(|| plan(&program.train, data.train.len).batch);
    let params = init_params(graph, &data, seed)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(1);
    let mut cursor = Cursor::start(data.train.len);
    let b = next_batch(&data, size, &mut rng, &mut cursor);
    let pass = exec
        .forward(&params, &b, true, &mut rng)
        .map_err(exec_error)?;
    let loss = exec.loss(&pass);
    let mut state = BTreeMap::new();
    let (_, info) = exec
        .backward(&pass, &params, &b, &mut rng, &mut state, true)
        .map_err(exec_error)?;
    Ok(Inspection {
        batch: b.size,
        loss,
        latents: info.latents,
        decoder_calls: info.decoder_calls,
    })
}

/// What one training step reports.
struct Taken {
    /// The batch loss before the update.
    loss: f64,
    /// The learning rate of the update (the schedule's).
    lr: f64,
    /// The gradient's global norm, before any clipping.
    grad_norm: f64,
}

/// One optimisation step on the next batch (the whole split when the batch
/// covers it), at the rate `tp`'s schedule gives this update in a run of
/// `total_steps`, the gradient clipped as `tp` says.
#[allow(clippy::too_many_arguments)]
fn take_step<T: Real>(
    exec: &Executor,
    data: &Dataset<T>,
    batch_size: usize,
    params: &mut [ArrayD<T>],
    opt: &mut Optimizer<T>,
    rng: &mut ChaCha8Rng,
    state: &mut crate::latent::surrogate::State,
    cur: &mut Cursor,
    tp: &TrainPlan,
    total_steps: u64,
) -> Result<Taken, ExecError> {
    let factor = crate::schedule::factor(&tp.schedule, opt.t, total_steps);
    let full_batch = batch_size >= data.train.len;
    let batch = next_batch(data, batch_size, rng, cur);
    let pass = exec.forward(params, &batch, true, rng)?;
    let loss = exec.loss(&pass);
    let (mut grads, _) = exec.backward(&pass, params, &batch, rng, state, false)?;
    drop(pass);
    let grad_norm = match tp.clip_norm {
        Some(max) => crate::optim::clip_global_norm(&mut grads, max),
        None => crate::optim::global_norm(&grads),
    };
    opt.step(params, &grads, factor);
    cur.position = if full_batch {
        0
    } else {
        cur.position + batch_size
    };
    if full_batch || cur.position >= cur.order.len() {
        cur.position = 0;
        cur.epoch += 1;
    }
    Ok(Taken {
        loss,
        lr: opt.lr * factor,
        grad_norm,
    })
}

/// Times training steps alone (no evaluation, no files): seconds for each
/// of `repeats` runs of `steps` steps, after `warmup` steps.
pub fn time_steps<T: Real>(
    cx: &Context,
    program: &Program,
    seed: u64,
    steps: u64,
    repeats: usize,
    warmup: u64,
) -> Result<Vec<f64>, TrainError> {
    let graph = &program.graph;
    let exec = Executor::new(graph, cx).map_err(exec_error)?;
    let (data, plan) = load_within_limits::<T>(program, cx.max_words())?;
    let mut params = init_params(graph, &data, seed)?;
    let mut opt = Optimizer::new(&program.train.optimizer, &params);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(1);
    let mut state = BTreeMap::new();
    let mut cursor = Cursor::start(data.train.len);
    let mut run = |n: u64| -> Result<(), TrainError> {
        for _ in 0..n {
            take_step(
                &exec,
                &data,
                plan.batch,
                &mut params,
                &mut opt,
                &mut rng,
                &mut state,
                &mut cursor,
                &program.train,
                plan.total_steps,
            )
            .map_err(exec_error)?;
        }
        Ok(())
    };
    run(warmup)?;
    let mut times = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        run(steps)?;
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(times)
}

/// The file in a run directory that holds the parameters of the best
/// evaluation (by the first metric on the validation split).
pub const BEST: &str = records::BEST;

/// The parameters saved in a checkpoint (`checkpoint.bin`: the last
/// evaluation; [`BEST`]: the best one) for `graph`, with the step they
/// were saved at; `Err` says which file is unusable and why.
pub fn saved_params<T: Real>(graph: &Graph, path: &Path) -> Result<(Vec<ArrayD<T>>, u64), String> {
    let ck: Checkpoint<T> = checkpoint::load(path)?;
    let mut params = Vec::with_capacity(graph.params.len());
    for p in &graph.params {
        let name = format!("param.{}", p.name);
        let at = ck
            .header
            .tensors
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| {
                format!(
                    "{} holds no parameter `{}`: it was saved by another spec",
                    path.display(),
                    p.name
                )
            })?;
        let t = &ck.tensors[at];
        if t.shape() != p.shape.as_slice() {
            return Err(format!(
                "{}: parameter `{}` has shape {:?}, the spec makes {:?}",
                path.display(),
                p.name,
                t.shape(),
                p.shape
            ));
        }
        params.push(t.clone());
    }
    Ok((params, ck.header.step))
}

/// The program's data and training plan, each step checked against the
/// machine's memory first ([`memory`]): what can be known before the data
/// is read is checked before it is. Every text a tree latent reads must
/// have at most `max_words` words ([`text_limit`]).
fn load_within_limits<T: Real>(
    program: &Program,
    max_words: usize,
) -> Result<(Dataset<T>, Plan), TrainError> {
    let element = std::mem::size_of::<T>() as u64;
    let mut estimate = memory::Estimate::before_data(program, element);
    memory::fits(&estimate, "before reading its data").map_err(TrainError::Memory)?;
    let data: Dataset<T> = data::load(&program.data).map_err(TrainError::Data)?;
    for part in Split::ALL {
        text_limit::check_split(&program.graph, data.split(part), part.name(), max_words)
            .map_err(TrainError::Data)?;
    }
    let plan = plan(&program.train, data.train.len);
    let (activations, at) = batch_activations(&program.graph, &data, plan.batch, element);
    estimate.activations = activations;
    memory::fits(&estimate, &at).map_err(TrainError::Memory)?;
    Ok((data, plan))
}

/// The activations of the largest batch a run computes — a training
/// batch at the longest training texts, or an evaluation batch at the
/// longest texts of any split — and the sizes, said for people.
fn batch_activations<T: Real>(
    graph: &Graph,
    data: &Dataset<T>,
    batch: usize,
    element: u64,
) -> (u64, String) {
    let mut worst = (0u64, String::new());
    let splits = [(&data.train, batch), (&data.valid, 0), (&data.test, 0)];
    for (split, batch) in splits {
        let evaluation = batch == 0;
        let b = match (evaluation, split.sequences.is_empty()) {
            (false, _) => batch,
            // Evaluation walks texts 256 at a time, fixed-size data whole.
            (true, false) => split.len.min(256),
            (true, true) => split.len,
        } as u64;
        let lengths = split.longest(&(0..split.len).collect::<Vec<_>>());
        let bytes = memory::activations(graph, b, &lengths, element);
        if bytes > worst.0 {
            worst = (bytes, format!("at {}", memory::batch_sizes(b, &lengths)));
        }
    }
    worst
}

/// Why [`train`] ended early on request: Ctrl-C (SIGINT) or SIGTERM set
/// the flag in [`Options::interrupt`]; the step under way finished and a
/// checkpoint at it was written.
pub fn interrupted(e: &TrainError) -> Option<u64> {
    match e {
        TrainError::Interrupted { step } => Some(*step),
        _ => None,
    }
}

/// Everything a run carries from step to step, and what a checkpoint holds.
struct State<T> {
    params: Vec<ArrayD<T>>,
    opt: Optimizer<T>,
    rng: ChaCha8Rng,
    step: u64,
    cursor: Cursor,
    surrogate: crate::latent::surrogate::State,
    /// The best evaluation so far and the score that chose it.
    best: Option<(Evaluated, Option<f64>)>,
    /// Evaluations since the best one.
    stale: u64,
    /// Training losses since the last `log every` line, and their steps.
    log_window: (f64, u64),
}

impl<T: Real> State<T> {
    /// Writes `checkpoint.bin` (and, when the last evaluation improved,
    /// `best.bin` first, so a run killed in between redoes that evaluation
    /// and this write).
    fn save(
        &self,
        graph: &Graph,
        opts: &Options,
        seconds: f64,
        improved: bool,
    ) -> Result<(), TrainError> {
        let mut tensors = Vec::new();
        let mut names = Vec::new();
        for (group, list) in [
            ("param", &self.params),
            ("m", &self.opt.m),
            ("v", &self.opt.v),
        ] {
            for (i, t) in list.iter().enumerate() {
                names.push(format!("{group}.{}", graph.params[i].name));
                tensors.push(t.clone());
            }
        }
        let header = Header {
            fingerprint: opts.fingerprint.clone(),
            dtype: T::NAME.into(),
            step: self.step,
            epoch: self.cursor.epoch,
            position: self.cursor.position,
            order: self.cursor.order.clone(),
            rng_word_pos: self.rng.get_word_pos().to_string(),
            optimizer_steps: self.opt.t,
            surrogate_state: self.surrogate.clone(),
            best: self.best.as_ref().map(|(b, _)| b.clone()),
            best_score: self.best.as_ref().and_then(|(_, s)| *s),
            seconds,
            tensors: names,
            stale_evaluations: self.stale,
            log_loss_sum: self.log_window.0,
            log_steps: self.log_window.1,
        };
        if improved {
            let np = self.params.len();
            let best_header = Header {
                tensors: header.tensors[..np].to_vec(),
                ..header.clone()
            };
            checkpoint::save(
                &opts.out.join(BEST),
                &Checkpoint {
                    header: best_header,
                    tensors: self.params.clone(),
                },
            )
            .map_err(|e| io(e, "cannot write the best parameters"))?;
        }
        checkpoint::save(
            &opts.out.join(records::CHECKPOINT),
            &Checkpoint { header, tensors },
        )
        .map_err(|e| io(e, "cannot write the checkpoint"))
    }

    /// Continues from `path`, refusing a checkpoint of another run.
    fn restore(&mut self, path: &Path, fingerprint: &str) -> Result<f64, TrainError> {
        let ck: Checkpoint<T> = checkpoint::load(path).map_err(TrainError::Checkpoint)?;
        let h = ck.header;
        if h.fingerprint != fingerprint {
            return Err(TrainError::Checkpoint(format!(
                "{} was made by another spec, overrides, seed or precision; resume with the same ones (`lsmc train --resume DIR` takes them from the run), or start a new run with another --out",
                path.display()
            )));
        }
        let np = self.params.len();
        if ck.tensors.len() != 3 * np
            || ck
                .tensors
                .iter()
                .zip(self.params.iter().chain(&self.opt.m).chain(&self.opt.v))
                .any(|(a, b)| a.shape() != b.shape())
        {
            return Err(TrainError::Checkpoint(format!(
                "{} does not match this graph's parameters",
                path.display()
            )));
        }
        let mut it = ck.tensors.into_iter();
        self.params = it.by_ref().take(np).collect();
        self.opt.m = it.by_ref().take(np).collect();
        self.opt.v = it.collect();
        self.opt.t = h.optimizer_steps;
        self.step = h.step;
        self.cursor = Cursor {
            epoch: h.epoch,
            position: h.position,
            order: h.order,
        };
        self.surrogate = h.surrogate_state;
        self.best = h.best.map(|b| (b, h.best_score));
        self.stale = h.stale_evaluations;
        self.log_window = (h.log_loss_sum, h.log_steps);
        self.rng.set_word_pos(
            h.rng_word_pos
                .parse::<u128>()
                .map_err(|e| TrainError::Checkpoint(format!("bad generator position: {e}")))?,
        );
        Ok(h.seconds)
    }
}

/// Appends metrics lines to `metrics.jsonl` and mirrors them into the
/// run's TensorBoard event file.
struct MetricsOut {
    file: std::fs::File,
    events: crate::tensorboard::EventWriter,
}

impl MetricsOut {
    fn write(&mut self, lines: &[MetricsLine]) -> Result<(), TrainError> {
        for line in lines {
            let text = serde_json::to_string(line)
                .map_err(|e| TrainError::Io(format!("cannot write a metrics line: {e}")))?;
            writeln!(self.file, "{text}").map_err(|e| io(e, "cannot append to metrics.jsonl"))?;
        }
        self.file
            .flush()
            .map_err(|e| io(e, "cannot write metrics.jsonl"))?;
        for line in lines {
            if let Err(e) = self.events.write(line) {
                let at = self.events.path().display().to_string();
                return Err(io(e, &format!("cannot write {at}")));
            }
        }
        Ok(())
    }
}

pub fn train<T: Real>(
    cx: &Context,
    program: &Program,
    opts: &Options,
    obs: &mut dyn Observer,
) -> Result<Summary, TrainError> {
    let graph = &program.graph;
    let tp = &program.train;
    let exec = Executor::new(graph, cx).map_err(exec_error)?;
    let (data, plan) = load_within_limits::<T>(program, cx.max_words())?;
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| io(e, &format!("cannot create {}", opts.out.display())))?;
    let ck_path = opts.out.join(records::CHECKPOINT);
    let metrics_path = opts.out.join(records::METRICS);

    let params = init_params(graph, &data, opts.seed)?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    rng.set_stream(1);
    let mut run = State {
        opt: Optimizer::new(&tp.optimizer, &params),
        params,
        rng,
        step: 0,
        cursor: Cursor::start(data.train.len),
        surrogate: BTreeMap::new(),
        best: None,
        stale: 0,
        log_window: (0.0, 0),
    };
    let mut seconds_before = 0.0;
    let mut last_checkpoint = None;
    let mut kept_lines = Vec::new();

    if opts.resume {
        seconds_before = run.restore(&ck_path, &opts.fingerprint)?;
        last_checkpoint = Some(run.step);
        // Lines logged after the checkpoint are redone; a line the kill
        // cut short does not parse and goes too.
        if let Ok(text) = std::fs::read_to_string(&metrics_path) {
            let mut kept = String::new();
            for l in text.lines() {
                if let Ok(line) = serde_json::from_str::<MetricsLine>(l) {
                    if line.step <= run.step {
                        kept.push_str(l);
                        kept.push('\n');
                        kept_lines.push(line);
                    }
                }
            }
            std::fs::write(&metrics_path, kept)
                .map_err(|e| io(e, "cannot rewrite metrics.jsonl"))?;
        }
    } else {
        if ck_path.exists() {
            return Err(TrainError::Checkpoint(format!(
                "{} already holds a run; pass --resume to continue it, or choose another --out",
                opts.out.display()
            )));
        }
        std::fs::write(opts.out.join("spec.lsm"), &opts.spec_text)
            .map_err(|e| io(e, "cannot write spec.lsm"))?;
        std::fs::write(&metrics_path, "").map_err(|e| io(e, "cannot create metrics.jsonl"))?;
    }

    let started = Instant::now();
    let mut out = MetricsOut {
        file: std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&metrics_path)
            .map_err(|e| io(e, "cannot open metrics.jsonl"))?,
        events: crate::tensorboard::EventWriter::create(&opts.out, &kept_lines)
            .map_err(|e| io(e, "cannot write a TensorBoard event file"))?,
    };
    let mut last_results = None;
    obs.start(plan.total_steps, run.step);

    let non_finite = |e: ExecError, step: u64, ck: Option<u64>, evaluating: bool| match e {
        ExecError::NonFinite { node, in_gradient } => TrainError::NonFinite {
            step,
            node,
            in_gradient,
            evaluating,
            checkpoint: ck,
        },
        other => exec_error(other),
    };
    let mut stopped_early = None;

    while run.step < plan.total_steps {
        if let Some(p) = tp.patience.filter(|&p| run.stale >= p) {
            stopped_early = Some(format!(
                "{p} evaluations without improvement on valid after the best at step {}",
                run.best.as_ref().map_or(0, |(b, _)| b.step)
            ));
            break;
        }
        let taken = take_step(
            &exec,
            &data,
            plan.batch,
            &mut run.params,
            &mut run.opt,
            &mut run.rng,
            &mut run.surrogate,
            &mut run.cursor,
            tp,
            plan.total_steps,
        )
        .map_err(|e| non_finite(e, run.step + 1, last_checkpoint, false))?;
        run.step += 1;
        let (step, epoch) = (run.step, run.cursor.epoch);
        obs.step(step, epoch, taken.loss);
        run.log_window = (run.log_window.0 + taken.loss, run.log_window.1 + 1);
        if plan.log_every.is_some_and(|n| step.is_multiple_of(n)) {
            let values = BTreeMap::from([
                (
                    "loss".to_string(),
                    run.log_window.0 / run.log_window.1.max(1) as f64,
                ),
                ("lr".to_string(), taken.lr),
                ("grad_norm".to_string(), taken.grad_norm),
            ]);
            out.write(&[MetricsLine {
                step,
                epoch,
                split: records::LOG_SPLIT.into(),
                values,
            }])?;
            run.log_window = (0.0, 0);
        }

        let evaluating = step.is_multiple_of(plan.every) || step == plan.total_steps;
        if evaluating {
            let results = evaluate(&exec, tp, &run.params, &data)
                .map_err(|e| non_finite(e, step, last_checkpoint, true))?;
            obs.evaluated(step, &results);
            let lines: Vec<MetricsLine> = results
                .iter()
                .map(|(split, m)| MetricsLine {
                    step,
                    epoch,
                    split: split.clone(),
                    values: m.clone(),
                })
                .collect();
            out.write(&lines)?;
            let improved = match (&run.best, score(tp, &results)) {
                (_, None) => run.best.is_none(),
                (None, Some(_)) => true,
                (Some((_, b)), Some(s)) => s > b.unwrap_or(f64::NEG_INFINITY),
            };
            if improved {
                run.best = Some((evaluated(step, epoch, &results), score(tp, &results)));
                run.stale = 0;
            } else {
                run.stale += 1;
            }
            run.save(
                graph,
                opts,
                seconds_before + started.elapsed().as_secs_f64(),
                improved,
            )?;
            last_checkpoint = Some(step);
            last_results = Some(results);
        }
        if opts.interrupt.load(std::sync::atomic::Ordering::SeqCst) {
            if !evaluating {
                run.save(
                    graph,
                    opts,
                    seconds_before + started.elapsed().as_secs_f64(),
                    false,
                )?;
            }
            obs.finish();
            return Err(TrainError::Interrupted { step });
        }
    }
    obs.finish();
    let seconds = seconds_before + started.elapsed().as_secs_f64();
    let step = run.step;
    let final_results = match last_results {
        Some(r) => r,
        None => evaluate(&exec, tp, &run.params, &data)
            .map_err(|e| non_finite(e, step, last_checkpoint, true))?,
    };
    let epoch = run.cursor.epoch;
    let summary = Summary {
        model: program.name.clone(),
        seed: opts.seed,
        steps: step,
        epochs: epoch,
        seconds,
        dtype: T::NAME.into(),
        best: run
            .best
            .map_or_else(|| evaluated(step, epoch, &final_results), |(b, _)| b),
        last: evaluated(step, epoch, &final_results),
        stopped_early,
    };
    records::write_json(&opts.out.join(records::SUMMARY), &summary)
        .map_err(|e| io(e, "cannot write summary.json"))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Split as Part;
    use lsmc_ir::graph::{Param, Section};
    use std::collections::HashMap;
    use std::sync::Arc;

    fn graph_copying(name: &str, shape: Vec<usize>) -> Graph {
        Graph {
            params: vec![Param {
                name: "encoder.e.embed.table".into(),
                shape,
                init: Init::FromInput(name.into()),
                section: Section::Encoder,
            }],
            ..Graph::default()
        }
    }

    fn data_with(name: &str, table: ArrayD<f64>) -> Dataset<f64> {
        let mut split = Part::new(HashMap::new(), 1);
        split.shared.insert(name.into(), Arc::new(table));
        Dataset {
            train: split.clone(),
            valid: split.clone(),
            test: split,
        }
    }

    #[test]
    fn a_parameter_copied_from_data_is_that_data() {
        let table = ArrayD::from_shape_fn(ndarray::IxDyn(&[4, 2]), |i| (i[0] * 2 + i[1]) as f64);
        let p = init_params(
            &graph_copying("embeddings", vec![4, 2]),
            &data_with("embeddings", table.clone()),
            1,
        )
        .expect("initialised");
        assert_eq!(p[0], table);
    }

    #[test]
    fn a_parameter_copied_from_data_the_data_lacks_is_an_error_not_zeros() {
        let data = data_with("vectors", ArrayD::zeros(ndarray::IxDyn(&[4, 2])));
        let e = init_params(&graph_copying("embeddings", vec![4, 2]), &data, 1).unwrap_err();
        assert!(
            matches!(&e, TrainError::Data(m) if m.contains("`embeddings`") && m.contains("encoder.e.embed.table")),
            "{e}"
        );
        let e = init_params(&graph_copying("vectors", vec![5, 2]), &data, 1).unwrap_err();
        assert!(
            matches!(&e, TrainError::Data(m) if m.contains("[5, 2]")),
            "{e}"
        );
    }

    #[test]
    fn two_metrics_of_one_kind_are_reported_and_chosen_by_their_text() {
        use lsmc_ir::plan::{Adam, Metric, MetricKind, Optimizer as Spec};
        let metric = |pred: &str| Metric {
            kind: MetricKind::Accuracy,
            pred: pred.into(),
            gold: "y".into(),
            lengths: None,
            text: format!("accuracy({pred}, y)"),
        };
        let plan = TrainPlan {
            optimizer: Spec::Adam(Adam {
                lr: 1e-3,
                betas: (0.9, 0.999),
                eps: 1e-8,
                weight_decay: 0.0,
            }),
            batch: None,
            steps: Some(1),
            epochs: None,
            seed: None,
            evaluate_every: None,
            evaluate_on: vec![Split::Valid],
            metrics: vec![metric("a"), metric("b")],
            patience: None,
            schedule: Default::default(),
            clip_norm: None,
            log_every: None,
        };
        assert_eq!(plan.metric_keys(), ["accuracy(a, y)", "accuracy(b, y)"]);
        let valid: BTreeMap<String, f64> = [
            ("loss".to_string(), 0.5),
            ("accuracy(a, y)".to_string(), 0.75),
            ("accuracy(b, y)".to_string(), 0.25),
        ]
        .into();
        let results = BTreeMap::from([("valid".to_string(), valid)]);
        // Before, the first metric was looked up by its kind's name alone,
        // found nothing, and no evaluation after the first counted as better.
        assert_eq!(score(&plan, &results), Some(0.75));
    }
}
