//! A dependency-tree latent inside a graph: the executor's forward runs the
//! structured engine on padded scores with per-sentence lengths, and its
//! backward (the exact VJP of marginals or SparseMAP) matches central
//! finite differences of the loss in f64.

use crate::cx;
use lsmc_ir::graph::{Forward, Graph, Init, LatentOp, Mapping, Node, Op, Param, Section};
use lsmc_ir::span::{FileId, Span};
use lsmc_ir::structures::Descriptor;
use lsmc_runtime::exec::{BackwardInfo, Batch, ExecError, Executor};
use lsmc_runtime::latent::registry::catalog;
use lsmc_runtime::latent::structure::Structure;
use lsmc_runtime::latent::tree::{NONPROJECTIVE, PROJECTIVE};
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
fn graph(structure: &'static Descriptor, forward: Forward) -> Graph {
    graph_with(LatentOp {
        name: "z".into(),
        structure,
        k: 0,
        single_root: true,
        mapping: match forward {
            Forward::Marg => Mapping::Marg { via: None },
            Forward::SparseMap => Mapping::SparseMap {
                max_iter: 500,
                via: None,
            },
            other => panic!("{other:?} needs a surrogate"),
        },
    })
}

fn graph_with(latent: LatentOp) -> Graph {
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
        latents: vec![2],
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
        seq_lens: vec![("N", N1 - 1)],
    }
}

fn check(structure: &'static Descriptor, forward: Forward) {
    let g = graph(structure, forward);
    let exec = Executor::new(&g, cx()).expect("runnable");
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
    check(&PROJECTIVE, Forward::Marg);
}

#[test]
fn nonprojective_marginals_backward_matches_finite_differences() {
    check(&NONPROJECTIVE, Forward::Marg);
}

#[test]
fn projective_sparsemap_backward_matches_finite_differences() {
    check(&PROJECTIVE, Forward::SparseMap);
}

/// The latent line of an SST spec in `models/sst/` with `--set` flags,
/// checked: its surrogate call, as the compiler resolved it from the prelude.
fn sst_latent(spec: &str, set: &[&str]) -> LatentOp {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models/sst")
        .join(spec);
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    let report = lsmc_compiler::check_path(&path, spec, &set, catalog()).expect("readable");
    assert!(!report.has_errors(), "{:?}", report.diagnostics);
    let program = lsmc_compiler::lower::lower(&report.model.expect("checked")).expect("lowers");
    let latent = program.graph.latents[0];
    match &program.graph.nodes[latent].op {
        Op::Latent(l) => l.clone(),
        other => panic!("the latent node is {other:?}"),
    }
}

/// Forward and traced backward through the latent of an SST spec, on
/// random scores.
fn traced_backward(spec: &str, set: &[&str]) -> Result<BackwardInfo<f64>, ExecError> {
    let g = graph_with(sst_latent(spec, set));
    let exec = Executor::new(&g, cx()).expect("runnable");
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let batch = batch(&mut rng);
    let params = vec![ArrayD::from_shape_simple_fn(IxDyn(&[B, N1, N1]), || {
        rng.random::<f64>() * 2.0 - 1.0
    })];
    let pass = exec.forward(&params, &batch, true, &mut rng).unwrap();
    let mut state = Default::default();
    exec.backward(&pass, &params, &batch, &mut rng, &mut state, true)
        .map(|(_, info)| info)
}

/// One traced backward pass through a projective-tree latent with a
/// surrogate: (scores, z, γ(z), iterates, surrogate gradient, decoder calls).
#[allow(clippy::type_complexity)]
fn tree_surrogate(
    spec: &str,
    set: &[&str],
) -> (
    ArrayD<f64>,
    ArrayD<f64>,
    Vec<lsmc_runtime::latent::surrogate::Iterate<f64>>,
    ArrayD<f64>,
    usize,
) {
    let info = traced_backward(spec, set).unwrap();
    let t = info.latents.into_iter().next().expect("traced");
    (
        t.scores,
        t.forward,
        t.iterates,
        t.surrogate_grad,
        info.decoder_calls,
    )
}

const LENGTHS: [usize; 3] = [5, 2, 4];

fn projective() -> Structure {
    Structure::new(&PROJECTIVE, true)
}

/// Compares within 1e-10, and refuses a trivially zero expectation.
fn close(a: &ArrayD<f64>, b: &ArrayD<f64>) {
    assert!(b.iter().any(|v| v.abs() > 1e-6), "nothing to compare: {b}");
    assert_eq!(a.shape(), b.shape());
    for (x, y) in a.iter().zip(b.iter()) {
        assert!((x - y).abs() < 1e-10, "{a}\nvs\n{b}");
    }
}

#[test]
fn tree_surrogates_return_the_papers_closed_forms() {
    let st = projective();
    let ls = Some(&LENGTHS[..]);
    let eta = 0.7;
    let set = [format!("z.eta={eta}")];
    let set: Vec<&str> = set.iter().map(String::as_str).collect();

    // STE-I (Eq. 15): η·γ(z) on the arcs (parts no tree has, and padding,
    // get nothing), no decoder call.
    let (_, z, its, g, calls) = tree_surrogate("ste_i.lsm", &set);
    assert_eq!(its[0].mu, z);
    let mut want = its[0].grad.mapv(|v| eta * v);
    for (b, &len) in LENGTHS.iter().enumerate() {
        for h in 0..N1 {
            for m in 0..N1 {
                if m == 0 || h == m || h > len || m > len {
                    want[[b, h, m]] = 0.0;
                }
            }
        }
    }
    close(&g, &want);
    assert_eq!(calls, 0);

    // SPIGOT (Eq. 9/14): ẑ − Π_M(ẑ − ηγ(ẑ)), no decoder call.
    let (s, z, its, g, calls) = tree_surrogate("spigot.lsm", &set);
    assert_eq!(z, st.map(cx(), &s, ls).unwrap());
    let pulled = &z - &its[0].grad.mapv(|v| eta * v);
    close(&g, &(&z - &st.sparsemap(cx(), &pulled, ls).unwrap()));
    assert_eq!(calls, 0);

    // SPIGOT-CE (Eq. 16–17): µ⁽⁰⁾ − Π_M(µ⁽⁰⁾ − ηγ(µ⁽⁰⁾)), µ⁽⁰⁾ = Marg(s); one call.
    // Exact with a large budget; the SST spec's 10 iterations stop short.
    let exact = [format!("z.eta={eta}"), "z.max_iter=500".to_string()];
    let exact: Vec<&str> = exact.iter().map(String::as_str).collect();
    let (s, _, its, g, calls) = tree_surrogate("spigot_ce.lsm", &exact);
    let mu0 = st.marginals(cx(), &s, ls).unwrap().1;
    close(&its[0].mu, &mu0);
    let pulled = &mu0 - &its[0].grad.mapv(|v| eta * v);
    close(&g, &(&mu0 - &st.sparsemap(cx(), &pulled, ls).unwrap()));
    assert_eq!(calls, 1);
    let (_, _, its, capped, _) = tree_surrogate("spigot_ce.lsm", &set);
    let pulled = &mu0 - &its[0].grad.mapv(|v| eta * v);
    close(
        &capped,
        &(&mu0 - &st.sparsemap_within(cx(), &pulled, ls, 10, None).unwrap()),
    );
    assert!(
        (&capped - &g).iter().any(|v| v.abs() > 1e-6),
        "10 iterations do not reach this interior point's projection"
    );

    // SPIGOT-EG (Eq. 20–22): Marg(s) − Marg(s − ηγ(Marg(s))); one call.
    let (s, _, its, g, calls) = tree_surrogate("spigot_eg.lsm", &set);
    let mu0 = st.marginals(cx(), &s, ls).unwrap().1;
    close(&its[0].mu, &mu0);
    let moved = &s - &its[0].grad.mapv(|v| eta * v);
    close(&g, &(&mu0 - &st.marginals(cx(), &moved, ls).unwrap().1));
    assert_eq!(calls, 1);

    // k steps add k − 1 calls, and equal the hand-unrolled loop.
    let set3 = [format!("z.eta={eta}"), "z.steps=3".to_string()];
    let set3: Vec<&str> = set3.iter().map(String::as_str).collect();
    let (_, z, its, g, calls) = tree_surrogate("spigot.lsm", &set3);
    let mut mu = z.clone();
    for it in &its {
        close(&it.mu, &mu);
        mu = st
            .sparsemap(cx(), &(&mu - &it.grad.mapv(|v| eta * v)), ls)
            .unwrap();
    }
    assert_eq!(its.len(), 3);
    close(&g, &(&z - &mu));
    assert_eq!(calls, 2);
    let (s, _, its, g, calls) = tree_surrogate("spigot_eg.lsm", &set3);
    let mu0 = st.marginals(cx(), &s, ls).unwrap().1;
    let (mut t, mut mu) = (s.clone(), mu0.clone());
    for it in &its {
        close(&it.mu, &mu);
        t = &t - &it.grad.mapv(|v| eta * v);
        mu = st.marginals(cx(), &t, ls).unwrap().1;
    }
    assert_eq!(its.len(), 3);
    close(&g, &(&mu0 - &mu));
    assert_eq!(calls, 3);
}

#[test]
fn ste_marginals_on_trees_is_the_marginals_vjp() {
    let (s, z, its, g, calls) = tree_surrogate("ste_s.lsm", &[]);
    assert_eq!(its[0].mu, z);
    let want = projective()
        .marginals_vjp(cx(), &s, Some(&LENGTHS[..]), &its[0].grad)
        .unwrap();
    close(&g, &want);
    assert_eq!(calls, 0);
}

#[test]
fn the_sst_sparsemap_spec_caps_its_active_set_as_the_papers_solver_does() {
    let l = sst_latent("sparsemap.lsm", &[]);
    assert_eq!((l.forward(), l.max_iter()), (Forward::SparseMap, Some(10)));
    let g = graph_with(l);
    let exec = Executor::new(&g, cx()).expect("runnable");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let batch = batch(&mut rng);
    // Small scores: the projection lies deep inside, beyond 10 iterations.
    let s = ArrayD::from_shape_simple_fn(IxDyn(&[B, N1, N1]), || rng.random::<f64>() * 0.02 - 0.01);
    let pass = exec
        .forward(std::slice::from_ref(&s), &batch, true, &mut rng)
        .unwrap();
    let ls = Some(&LENGTHS[..]);
    let st = projective();
    let capped = st.sparsemap_within(cx(), &s, ls, 10, None).unwrap();
    let z = pass.value(2);
    assert_eq!(z, &capped);
    assert_ne!(z, &st.sparsemap(cx(), &s, ls).unwrap());
}

#[test]
fn a_projection_budget_that_is_not_a_whole_positive_number_is_an_error() {
    for bad in ["0", "2.5"] {
        let set = format!("z.max_iter={bad}");
        let Err(err) = traced_backward("spigot_ce.lsm", &[&set]) else {
            panic!("max_iter={bad} was accepted");
        };
        let text = format!("{err:?}");
        assert!(
            text.contains("max_iter must be a whole number of at least 1"),
            "{text}"
        );
    }
}

/// A graph built by hand, not by the compiler, that breaks a rule every
/// pass relies on is refused before anything runs, with the node named.
#[test]
fn the_executor_refuses_a_graph_that_breaks_a_rule() {
    let mut g = graph(&PROJECTIVE, Forward::Marg);
    // The latent node without its lengths input.
    g.nodes[2].inputs = vec![0];
    match Executor::new(&g, cx()) {
        Err(ExecError::Invalid(e)) => {
            assert!(e.to_string().contains("node %2"), "{e}")
        }
        Err(other) => panic!("refused for another reason: {other:?}"),
        Ok(_) => panic!("accepted a latent node without its lengths"),
    }
    // A loss that is no node of the graph.
    let mut g = graph(&PROJECTIVE, Forward::Marg);
    g.loss = 99;
    assert!(matches!(
        Executor::new(&g, cx()),
        Err(ExecError::Invalid(_))
    ));
}

#[test]
fn the_executor_refuses_a_tree_past_its_contexts_word_limit_naming_the_item() {
    // Lengths 5, 2, 4: a limit of 4 stops item 0 of the batch, 5 lets all run.
    let g = graph(&PROJECTIVE, Forward::Marg);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let batch = batch(&mut rng);
    let params = vec![ArrayD::zeros(IxDyn(&[B, N1, N1]))];
    for (limit, refused) in [(4, true), (5, false)] {
        let cx = lsmc_runtime::Context::cpu(1).with_max_words(limit);
        let exec = Executor::new(&g, &cx).expect("runnable");
        let got = exec.forward(&params, &batch, false, &mut rng);
        match got {
            Err(e) if refused => assert!(
                e.to_string().contains("item 0 of the batch has 5 words under the tree latent `z`, more than the limit of 4"),
                "{e}"
            ),
            Ok(_) if !refused => {}
            other => panic!("limit {limit}: {:?}", other.err()),
        }
    }
}
