//! What a well-formed program is. The compiler only produces well-formed
//! ones; the runtime checks before it executes anything, so a program
//! built by hand (a test, another front end) that breaks a rule gets a
//! typed error naming the node instead of an index panic deep in a pass.

use crate::graph::{Graph, Mapping, NodeId, Op};
use crate::surrogate::{Expr, Intrinsic, Stmt, Surrogate};
use crate::types::Dim;
use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub enum GraphError {
    /// A node reads a node that does not come before it.
    NotTopological { node: NodeId, input: NodeId },
    /// A node has the wrong number of inputs for its op.
    Arity {
        node: NodeId,
        op: String,
        expected: String,
        found: usize,
    },
    /// A parameter node names a parameter the graph does not declare.
    NoSuchParam { node: NodeId, param: usize },
    /// The loss is missing or not a scalar.
    Loss(String),
    /// `values` or `latent` names a node that does not exist, or the
    /// latent node is not where `latent` says.
    Dangling(String),
    /// An op attribute out of its range (dropout p, one_hot k, …).
    Attribute { node: NodeId, message: String },
    /// A surrogate program that reads an unassigned slot or never returns.
    Surrogate { node: NodeId, message: String },
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::NotTopological { node, input } => {
                write!(
                    f,
                    "node %{node} reads %{input}, which does not come before it"
                )
            }
            GraphError::Arity {
                node,
                op,
                expected,
                found,
            } => write!(
                f,
                "node %{node} ({op}) takes {expected} inputs, but has {found}"
            ),
            GraphError::NoSuchParam { node, param } => {
                write!(
                    f,
                    "node %{node} reads parameter #{param}, which the graph does not declare"
                )
            }
            GraphError::Loss(m) | GraphError::Dangling(m) => f.write_str(m),
            GraphError::Attribute { node, message } | GraphError::Surrogate { node, message } => {
                write!(f, "node %{node}: {message}")
            }
        }
    }
}

impl std::error::Error for GraphError {}

/// The number of inputs an op takes: exactly `lo` when `hi` is `lo`, at
/// least `lo` when `hi` is `None`.
fn arity(op: &Op) -> (usize, Option<usize>) {
    let exactly = |n| (n, Some(n));
    match op {
        Op::Input(_) | Op::Param(_) | Op::Gumbel => exactly(0),
        Op::Affine { .. }
        | Op::Recip
        | Op::Neg
        | Op::Tanh
        | Op::Relu
        | Op::Sigmoid
        | Op::Exp
        | Op::Log
        | Op::Softmax
        | Op::LogSoftmax
        | Op::Dropout(_)
        | Op::Transpose
        | Op::Tags => exactly(1),
        Op::MatMul
        | Op::AddBias
        | Op::Add
        | Op::Sub
        | Op::Mul
        | Op::Div
        | Op::CrossEntropy
        | Op::SumPool
        | Op::MeanPool
        | Op::Embedding
        | Op::PrependRoot
        | Op::Heads => exactly(2),
        Op::Bilinear | Op::AttentionPool | Op::Attend | Op::ChainScores => exactly(3),
        Op::PairScore => exactly(4),
        Op::Lstm { .. } => exactly(6),
        Op::Concat => (1, None),
        // Labels, and for per-word labels the sentence lengths.
        Op::OneHot(_) => (1, Some(2)),
        // Scores, and for structures over words the sentence lengths.
        Op::Latent(l) if l.structure.scores.over_words() => exactly(2),
        Op::Latent(_) => exactly(1),
    }
}

impl Graph {
    /// Checks the rules every pass relies on; the first broken one is the error.
    pub fn validate(&self) -> Result<(), GraphError> {
        let n = self.nodes.len();
        for (i, node) in self.nodes.iter().enumerate() {
            if let Some(&input) = node.inputs.iter().find(|&&j| j >= i) {
                return Err(GraphError::NotTopological { node: i, input });
            }
            let (lo, hi) = arity(&node.op);
            let found = node.inputs.len();
            if found < lo || hi.is_some_and(|h| found > h) {
                return Err(GraphError::Arity {
                    node: i,
                    op: node.op.name(),
                    expected: match hi {
                        Some(h) => h.to_string(),
                        None => format!("at least {lo}"),
                    },
                    found,
                });
            }
            match &node.op {
                Op::Param(p) if *p >= self.params.len() => {
                    return Err(GraphError::NoSuchParam { node: i, param: *p })
                }
                Op::Dropout(p) if !(0.0..1.0).contains(p) => {
                    return Err(GraphError::Attribute {
                        node: i,
                        message: format!("dropout probability {p} is outside [0, 1)"),
                    })
                }
                Op::OneHot(0) => {
                    return Err(GraphError::Attribute {
                        node: i,
                        message: "one_hot over 0 classes".into(),
                    })
                }
                Op::Affine { scale, shift } if !scale.is_finite() || !shift.is_finite() => {
                    return Err(GraphError::Attribute {
                        node: i,
                        message: format!("a non-finite constant ({scale}·x + {shift})"),
                    })
                }
                Op::Latent(l) => {
                    if l.structure.scores.sized() && l.k == 0 {
                        return Err(GraphError::Attribute {
                            node: i,
                            message: format!("latent `{}` has 0 categories", l.name),
                        });
                    }
                    if let Mapping::SparseMap { max_iter: 0, .. } = l.mapping {
                        return Err(GraphError::Attribute {
                            node: i,
                            message: "sparsemap with max_iter 0".into(),
                        });
                    }
                    if let Some(s) = l.surrogate() {
                        validate_surrogate(s)
                            .map_err(|message| GraphError::Surrogate { node: i, message })?;
                    }
                }
                _ => {}
            }
        }
        if self.loss >= n {
            return Err(GraphError::Loss(format!(
                "the loss is node %{}, but the graph has {n} nodes",
                self.loss
            )));
        }
        let loss = &self.nodes[self.loss];
        if !loss.dims.is_empty() {
            return Err(GraphError::Loss(format!(
                "the loss (%{}) has shape {:?}; it must be a scalar",
                self.loss,
                loss.dims.iter().map(Dim::to_string).collect::<Vec<_>>()
            )));
        }
        if let Some((name, id)) = self.values.iter().find(|(_, id)| *id >= n) {
            return Err(GraphError::Dangling(format!(
                "value `{name}` is node %{id}, but the graph has {n} nodes"
            )));
        }
        let latents: Vec<NodeId> = (0..n)
            .filter(|&i| matches!(self.nodes[i].op, Op::Latent(_)))
            .collect();
        if self.latents != latents {
            return Err(GraphError::Dangling(format!(
                "the graph lists its latents as {:?}, but the latent nodes are {latents:?}",
                self.latents
            )));
        }
        // Checkpoints, statistics and `lsmc inspect --latent` tell latents
        // apart by name.
        let names: Vec<&str> = self.latent_ops().map(|(_, l)| l.name.as_str()).collect();
        if let Some((i, name)) = names
            .iter()
            .enumerate()
            .find(|(i, name)| names[..*i].contains(name))
        {
            return Err(GraphError::Dangling(format!(
                "two latent nodes are called `{name}` (%{} and %{})",
                latents[names.iter().position(|n| n == name).expect("found")],
                latents[i]
            )));
        }
        Ok(())
    }
}

/// Every slot read is an argument or assigned earlier in program order,
/// and the top level returns.
fn validate_surrogate(s: &Surrogate) -> Result<(), String> {
    let mut assigned = vec![false; s.slots.len()];
    for a in assigned.iter_mut().take(s.args.len()) {
        *a = true;
    }
    if s.args.len() > s.slots.len() {
        return Err(format!(
            "surrogate `{}` has {} arguments but {} slots",
            s.name,
            s.args.len(),
            s.slots.len()
        ));
    }
    stmts(s, &s.body, &mut assigned)?;
    if !s.body.iter().any(|st| matches!(st, Stmt::Return(_))) {
        return Err(format!("surrogate `{}` never returns", s.name));
    }
    Ok(())
}

fn stmts(s: &Surrogate, body: &[Stmt], assigned: &mut [bool]) -> Result<(), String> {
    for st in body {
        match st {
            Stmt::Assign { slot, value } => {
                expr(s, value, assigned)?;
                *assigned.get_mut(*slot).ok_or_else(|| {
                    format!(
                        "surrogate `{}` assigns slot {slot}, which it does not have",
                        s.name
                    )
                })? = true;
            }
            Stmt::Repeat { count, body, .. } => {
                expr(s, count, assigned)?;
                stmts(s, body, assigned)?;
            }
            Stmt::Return(e) => expr(s, e, assigned)?,
        }
    }
    Ok(())
}

fn expr(s: &Surrogate, e: &Expr, assigned: &[bool]) -> Result<(), String> {
    let sub = |e: &Expr| expr(s, e, assigned);
    match e {
        Expr::Number(_) | Expr::Scores | Expr::Forward => Ok(()),
        Expr::Var(slot) => match assigned.get(*slot) {
            Some(true) => Ok(()),
            Some(false) => Err(format!(
                "surrogate `{}` reads `{}` before assigning it",
                s.name, s.slots[*slot]
            )),
            None => Err(format!(
                "surrogate `{}` reads slot {slot}, which it does not have",
                s.name
            )),
        },
        Expr::Neg(x) => sub(x),
        Expr::Binary { lhs, rhs, .. } => {
            sub(lhs)?;
            sub(rhs)
        }
        Expr::Call { op, .. } => match op {
            Intrinsic::Map(x)
            | Intrinsic::Marg(x)
            | Intrinsic::Sample(x)
            | Intrinsic::Grad(x)
            | Intrinsic::Loss(x)
            | Intrinsic::BatchMean(x)
            | Intrinsic::Exp(x)
            | Intrinsic::Log(x) => sub(x),
            Intrinsic::Project { at, max_iter } => {
                sub(at)?;
                max_iter.as_deref().map_or(Ok(()), sub)
            }
            Intrinsic::Vjp { at, g, .. } => {
                sub(at)?;
                sub(g)
            }
            Intrinsic::RunningMean { value, decay, .. } => {
                sub(value)?;
                sub(decay)
            }
            Intrinsic::Zeros | Intrinsic::Gumbel | Intrinsic::BatchSize => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Init, LatentOp, Node, Param, Section};
    use crate::span::{FileId, Span};
    use crate::structures::{made_up, CATEGORIES};
    use crate::surrogate::{BinOp, Surrogate};
    use crate::types::Dim;

    fn node(op: Op, inputs: Vec<NodeId>, dims: Vec<Dim>) -> Node {
        Node {
            op,
            inputs,
            dims,
            name: None,
            section: Section::Encoder,
            span: Span::new(FileId(0), 0, 0),
        }
    }

    /// x → linear → cross-entropy: the smallest well-formed graph.
    fn small() -> Graph {
        let b = Dim::Sym("B", 0);
        Graph {
            nodes: vec![
                node(Op::Input("x".into()), vec![], vec![b, Dim::Const(3)]),
                node(Op::Param(0), vec![], vec![Dim::Const(3), Dim::Const(2)]),
                node(Op::MatMul, vec![0, 1], vec![b, Dim::Const(2)]),
                node(Op::Input("y".into()), vec![], vec![b]),
                node(Op::CrossEntropy, vec![2, 3], vec![]),
            ],
            params: vec![Param {
                name: "w".into(),
                shape: vec![3, 2],
                init: Init::Zeros,
                section: Section::Encoder,
            }],
            values: vec![],
            loss: 4,
            latents: vec![],
        }
    }

    #[test]
    fn a_well_formed_graph_passes() {
        assert_eq!(small().validate(), Ok(()));
    }

    #[test]
    fn a_node_reading_a_later_node_is_refused() {
        let mut g = small();
        g.nodes[2].inputs = vec![0, 3];
        assert_eq!(
            g.validate(),
            Err(GraphError::NotTopological { node: 2, input: 3 })
        );
    }

    #[test]
    fn a_node_with_the_wrong_number_of_inputs_is_refused() {
        let mut g = small();
        g.nodes[2].inputs = vec![0];
        assert!(matches!(
            g.validate(),
            Err(GraphError::Arity {
                node: 2,
                found: 1,
                ..
            })
        ));
    }

    #[test]
    fn a_parameter_the_graph_does_not_declare_is_refused() {
        let mut g = small();
        g.nodes[1].op = Op::Param(7);
        assert_eq!(
            g.validate(),
            Err(GraphError::NoSuchParam { node: 1, param: 7 })
        );
    }

    #[test]
    fn a_loss_that_is_not_a_scalar_or_not_a_node_is_refused() {
        let mut g = small();
        g.loss = 2;
        assert!(matches!(g.validate(), Err(GraphError::Loss(_))));
        g.loss = 99;
        assert!(matches!(g.validate(), Err(GraphError::Loss(_))));
    }

    #[test]
    fn out_of_range_attributes_are_refused() {
        let mut g = small();
        g.nodes[2] = node(Op::Dropout(1.5), vec![0], vec![]);
        assert!(matches!(
            g.validate(),
            Err(GraphError::Attribute { node: 2, .. })
        ));
    }

    fn latent_graph(via: Surrogate) -> Graph {
        let mut g = small();
        let b = Dim::Sym("B", 0);
        g.nodes[2] = node(
            Op::Latent(LatentOp {
                name: "z".into(),
                structure: made_up("categorical", "categorical", None, CATEGORIES),
                k: 2,
                single_root: true,
                mapping: Mapping::Argmax { via },
            }),
            vec![0],
            vec![b, Dim::Const(2)],
        );
        g.latents = vec![2];
        g
    }

    fn surrogate(slots: &[&str], body: Vec<Stmt>) -> Surrogate {
        Surrogate {
            name: "mine".into(),
            args: vec![("eta".into(), 1.0)],
            slots: slots.iter().map(|s| s.to_string()).collect(),
            body,
            span: Span::new(FileId(0), 0, 0),
        }
    }

    #[test]
    fn a_surrogate_reading_a_slot_before_assigning_it_is_refused() {
        let reads_mu = Expr::Binary {
            op: BinOp::Sub,
            lhs: Box::new(Expr::Forward),
            rhs: Box::new(Expr::Var(1)),
        };
        let g = latent_graph(surrogate(
            &["eta", "mu"],
            vec![Stmt::Return(reads_mu.clone())],
        ));
        assert!(matches!(
            g.validate(),
            Err(GraphError::Surrogate { node: 2, ref message }) if message.contains("`mu`")
        ));
        let assigned = vec![
            Stmt::Assign {
                slot: 1,
                value: Expr::Scores,
            },
            Stmt::Return(reads_mu),
        ];
        assert_eq!(
            latent_graph(surrogate(&["eta", "mu"], assigned)).validate(),
            Ok(())
        );
    }

    #[test]
    fn a_surrogate_that_never_returns_is_refused() {
        let g = latent_graph(surrogate(
            &["eta"],
            vec![Stmt::Repeat {
                count: Expr::Number(1.0),
                body: vec![],
                span: Span::new(FileId(0), 0, 0),
            }],
        ));
        assert!(matches!(g.validate(), Err(GraphError::Surrogate { .. })));
    }

    #[test]
    fn the_latents_field_must_list_the_latent_nodes() {
        let mut g = latent_graph(surrogate(&["eta"], vec![Stmt::Return(Expr::Scores)]));
        g.latents = vec![];
        assert!(matches!(g.validate(), Err(GraphError::Dangling(_))));
    }

    /// Two latents over the same scores: `%2` and `%3` (the loss moves to `%5`).
    fn two_latents(second: &str) -> Graph {
        let mut g = latent_graph(surrogate(&["eta"], vec![Stmt::Return(Expr::Scores)]));
        let mut other = g.nodes[2].clone();
        if let Op::Latent(l) = &mut other.op {
            l.name = second.into();
        }
        g.nodes.insert(3, other);
        g.nodes[5].inputs = vec![3, 4];
        g.loss = 5;
        g.latents = vec![2, 3];
        g
    }

    #[test]
    fn several_latents_with_distinct_names_pass() {
        assert_eq!(two_latents("z2").validate(), Ok(()));
    }

    #[test]
    fn latents_listed_out_of_order_or_sharing_a_name_are_refused() {
        let mut g = two_latents("z2");
        g.latents = vec![3, 2];
        assert!(matches!(g.validate(), Err(GraphError::Dangling(_))));
        assert!(matches!(
            two_latents("z").validate(),
            Err(GraphError::Dangling(ref m)) if m.contains("`z`")
        ));
    }
}
