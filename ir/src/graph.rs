//! The computation graph a checked model lowers to.
//!
//! Nodes are stored in topological order (every input precedes its user),
//! so execution is a single forward sweep and a single backward sweep. The
//! encoder, the latent nodes, the decoder and the loss are identifiable by
//! [`Section`]: a surrogate's `grad(µ)` re-runs exactly the nodes that
//! depend on its latent node, with that latent's value replaced by µ and
//! every other latent held at its forward value.

use crate::span::Span;
use crate::structures::Descriptor;
use crate::surrogate::Surrogate;
use crate::types::Dim;
use std::fmt;

pub type NodeId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Section {
    Data,
    #[default]
    Encoder,
    Latent,
    Decoder,
    Loss,
}

impl Section {
    pub fn name(self) -> &'static str {
        match self {
            Section::Data => "data",
            Section::Encoder => "encoder",
            Section::Latent => "latent",
            Section::Decoder => "decoder",
            Section::Loss => "loss",
        }
    }
}

/// How a parameter is initialised (PyTorch's defaults for the same layers).
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// U(−a, a).
    Uniform(f64),
    Zeros,
    /// A copy of a data-provided tensor (pretrained embeddings being fine-tuned).
    FromInput(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// `block.value.layer.role`, e.g. `encoder.s.linear.weight`.
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
    pub section: Section,
}

/// The forward mapping of a latent, as a tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forward {
    Argmax,
    Marg,
    SparseMap,
    Sample,
}

impl Forward {
    pub fn name(self) -> &'static str {
        match self {
            Forward::Argmax => "argmax",
            Forward::Marg => "marg",
            Forward::SparseMap => "sparsemap",
            Forward::Sample => "sample",
        }
    }
}

/// A latent's forward mapping with what its backward pass needs: MAP and
/// sampling have a zero gradient almost everywhere, so they cannot exist
/// without a surrogate; the relaxations are differentiable and take one
/// only when the spec asks.
#[derive(Clone, Debug, PartialEq)]
pub enum Mapping {
    Argmax {
        via: Surrogate,
    },
    Sample {
        via: Surrogate,
    },
    Marg {
        via: Option<Surrogate>,
    },
    /// `max_iter`: active-set iterations of the trees' solver (and its VJP).
    SparseMap {
        max_iter: usize,
        via: Option<Surrogate>,
    },
}

/// The latent node: scores in, a structure (or its relaxation) out.
#[derive(Clone, Debug, PartialEq)]
pub struct LatentOp {
    pub name: String,
    pub structure: &'static Descriptor,
    /// Categories (sized structures only).
    pub k: usize,
    /// Exactly one word attaches to the root (trees only).
    pub single_root: bool,
    pub mapping: Mapping,
}

impl LatentOp {
    pub fn forward(&self) -> Forward {
        match self.mapping {
            Mapping::Argmax { .. } => Forward::Argmax,
            Mapping::Sample { .. } => Forward::Sample,
            Mapping::Marg { .. } => Forward::Marg,
            Mapping::SparseMap { .. } => Forward::SparseMap,
        }
    }

    pub fn surrogate(&self) -> Option<&Surrogate> {
        match &self.mapping {
            Mapping::Argmax { via } | Mapping::Sample { via } => Some(via),
            Mapping::Marg { via } | Mapping::SparseMap { via, .. } => via.as_ref(),
        }
    }

    /// The SparseMAP forward's iteration budget (`None` for other forwards).
    pub fn max_iter(&self) -> Option<usize> {
        match self.mapping {
            Mapping::SparseMap { max_iter, .. } => Some(max_iter),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A tensor provided by the data source.
    Input(String),
    Param(usize),
    /// `x[…, K] · w[K, N]`.
    MatMul,
    /// `x[…, N] + b[N]`.
    AddBias,
    /// `y[b, o] = Σ_kd a[b, k] w[d, k, o] x[b, d]`; inputs `a, x, w`.
    Bilinear,
    Add,
    Sub,
    Mul,
    Div,
    /// `scale · x + shift`: arithmetic with a constant.
    Affine {
        scale: f64,
        shift: f64,
    },
    /// `1 / x`.
    Recip,
    Neg,
    Tanh,
    Relu,
    Sigmoid,
    Exp,
    Log,
    /// Over the last axis.
    Softmax,
    LogSoftmax,
    /// Mean over the batch of `−log softmax(logits)[label]`; inputs `logits, labels`.
    CrossEntropy,
    /// Along the last axis.
    Concat,
    /// Over the sequence axis of `x[B, N, D]`, masked by `lengths[B]`; inputs `x, lengths`.
    SumPool,
    MeanPool,
    /// Rows of `table[V, E]` for `ids[B, N]`; inputs `ids, table`.
    Embedding,
    /// Inverted dropout with drop probability `p` (identity at evaluation).
    Dropout(f64),
    /// `labels[B]` → `f32[B, K]`; per-word `labels[B, N]` with the
    /// sentences' `lengths` as a second input → `f32[B, N, K]`, padding rows zero.
    OneHot(usize),
    /// Standard Gumbel noise of the node's shape (zero at evaluation).
    Gumbel,
    /// One LSTM direction over `x[B, N, E]` (PyTorch's gates); inputs
    /// `x, lengths, w_ih[E, 4H], w_hh[H, 4H], b_ih[4H], b_hh[4H]`. `reverse`
    /// reads each sentence from its last word.
    Lstm {
        reverse: bool,
    },
    /// `h[B, N, D]`, `root[D]` → `[B, N+1, D]`, the root first.
    PrependRoot,
    /// `s[b, i, j] = Σ_k v_k tanh(p[b, i, k] + q[b, j, k] + c_k)`; inputs
    /// `p, q, c, v`: Eq. 23 after splitting `W` into the head and modifier halves.
    PairScore,
    /// `Σ_j z[b, j, i] h[b, j]` over word heads j; inputs `z[B, N+1, N+1], h[B, N, D]`.
    Heads,
    /// Linear-chain scores in the tag-pair layout (`structures::TAG_PAIRS`):
    /// `s[b, i, p, c] = e[b, i, c] + t[p, c]` for words `i ≥ 1`,
    /// `s[b, 0, 0, c] = e[b, 0, c] + start[c]`, zero in the other rows of
    /// word 0; inputs `e[B, N, K], t[K, K], start[K]`.
    ChainScores,
    /// Each word's tag weights `Σ_p z[b, i, p, c]` (word 0: `z[b, 0, 0, c]`)
    /// of a sequence latent `z[B, N, K, K]` → `[B, N, K]`.
    Tags,
    /// Attention-weighted sum over each sentence's words; inputs `x, lengths, w[D]`.
    AttentionPool,
    /// The last two axes swapped: `[…, N, M]` → `[…, M, N]`.
    Transpose,
    /// `out[b, i] = Σ_j softmax_j(s[b, i, ·]) v[b, j]` over the first
    /// `lengths[b]` positions j; inputs `s[B, N, M], v[B, M, D], lengths[B]`.
    Attend,
    Latent(LatentOp),
}

impl Op {
    pub fn name(&self) -> String {
        match self {
            Op::Input(n) => format!("input {n}"),
            Op::Param(i) => format!("param #{i}"),
            Op::Affine { scale, shift } => {
                format!("affine({}·x + {})", fmt_f(*scale), fmt_f(*shift))
            }
            Op::Dropout(p) => format!("dropout(p = {p})"),
            Op::OneHot(k) => format!("one_hot({k})"),
            Op::Latent(l) => {
                let f = l.forward().name();
                match l.surrogate() {
                    Some(s) => format!("latent {} = {f} via {}", l.name, s.name),
                    None => format!("latent {} = {f}", l.name),
                }
            }
            other => {
                let dbg = format!("{other:?}");
                let mut out = String::new();
                for (i, c) in dbg.chars().enumerate() {
                    if c.is_uppercase() {
                        if i > 0 {
                            out.push('_');
                        }
                        out.extend(c.to_lowercase());
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }
}

fn fmt_f(v: f64) -> String {
    crate::types::fmt_number(v)
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<NodeId>,
    /// Symbolic shape; `B` and `N` are bound by each batch.
    pub dims: Vec<Dim>,
    /// The spec value this node computes, if it is a named one.
    pub name: Option<String>,
    pub section: Section,
    /// The spec text this node comes from, for diagnostics (NaN, …).
    pub span: Span,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub params: Vec<Param>,
    /// Named values of the spec and the node computing each.
    pub values: Vec<(String, NodeId)>,
    pub loss: NodeId,
    /// The latent nodes, in node order (one per `latent` line).
    pub latents: Vec<NodeId>,
}

impl Graph {
    pub fn value(&self, name: &str) -> Option<NodeId> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }

    /// The latent node called `name`.
    pub fn latent_named(&self, name: &str) -> Option<NodeId> {
        self.latents
            .iter()
            .copied()
            .find(|&id| matches!(&self.nodes[id].op, Op::Latent(l) if l.name == name))
    }

    /// The latent nodes with their ops, in node order.
    pub fn latent_ops(&self) -> impl Iterator<Item = (NodeId, &LatentOp)> + '_ {
        self.latents
            .iter()
            .filter_map(|&id| match &self.nodes[id].op {
                Op::Latent(l) => Some((id, l)),
                _ => None,
            })
    }
}

fn dims_text(dims: &[Dim]) -> String {
    let d: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    format!("[{}]", d.join(", "))
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut section = None;
        for (i, n) in self.nodes.iter().enumerate() {
            if section != Some(n.section) {
                writeln!(f, "{}:", n.section.name())?;
                section = Some(n.section);
            }
            let inputs: Vec<String> = n.inputs.iter().map(|j| format!("%{j}")).collect();
            let name = n
                .name
                .as_ref()
                .map(|s| format!("  # {s}"))
                .unwrap_or_default();
            let op = match &n.op {
                Op::Param(p) => {
                    format!("param {} {:?}", self.params[*p].name, self.params[*p].shape)
                }
                op => op.name(),
            };
            let args = if inputs.is_empty() {
                String::new()
            } else {
                format!("({})", inputs.join(", "))
            };
            writeln!(
                f,
                "  %{i:<3} = {op}{args} : f32{}{name}",
                dims_text(&n.dims)
            )?;
        }
        writeln!(f, "loss: %{}", self.loss)?;
        let total: usize = self
            .params
            .iter()
            .map(|p| p.shape.iter().product::<usize>())
            .sum();
        write!(
            f,
            "{} parameter tensors, {} scalars",
            self.params.len(),
            total
        )
    }
}

impl Graph {
    /// Graphviz `dot` text: one box per node, clustered by section.
    pub fn to_dot(&self) -> String {
        let mut out = String::from(
            "digraph lsmc {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n",
        );
        for section in [
            Section::Data,
            Section::Encoder,
            Section::Latent,
            Section::Decoder,
            Section::Loss,
        ] {
            let members: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].section == section)
                .collect();
            if members.is_empty() {
                continue;
            }
            out.push_str(&format!(
                "  subgraph cluster_{0} {{\n    label=\"{0}\";\n",
                section.name()
            ));
            for i in members {
                let n = &self.nodes[i];
                let op = match &n.op {
                    Op::Param(p) => format!("param {}", self.params[*p].name),
                    op => op.name(),
                };
                let name = n
                    .name
                    .as_ref()
                    .map(|s| format!("{s} = "))
                    .unwrap_or_default();
                let label = format!("{name}{op}\\n{}", dims_text(&n.dims)).replace('"', "\\\"");
                let style = if matches!(n.op, Op::Latent(_)) {
                    ", style=bold"
                } else {
                    ""
                };
                out.push_str(&format!("    n{i} [label=\"{label}\"{style}];\n"));
            }
            out.push_str("  }\n");
        }
        for (i, n) in self.nodes.iter().enumerate() {
            for j in &n.inputs {
                out.push_str(&format!("  n{j} -> n{i};\n"));
            }
        }
        out.push_str("}\n");
        out
    }
}
