//! Executes a graph: a forward sweep over the nodes in order, and a
//! reverse sweep that applies each op's VJP. Each latent node's backward
//! runs its own surrogate, whose `grad(µ)` re-runs only the nodes
//! downstream of that latent with its value replaced by µ (every other
//! latent keeps its forward value), without touching the parameter
//! gradients of the main pass.

use crate::context::Context;
use crate::latent::structure::{Saved, Structure};
use crate::latent::surrogate;
use crate::ops::{self, Env};
use crate::real::Real;
use lsmc_ir::graph::Forward;
use lsmc_ir::graph::{Graph, LatentOp, Mapping, NodeId, Op};
use lsmc_ir::types::Dim;
use ndarray::{ArrayD, IxDyn};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::sync::Arc;

/// A batch: every data input by name (examples on the first axis), and the
/// sizes that bind the symbolic dimensions `B` and `N`.
#[derive(Clone, Debug)]
pub struct Batch<T> {
    /// Shared, not copied: a full-batch step reads the split's own arrays.
    pub inputs: HashMap<String, Arc<ArrayD<T>>>,
    pub size: usize,
    /// The padded length of each text's symbol (`N`, `M`, …) in this batch.
    pub seq_lens: Vec<(&'static str, usize)>,
}

impl<T> Batch<T> {
    /// The padded length bound to a symbolic size.
    pub fn seq_len(&self, symbol: &str) -> Option<usize> {
        self.seq_lens
            .iter()
            .find(|(s, _)| *s == symbol)
            .map(|&(_, n)| n)
    }
}

/// Why a pass stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum ExecError {
    /// A NaN or infinity first appeared at this node, in its value or in
    /// the gradient flowing into it.
    NonFinite { node: NodeId, in_gradient: bool },
    /// Something the graph asks for that this runtime cannot do.
    Unsupported(String),
    /// The graph breaks a rule every well-formed one keeps.
    Invalid(lsmc_ir::GraphError),
    /// The latent node's structured computation failed (e.g. lengths that
    /// do not fit the scores, or an ill-conditioned matrix-tree system).
    Structure { node: NodeId, message: String },
}

impl std::fmt::Display for ExecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecError::NonFinite { node, in_gradient } => write!(
                f,
                "non-finite value at node %{node}{}",
                if *in_gradient {
                    " (in its gradient)"
                } else {
                    ""
                }
            ),
            ExecError::Unsupported(m) => f.write_str(m),
            ExecError::Invalid(e) => write!(f, "invalid program: {e}"),
            ExecError::Structure { node, message } => write!(f, "node {node}: {message}"),
        }
    }
}

impl std::error::Error for ExecError {}

/// Values (and op auxiliaries) of one forward pass.
pub struct Pass<T> {
    pub values: Vec<Option<Arc<ArrayD<T>>>>,
    aux: Vec<Option<ops::Aux<T>>>,
    train: bool,
}

impl<T: Real> Pass<T> {
    pub fn value(&self, id: NodeId) -> &ArrayD<T> {
        self.values[id]
            .as_ref()
            .expect("computed in the forward pass")
    }
}

/// What a backward pass reports besides the gradients.
#[derive(Clone, Debug)]
pub struct BackwardInfo<T> {
    pub decoder_calls: usize,
    /// Each latent's scores, forward value, surrogate gradient and
    /// iterates, in the graph's latent order (latents that received no
    /// gradient are absent).
    pub latents: Vec<LatentTrace<T>>,
}

#[derive(Clone, Debug)]
pub struct LatentTrace<T> {
    /// The latent's name on its line.
    pub name: String,
    /// Decoder passes its surrogate made (the free `grad(z)` excluded).
    pub decoder_calls: usize,
    /// Words per sentence, for tree latents (scores are padded to the longest).
    pub lengths: Option<Vec<usize>>,
    pub scores: ArrayD<T>,
    pub forward: ArrayD<T>,
    pub surrogate_grad: ArrayD<T>,
    pub iterates: Vec<surrogate::Iterate<T>>,
}

pub struct Executor<'g> {
    pub graph: &'g Graph,
    /// The device, threads and tree workers every pass runs with.
    pub cx: &'g Context,
    /// The node depends on a parameter, so gradients flow into it.
    needs_grad: Vec<bool>,
    /// Per latent (in `graph.latents` order), the nodes that depend on it:
    /// what its `grad(µ)` re-runs.
    downstream: Vec<Vec<bool>>,
}

/// Whether every entry is finite. `v · 0` is zero for a finite `v` and NaN
/// for ±∞ and NaN; summed in lanes without a branch, the check vectorises
/// and costs a fraction of any op that made the array.
fn finite<T: Real>(a: &ArrayD<T>) -> bool {
    let Some(s) = a.as_slice_memory_order() else {
        return a.iter().all(|v| v.is_finite());
    };
    let chunks = s.chunks_exact(8);
    let rest = chunks.remainder();
    let mut acc = [T::zero(); 8];
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v * T::zero();
        }
    }
    acc.iter().all(|&a| a == T::zero()) && rest.iter().all(|v| v.is_finite())
}

fn add_into<T: Real>(slot: &mut Option<ArrayD<T>>, g: ArrayD<T>) {
    match slot {
        Some(acc) => *acc += &g,
        None => *slot = Some(g),
    }
}

impl<'g> Executor<'g> {
    /// Checks the graph ([`Graph::validate`]) and prepares its passes,
    /// which run with `cx`.
    pub fn new(graph: &'g Graph, cx: &'g Context) -> Result<Executor<'g>, ExecError> {
        graph.validate().map_err(ExecError::Invalid)?;
        let n = graph.nodes.len();
        let mut needs_grad = vec![false; n];
        for (i, node) in graph.nodes.iter().enumerate() {
            needs_grad[i] =
                matches!(node.op, Op::Param(_)) || node.inputs.iter().any(|&j| needs_grad[j]);
        }
        let downstream = graph
            .latents
            .iter()
            .map(|&latent| depends_on(graph, latent))
            .collect();
        Ok(Executor {
            graph,
            cx,
            needs_grad,
            downstream,
        })
    }

    fn shape(&self, id: NodeId, batch: &Batch<impl Real>) -> Vec<usize> {
        self.graph.nodes[id]
            .dims
            .iter()
            .map(|d| match d {
                Dim::Const(c) => *c as usize,
                Dim::Sym("B", k) => batch.size + *k as usize,
                Dim::Sym(s, k) => batch.seq_len(s).unwrap_or(0) + *k as usize,
            })
            .collect()
    }

    /// Evaluates node `i` reading inputs through `get`; a latent keeps
    /// its state for a backward when `backward_follows` (the main pass)
    /// and it is training with scores that need a gradient.
    #[allow(clippy::too_many_arguments)]
    fn eval<'v, T: Real>(
        &self,
        i: NodeId,
        get: &dyn Fn(NodeId) -> &'v ArrayD<T>,
        params: &[ArrayD<T>],
        batch: &Batch<T>,
        env: &mut Env,
        reuse_aux: Option<&ArrayD<T>>,
        backward_follows: bool,
    ) -> Result<ops::Fwd<T>, ExecError> {
        let node = &self.graph.nodes[i];
        Ok(match &node.op {
            Op::Input(name) => ops::Fwd::plain(
                batch
                    .inputs
                    .get(name)
                    .map(|a| (**a).clone())
                    .ok_or_else(|| {
                        ExecError::Unsupported(format!("the data provides no `{name}`"))
                    })?,
            ),
            Op::Param(p) => ops::Fwd::plain(params[*p].clone()),
            Op::Latent(l) => {
                let lengths = node.inputs.get(1).map(|&j| lengths_of(get(j)));
                // Its state is kept for a backward only where one will run
                // (a surrogate's re-run reads values only).
                let keep = backward_follows && env.train && self.needs_grad[i];
                latent_forward(
                    self.cx,
                    l,
                    get(node.inputs[0]),
                    lengths.as_deref(),
                    keep,
                    env,
                )
                .map_err(|message| ExecError::Structure { node: i, message })?
            }
            Op::Dropout(_) if reuse_aux.is_some() => {
                let mask = reuse_aux.expect("checked");
                ops::Fwd::with_array(get(node.inputs[0]) * mask, mask.clone())
            }
            op => {
                let inputs: Vec<&ArrayD<T>> = node.inputs.iter().map(|&j| get(j)).collect();
                ops::forward(op, &inputs, &self.shape(i, batch), env)
            }
        })
    }

    /// The nodes that depend on `latent` (itself included).
    fn downstream_of(&self, latent: NodeId) -> &[bool] {
        let k = self
            .graph
            .latents
            .iter()
            .position(|&l| l == latent)
            .expect("a latent node of the graph");
        &self.downstream[k]
    }

    /// The forward pass. Stops at the first node whose value is not finite.
    pub fn forward<T: Real>(
        &self,
        params: &[ArrayD<T>],
        batch: &Batch<T>,
        train: bool,
        rng: &mut ChaCha8Rng,
    ) -> Result<Pass<T>, ExecError> {
        let n = self.graph.nodes.len();
        let mut pass = Pass {
            values: Vec::with_capacity(n),
            aux: Vec::with_capacity(n),
            train,
        };
        let mut env = Env {
            train,
            rng,
            threads: self.cx.threads(),
        };
        for i in 0..n {
            if let Op::Input(name) = &self.graph.nodes[i].op {
                let v = batch.inputs.get(name).ok_or_else(|| {
                    ExecError::Unsupported(format!("the data provides no `{name}`"))
                })?;
                pass.values.push(Some(Arc::clone(v)));
                pass.aux.push(None);
                continue;
            }
            let f = {
                let values = &pass.values;
                let get = |j: NodeId| &**values[j].as_ref().expect("inputs precede their users");
                self.eval(i, &get, params, batch, &mut env, None, true)?
            };
            // Data are validated when loaded and parameters through their
            // gradients; every computed value is checked.
            let computed = !matches!(self.graph.nodes[i].op, Op::Input(_) | Op::Param(_));
            if computed && !finite(&f.out) {
                return Err(ExecError::NonFinite {
                    node: i,
                    in_gradient: false,
                });
            }
            pass.values.push(Some(Arc::new(f.out)));
            pass.aux.push(f.aux);
        }
        Ok(pass)
    }

    /// The loss of a forward pass.
    pub fn loss<T: Real>(&self, pass: &Pass<T>) -> f64 {
        pass.value(self.graph.loss)
            .iter()
            .next()
            .map(|v| v.f64())
            .unwrap_or(f64::NAN)
    }

    /// Re-runs the nodes downstream of `latent` with its value set to `mu`.
    fn rerun<T: Real>(
        &self,
        latent: NodeId,
        mu: &ArrayD<T>,
        pass: &Pass<T>,
        params: &[ArrayD<T>],
        batch: &Batch<T>,
        rng: &mut ChaCha8Rng,
    ) -> Result<HashMap<NodeId, ArrayD<T>>, ExecError> {
        let downstream = self.downstream_of(latent);
        let mut local: HashMap<NodeId, ArrayD<T>> = HashMap::new();
        let mut env = Env {
            train: pass.train,
            rng,
            threads: self.cx.threads(),
        };
        for i in latent + 1..self.graph.nodes.len() {
            if !downstream[i] {
                continue;
            }
            let node = &self.graph.nodes[i];
            let get = |j: NodeId| {
                if j == latent {
                    mu
                } else {
                    local.get(&j).unwrap_or_else(|| pass.value(j))
                }
            };
            let out = match (&node.op, pass.aux[i].as_ref().and_then(ops::Aux::array)) {
                // `x · w` does not move with µ: only its contraction with
                // µ is redone.
                (Op::Bilinear, Some(t))
                    if !downstream[node.inputs[1]] && !downstream[node.inputs[2]] =>
                {
                    let o = get(node.inputs[2]).shape()[2];
                    ops::matmul::bilinear_contract(get(node.inputs[0]), t, o)
                }
                // Dropout reuses the main pass's mask: the surrogate probes
                // the same network the forward pass ran.
                _ => {
                    self.eval(
                        i,
                        &get,
                        params,
                        batch,
                        &mut env,
                        pass.aux[i]
                            .as_ref()
                            .and_then(ops::Aux::array)
                            .filter(|_| matches!(node.op, Op::Dropout(_))),
                        false,
                    )?
                    .out
                }
            };
            if !finite(&out) {
                return Err(ExecError::NonFinite {
                    node: i,
                    in_gradient: false,
                });
            }
            local.insert(i, out);
        }
        Ok(local)
    }

    /// ∇_µ L at `mu`: a forward and backward pass of the nodes downstream
    /// of the latent; parameter gradients are not accumulated.
    fn grad_at<T: Real>(
        &self,
        latent: NodeId,
        mu: &ArrayD<T>,
        pass: &Pass<T>,
        params: &[ArrayD<T>],
        batch: &Batch<T>,
        rng: &mut ChaCha8Rng,
    ) -> Result<ArrayD<T>, ExecError> {
        let local = self.rerun(latent, mu, pass, params, batch, rng)?;
        let value = |j: NodeId| {
            if j == latent {
                mu
            } else {
                local.get(&j).unwrap_or_else(|| pass.value(j))
            }
        };
        let downstream = self.downstream_of(latent);
        let mut grads: HashMap<NodeId, ArrayD<T>> = HashMap::new();
        grads.insert(self.graph.loss, ArrayD::from_elem(IxDyn(&[]), T::one()));
        for i in (latent + 1..self.graph.nodes.len()).rev() {
            if !downstream[i] {
                continue;
            }
            let Some(g) = grads.remove(&i) else { continue };
            let node = &self.graph.nodes[i];
            let inputs: Vec<&ArrayD<T>> = node.inputs.iter().map(|&j| value(j)).collect();
            let aux = pass.aux[i].as_ref().and_then(ops::Aux::array);
            let needs: Vec<bool> = node.inputs.iter().map(|&j| downstream[j]).collect();
            let gs = ops::vjp_needed(
                &node.op,
                &inputs,
                value(i),
                aux,
                &g,
                &needs,
                self.cx.threads(),
            );
            for (&j, gj) in node.inputs.iter().zip(gs) {
                if let (Some(gj), true) = (gj, downstream[j]) {
                    match grads.get_mut(&j) {
                        Some(acc) => *acc += &gj,
                        None => {
                            grads.insert(j, gj);
                        }
                    }
                }
            }
        }
        let g = grads
            .remove(&latent)
            .unwrap_or_else(|| ArrayD::zeros(mu.raw_dim()));
        if !finite(&g) {
            return Err(ExecError::NonFinite {
                node: latent,
                in_gradient: true,
            });
        }
        Ok(g)
    }

    /// Per-example loss at `mu` (for score-function surrogates).
    fn loss_at<T: Real>(
        &self,
        latent: NodeId,
        mu: &ArrayD<T>,
        pass: &Pass<T>,
        params: &[ArrayD<T>],
        batch: &Batch<T>,
        rng: &mut ChaCha8Rng,
    ) -> Result<ArrayD<T>, ExecError> {
        let loss = &self.graph.nodes[self.graph.loss];
        if !matches!(loss.op, Op::CrossEntropy) {
            return Err(ExecError::Unsupported(
                "`loss(µ)` needs a per-example loss: write the spec's loss as `cross_entropy(…)`"
                    .into(),
            ));
        }
        let local = self.rerun(latent, mu, pass, params, batch, rng)?;
        let value = |j: NodeId| {
            if j == latent {
                mu
            } else {
                local.get(&j).unwrap_or_else(|| pass.value(j))
            }
        };
        let rows = ops::softmax::cross_entropy_rows(value(loss.inputs[0]), value(loss.inputs[1]));
        Ok(ArrayD::from_shape_vec(IxDyn(&[rows.len()]), rows).expect("one loss per example"))
    }

    /// The backward pass: gradients of the loss for every parameter.
    pub fn backward<T: Real>(
        &self,
        pass: &Pass<T>,
        params: &[ArrayD<T>],
        batch: &Batch<T>,
        rng: &mut ChaCha8Rng,
        state: &mut surrogate::State,
        trace: bool,
    ) -> Result<(Vec<ArrayD<T>>, BackwardInfo<T>), ExecError> {
        let n = self.graph.nodes.len();
        let mut grads: Vec<Option<ArrayD<T>>> = vec![None; n];
        let mut param_grads: Vec<ArrayD<T>> =
            params.iter().map(|p| ArrayD::zeros(p.raw_dim())).collect();
        let mut info = BackwardInfo {
            decoder_calls: 0,
            latents: Vec::new(),
        };
        grads[self.graph.loss] = Some(ArrayD::from_elem(IxDyn(&[]), T::one()));
        for i in (0..n).rev() {
            if !self.needs_grad[i] {
                continue;
            }
            let Some(g) = grads[i].take() else { continue };
            if !finite(&g) {
                return Err(ExecError::NonFinite {
                    node: i,
                    in_gradient: true,
                });
            }
            let node = &self.graph.nodes[i];
            match &node.op {
                Op::Param(p) => param_grads[*p] += &g,
                Op::Input(_) => {}
                Op::Latent(l) => {
                    let s = pass.value(node.inputs[0]);
                    let z = pass.value(i);
                    let g = Arc::new(g);
                    let lengths = node.inputs.get(1).map(|&j| lengths_of(pass.value(j)));
                    let st = Structure::new(l.structure, l.single_root);
                    let saved = Saved {
                        value: z,
                        state: pass.aux[i].as_ref().and_then(ops::Aux::state),
                    };
                    let mut iterates = None;
                    let mut decoder_calls = 0;
                    let gs = match &l.mapping {
                        Mapping::Argmax { via: call }
                        | Mapping::Sample { via: call }
                        | Mapping::Marg { via: Some(call) }
                        | Mapping::SparseMap {
                            via: Some(call), ..
                        } => {
                            let mut oracle = GraphOracle {
                                exec: self,
                                latent: i,
                                pass,
                                params,
                                batch,
                                rng: &mut *rng,
                            };
                            let out = surrogate::run(
                                call,
                                st,
                                self.cx,
                                lengths.as_deref(),
                                Arc::clone(pass.values[node.inputs[0]].as_ref().expect("computed")),
                                Arc::clone(pass.values[i].as_ref().expect("computed")),
                                Arc::clone(&g),
                                &mut oracle,
                                state,
                                trace,
                            )
                            .map_err(ExecError::Unsupported)?;
                            decoder_calls = out.decoder_calls;
                            info.decoder_calls += out.decoder_calls;
                            iterates = Some(out.iterates);
                            out.grad
                        }
                        // The relaxations' VJPs reuse what their forward kept.
                        Mapping::Marg { via: None } => st
                            .marginals_vjp_at(self.cx, s, lengths.as_deref(), &g, saved)
                            .map_err(|e| ExecError::Structure {
                                node: i,
                                message: e.to_string(),
                            })?,
                        Mapping::SparseMap {
                            via: None,
                            max_iter,
                        } => st
                            .sparsemap_vjp_at(self.cx, s, lengths.as_deref(), &g, *max_iter, saved)
                            .map_err(|e| ExecError::Structure {
                                node: i,
                                message: e.to_string(),
                            })?,
                    };
                    let mut gs = gs;
                    st.keep_parts(&mut gs, lengths.as_deref());
                    if trace {
                        info.latents.push(LatentTrace {
                            name: l.name.clone(),
                            decoder_calls,
                            lengths: lengths.clone(),
                            scores: s.clone(),
                            forward: z.clone(),
                            surrogate_grad: gs.clone(),
                            // Without a surrogate the one "iterate" is z and
                            // the gradient brought to it.
                            iterates: iterates.unwrap_or_else(|| {
                                vec![surrogate::Iterate {
                                    mu: z.clone(),
                                    grad: (*g).clone(),
                                }]
                            }),
                        });
                    }
                    add_into(&mut grads[node.inputs[0]], gs);
                }
                op => {
                    let inputs: Vec<&ArrayD<T>> =
                        node.inputs.iter().map(|&j| pass.value(j)).collect();
                    let needs: Vec<bool> =
                        node.inputs.iter().map(|&j| self.needs_grad[j]).collect();
                    let gs = ops::vjp_needed(
                        op,
                        &inputs,
                        pass.value(i),
                        pass.aux[i].as_ref().and_then(ops::Aux::array),
                        &g,
                        &needs,
                        self.cx.threads(),
                    );
                    for (&j, gj) in node.inputs.iter().zip(gs) {
                        if let (Some(gj), true) = (gj, self.needs_grad[j]) {
                            add_into(&mut grads[j], gj);
                        }
                    }
                }
            }
        }
        // The sweep met the latents last to first.
        info.latents.reverse();
        Ok((param_grads, info))
    }
}

/// Which nodes depend on `source` (itself included).
fn depends_on(graph: &Graph, source: NodeId) -> Vec<bool> {
    let mut out = vec![false; graph.nodes.len()];
    out[source] = true;
    for (i, node) in graph.nodes.iter().enumerate().skip(source + 1) {
        out[i] = node.inputs.iter().any(|&j| out[j]);
    }
    out
}

/// Lengths carried as a tensor (one entry per item).
fn lengths_of<T: Real>(a: &ArrayD<T>) -> Vec<usize> {
    a.iter().map(|x| x.f64().max(0.0) as usize).collect()
}

/// The structures a latent induced in a pass, one decoded item per example.
pub struct Induced {
    /// The latent's name.
    pub latent: String,
    /// The latent node.
    pub node: NodeId,
    pub structure: Structure,
    pub items: Vec<Vec<usize>>,
}

impl Executor<'_> {
    /// The structures each latent induced in a pass, in the graph's latent
    /// order, decoded per item by its engine
    /// ([`crate::latent::structure::Engine::decode`]; for trees each word's
    /// head, 0 the root): the forward value itself when it is a MAP
    /// structure, else the MAP structure of the same scores, the
    /// relaxation's mode. Latents whose structure has no statistics to
    /// report are left out.
    pub fn induced<T: Real>(&self, pass: &Pass<T>) -> Result<Vec<Induced>, String> {
        let mut out = Vec::new();
        for (i, l) in self.graph.latent_ops() {
            let st = Structure::new(l.structure, l.single_root);
            if st.descriptor().statistics.is_empty() {
                continue;
            }
            if let Some(items) = self.decode_latent(pass, i, l, st)? {
                out.push(Induced {
                    latent: l.name.clone(),
                    node: i,
                    structure: st,
                    items,
                });
            }
        }
        Ok(out)
    }

    /// One latent's induced structures (see [`Executor::induced`]).
    fn decode_latent<T: Real>(
        &self,
        pass: &Pass<T>,
        i: NodeId,
        l: &LatentOp,
        st: Structure,
    ) -> Result<Option<Vec<Vec<usize>>>, String> {
        let node = &self.graph.nodes[i];
        let s = pass.value(node.inputs[0]);
        let lengths = node.inputs.get(1).map(|&j| lengths_of(pass.value(j)));
        let lengths = st
            .sizes::<T>(s.shape(), lengths.as_deref())
            .map_err(|e| e.to_string())?;
        let map;
        let value = match l.forward() {
            Forward::Argmax | Forward::Sample => pass.value(i),
            Forward::Marg | Forward::SparseMap => {
                map = st
                    .map(self.cx, s, Some(&lengths))
                    .map_err(|e| e.to_string())?;
                &map
            }
        };
        st.decode(value, Some(&lengths)).map_err(|e| e.to_string())
    }

    /// The attention weights `[B, rows, columns]` of each `attend` node in
    /// a pass, in node order: row `i` of example `b` is how query word `i`
    /// spread its attention over the other text's words (zero past its
    /// length).
    pub fn attention<'p, T: Real>(&self, pass: &'p Pass<T>) -> Vec<(NodeId, &'p ArrayD<T>)> {
        self.graph
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n.op, Op::Attend))
            .filter_map(|(i, _)| {
                let weights = pass.aux.get(i)?.as_ref()?.array()?;
                Some((i, weights))
            })
            .collect()
    }
}

/// The forward mapping of a latent. At evaluation, sampling becomes MAP
/// and noise is off (noise nodes produce zeros).
fn latent_forward<T: Real>(
    cx: &Context,
    l: &LatentOp,
    s: &ArrayD<T>,
    lengths: Option<&[usize]>,
    keep: bool,
    env: &mut Env,
) -> Result<ops::Fwd<T>, String> {
    // The data's own checks name the example; this one guards every
    // other way in (`lsmc bench`, `inspect`, a library caller).
    if let Some((b, n)) =
        crate::text_limit::first_too_long(l.structure.scores, s.shape(), lengths, cx.max_words())
    {
        return Err(crate::text_limit::too_long(
            &format!("item {b} of the batch"),
            n,
            &crate::text_limit::under(&l.name),
            cx.max_words(),
        ));
    }
    let st = Structure::new(l.structure, l.single_root);
    let r = match &l.mapping {
        Mapping::Argmax { .. } => st.map(cx, s, lengths).map(ops::Fwd::plain),
        // Training keeps what the exact backward reuses (the matrix-tree
        // factors: it need not factor again) when the scores need a
        // gradient.
        Mapping::Marg { via: None } if keep => {
            st.marginals_saved(cx, s, lengths)
                .map(|(out, state)| ops::Fwd {
                    out,
                    aux: state.map(ops::Aux::State),
                })
        }
        Mapping::Marg { .. } => st.marginals_only(cx, s, lengths).map(ops::Fwd::plain),
        // The solution is kept only where the exact backward will read
        // it; a surrogate projects elsewhere.
        Mapping::SparseMap { max_iter, via } => st
            .sparsemap_saved(cx, s, lengths, *max_iter, None)
            .map(|(out, state)| ops::Fwd {
                out,
                aux: state.filter(|_| keep && via.is_none()).map(ops::Aux::State),
            }),
        Mapping::Sample { .. } if env.train => st.sample(s, lengths, env.rng).map(ops::Fwd::plain),
        Mapping::Sample { .. } => st.map(cx, s, lengths).map(ops::Fwd::plain),
    };
    r.map_err(|e| e.to_string())
}

struct GraphOracle<'a, 'g, T: Real> {
    exec: &'a Executor<'g>,
    latent: NodeId,
    pass: &'a Pass<T>,
    params: &'a [ArrayD<T>],
    batch: &'a Batch<T>,
    rng: &'a mut ChaCha8Rng,
}

fn describe(e: ExecError, graph: &Graph) -> String {
    match e {
        // Inside the surrogate the node's spec name says more than its number.
        ExecError::NonFinite { node, .. } => format!(
            "a non-finite value appeared at {} inside the surrogate",
            graph.nodes[node]
                .name
                .clone()
                .unwrap_or_else(|| graph.nodes[node].op.name())
        ),
        ExecError::Unsupported(m) | ExecError::Structure { message: m, .. } => m,
        other => other.to_string(),
    }
}

impl<T: Real> surrogate::Oracle<T> for GraphOracle<'_, '_, T> {
    fn grad(&mut self, mu: &ArrayD<T>) -> Result<ArrayD<T>, String> {
        self.exec
            .grad_at(
                self.latent,
                mu,
                self.pass,
                self.params,
                self.batch,
                self.rng,
            )
            .map_err(|e| describe(e, self.exec.graph))
    }
    fn loss(&mut self, mu: &ArrayD<T>) -> Result<ArrayD<T>, String> {
        self.exec
            .loss_at(
                self.latent,
                mu,
                self.pass,
                self.params,
                self.batch,
                self.rng,
            )
            .map_err(|e| describe(e, self.exec.graph))
    }
    fn rng(&mut self) -> &mut ChaCha8Rng {
        self.rng
    }
}
