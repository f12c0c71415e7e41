//! A dependency-tree latent inside a graph: the executor's forward runs the
//! structured engine on padded scores with per-sentence lengths, and its
//! backward (the exact VJP of marginals or SparseMAP) matches central
//! finite differences of the loss in f64.

use lsmc_compiler::ir::{Graph, Init, LatentOp, Node, Op, Param, Section};
use lsmc_compiler::model::Forward;
use lsmc_compiler::span::{FileId, Span};
use lsmc_compiler::types::StructureKind;
use lsmc_runtime::exec::{Batch, Executor};
use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::sync::Arc;

const B: usize = 3;
const N1: usize = 6;

fn node(op: Op, inputs: Vec<usize>, section: Section) -> Node {
    Node {
        op,
        inputs,
        dims: Vec::new(),
        name: None,
        section,
        span: Span::new(FileId(0), 0, 0),
    }
}

/// scores (a parameter) → latent → µ ⊙ w → masked sum over heads → cross-entropy.
fn graph(structure: StructureKind, forward: Forward) -> Graph {
    let latent = LatentOp {
        name: "z".into(),
        structure,
        k: 0,
        single_root: true,
        forward,
        surrogate: None,
    };
    Graph {
        nodes: vec![
            node(Op::Param(0), vec![], Section::Encoder),
            node(Op::Input("lengths".into()), vec![], Section::Data),
            node(Op::Latent(latent), vec![0, 1], Section::Latent),
            node(Op::Input("w".into()), vec![], Section::Data),
            node(Op::Mul, vec![2, 3], Section::Decoder),
            node(Op::SumPool, vec![4, 1], Section::Decoder),
            node(Op::Input("y".into()), vec![], Section::Data),
            node(Op::CrossEntropy, vec![5, 6], Section::Loss),
        ],
        params: vec![Param {
            name: "encoder.s".into(),
            shape: vec![B, N1, N1],
            init: Init::Zeros,
            section: Section::Encoder,
        }],
        values: vec![("z".into(), 2)],
        loss: 7,
        latent: Some(2),
    }
}

fn batch(rng: &mut ChaCha8Rng) -> Batch<f64> {
    let mut inputs = HashMap::new();
    inputs.insert(
        "lengths".into(),
        Arc::new(ArrayD::from_shape_vec(IxDyn(&[B]), vec![5.0, 2.0, 4.0]).unwrap()),
    );
    inputs.insert(
        "w".into(),
        Arc::new(ArrayD::from_shape_simple_fn(IxDyn(&[B, N1, N1]), || {
            rng.random::<f64>() * 2.0 - 1.0
        })),
    );
    inputs.insert(
        "y".into(),
        Arc::new(ArrayD::from_shape_vec(IxDyn(&[B]), vec![1.0, 0.0, 3.0]).unwrap()),
    );
    Batch {
        inputs,
        size: B,
        seq_len: N1 - 1,
    }
}

fn check(structure: StructureKind, forward: Forward) {
    let g = graph(structure, forward);
    let exec = Executor::new(&g).expect("runnable");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let batch = batch(&mut rng);
    let params = vec![ArrayD::from_shape_simple_fn(IxDyn(&[B, N1, N1]), || {
        rng.random::<f64>() * 2.0 - 1.0
    })];
    let loss = |p: &[ArrayD<f64>]| {
        let mut r = ChaCha8Rng::seed_from_u64(1);
        exec.loss(&exec.forward(p, &batch, true, &mut r).expect("finite"))
    };
    let mut r = ChaCha8Rng::seed_from_u64(1);
    let pass = exec.forward(&params, &batch, true, &mut r).unwrap();
    // Padding never joins a tree: the latent value is zero there.
    let z = pass.value(2);
    for (b, &n) in [5usize, 2, 4].iter().enumerate() {
        for h in 0..N1 {
            for m in 0..N1 {
                if h > n || m > n || m == 0 || h == m {
                    assert_eq!(z[[b, h, m]], 0.0, "{structure:?} item {b}: {h}->{m}");
                }
            }
        }
    }
    let mut state = Default::default();
    let (grads, _) = exec
        .backward(&pass, &params, &batch, &mut r, &mut state, false)
        .unwrap();
    let norm: f64 = grads[0].iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!(
        norm > 1e-3,
        "{structure:?} {forward:?}: the gradient is {norm}, nothing to check"
    );
    let e = 1e-6;
    for j in 0..params[0].len() {
        let (mut p, mut q) = (params.clone(), params.clone());
        p[0].as_slice_mut().unwrap()[j] += e;
        q[0].as_slice_mut().unwrap()[j] -= e;
        let fd = (loss(&p) - loss(&q)) / (2.0 * e);
        let an = grads[0].as_slice().unwrap()[j];
        assert!(
            (an - fd).abs() < 1e-6,
            "{structure:?} {forward:?} entry {j}: {an} vs {fd}"
        );
    }
}

#[test]
fn projective_marginals_backward_matches_finite_differences() {
    check(StructureKind::Projective, Forward::Marg);
}

#[test]
fn nonprojective_marginals_backward_matches_finite_differences() {
    check(StructureKind::Nonprojective, Forward::Marg);
}

#[test]
fn projective_sparsemap_backward_matches_finite_differences() {
    check(StructureKind::Projective, Forward::SparseMap);
}
