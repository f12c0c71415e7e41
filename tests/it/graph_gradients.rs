//! Whole-graph gradients: the executor's backward pass (every op's VJP
//! composed, fan-out accumulated, the latent node in the middle) against
//! central finite differences of the loss in f64; and the latent node's
//! surrogate backward against the paper's closed forms.

use crate::cx;
use lsmc_compiler::{check_text, lower::lower, Origin};
use lsmc_ir::Program;
use lsmc_runtime::data::{self, Dataset};
use lsmc_runtime::exec::Executor;
use lsmc_runtime::latent::registry::catalog;
use lsmc_runtime::train::init_params;
use ndarray::ArrayD;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub(crate) fn build(spec: &str) -> Program {
    let r = check_text("test.lsm", spec, Origin::CommandLine, &[], catalog());
    assert!(!r.has_errors(), "{:?}", r.diagnostics);
    lower(&r.model.expect("checked")).expect("lowers")
}

const RELAXED: &str = "
data synthetic_mixture(clusters = 3, features = 6, train = 12, valid = 4, test = 4, seed = 9)
encoder { h = tanh(linear(x, 5)); s = linear(concat(h, x), 3) / 2 }
latent z : categorical(3) = marg(s)
decoder {
  a = mlp(concat(z, x), 4, sigmoid, 3)
  y_hat = bilinear(z, x, 2) + linear(exp(log_softmax(a)) * 2 - 1, 2)
}
loss cross_entropy(y_hat, y)
train { optimizer adam(lr = 1e-3)  batch full  steps 1 }
";

fn loss_at(exec: &Executor, params: &[ArrayD<f64>], data: &Dataset<f64>) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let pass = exec
        .forward(params, &data.train.all(), true, &mut rng)
        .expect("finite");
    exec.loss(&pass)
}

#[test]
fn the_backward_pass_of_a_whole_graph_matches_finite_differences() {
    assert!(matches_finite_differences(RELAXED) > 100);
}

/// Checks every parameter gradient of `spec`'s graph (a differentiable
/// one) against central finite differences in f64; returns how many.
pub(crate) fn matches_finite_differences(spec: &str) -> usize {
    check_against_finite_differences(&build(spec))
}

/// Checks every parameter's gradient of `program`'s loss (on its whole
/// training split, in f64) against central finite differences; returns
/// how many scalars were checked.
pub(crate) fn check_against_finite_differences(program: &Program) -> usize {
    let graph = &program.graph;
    let data: Dataset<f64> = data::load(&program.data).expect("the spec's data");
    let exec = Executor::new(graph, cx()).expect("runnable");
    let params = init_params(graph, &data, 3).expect("initialised");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let batch = data.train.all();
    let pass = exec.forward(&params, &batch, true, &mut rng).unwrap();
    let mut state = Default::default();
    let (grads, _) = exec
        .backward(&pass, &params, &batch, &mut rng, &mut state, false)
        .unwrap();
    let h = 1e-6;
    let mut checked = 0;
    for (p, g) in grads.iter().enumerate() {
        for j in 0..params[p].len() {
            let mut plus = params.clone();
            let mut minus = params.clone();
            plus[p].as_slice_mut().unwrap()[j] += h;
            minus[p].as_slice_mut().unwrap()[j] -= h;
            let numeric =
                (loss_at(&exec, &plus, &data) - loss_at(&exec, &minus, &data)) / (2.0 * h);
            let analytic = g.as_slice().unwrap()[j];
            let err = (analytic - numeric).abs() / analytic.abs().max(numeric.abs()).max(1e-2);
            assert!(
                err < 1e-6,
                "{}[{j}]: {analytic} vs {numeric}",
                graph.params[p].name
            );
            checked += 1;
        }
    }
    checked
}

/// Runs one backward pass and returns (scores, z, gradient at z, gradient
/// the latent node sends to the scores, decoder calls).
fn latent_backward(spec: &str) -> (ArrayD<f64>, ArrayD<f64>, ArrayD<f64>, ArrayD<f64>, usize) {
    let program = build(spec);
    let graph = &program.graph;
    let data: Dataset<f64> = data::load(&program.data).unwrap();
    let exec = Executor::new(graph, cx()).unwrap();
    let params = init_params(graph, &data, 5).expect("initialised");
    let batch = data.train.all();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let pass = exec.forward(&params, &batch, true, &mut rng).unwrap();
    let mut state = Default::default();
    let (_, info) = exec
        .backward(&pass, &params, &batch, &mut rng, &mut state, true)
        .unwrap();
    let t = info.latents.into_iter().next().expect("traced");
    let gz = t
        .iterates
        .first()
        .map(|i| i.grad.clone())
        .expect("grad(z) is the first iterate");
    (
        t.scores,
        t.forward,
        gz,
        t.surrogate_grad,
        info.decoder_calls,
    )
}

fn spec_with(via: &str) -> String {
    format!(
        "data synthetic_mixture(clusters = 4, features = 5, train = 10, valid = 2, test = 2, seed = 4)
         encoder {{ s = linear(x, 4) }}
         latent z : categorical(4) = argmax(s) via {via}
         decoder {{ y_hat = bilinear(z, x, 2) }}
         loss cross_entropy(y_hat, y)
         train {{ optimizer adam  batch full  steps 1 }}"
    )
}

fn close(a: &ArrayD<f64>, b: &ArrayD<f64>) {
    assert_eq!(a.shape(), b.shape());
    for (x, y) in a.iter().zip(b.iter()) {
        assert!((x - y).abs() < 1e-12, "{a}\nvs\n{b}");
    }
}

#[test]
fn straight_through_identity_passes_the_gradient_through_unchanged() {
    // STE-I with η = 1 and one step returns η·γ(z) = γ(z) (Eq. 15): the
    // plain straight-through estimator.
    let (_, _, gz, g, calls) = latent_backward(&spec_with("ste_identity(eta = 1, steps = 1)"));
    close(&g, &gz);
    assert_eq!(calls, 0, "grad(z) is free");
    let (_, _, gz, g, _) = latent_backward(&spec_with("ste_identity(eta = 0.3, steps = 1)"));
    close(&g, &gz.mapv(|v| 0.3 * v));
}

#[test]
fn spigot_returns_z_minus_the_projection_of_the_pulled_back_point() {
    // Eq. 9: ẑ − Π_Δ(ẑ − ηγ), with the projection computed independently
    // here by bisection on the simplex threshold.
    let eta = 0.7;
    let (_, z, gz, g, calls) =
        latent_backward(&spec_with(&format!("spigot(eta = {eta}, steps = 1)")));
    let target = &z - &gz.mapv(|v| eta * v);
    let mut want = z.clone();
    for (b, row) in target.outer_iter().enumerate() {
        let (mut lo, mut hi) = (-10.0f64, 10.0f64);
        for _ in 0..200 {
            let tau = (lo + hi) / 2.0;
            let sum: f64 = row.iter().map(|v| (v - tau).max(0.0)).sum();
            if sum > 1.0 {
                lo = tau
            } else {
                hi = tau
            }
        }
        for (k, v) in row.iter().enumerate() {
            want[[b, k]] = z[[b, k]] - (v - lo).max(0.0);
        }
    }
    close(&g, &want);
    assert_eq!(calls, 0);
}

#[test]
fn spigot_ce_costs_one_decoder_call_per_step() {
    let (_, _, _, _, calls) = latent_backward(&spec_with("spigot_ce(eta = 0.5, steps = 1)"));
    assert_eq!(calls, 1);
    let (_, _, _, _, calls) = latent_backward(&spec_with("spigot_ce(eta = 0.5, steps = 3)"));
    assert_eq!(calls, 3);
}

/// Per-example losses ℓ[i][k] with the latent forced to cluster k: the
/// encoder's weight zeroed and its bias made overwhelming for k, so that
/// the sampled forward is e_k whatever the draw.
fn loss_per_cluster(
    exec: &Executor,
    graph: &lsmc_ir::Graph,
    params: &[ArrayD<f64>],
    batch: &lsmc_runtime::exec::Batch<f64>,
    k: usize,
) -> Vec<f64> {
    let mut forced = params.to_vec();
    for (p, info) in graph.params.iter().enumerate() {
        if info.name == "encoder.s.linear.weight" {
            forced[p].fill(0.0);
        }
        if info.name == "encoder.s.linear.bias" {
            forced[p].fill(0.0);
            forced[p][[k]] = 1e4;
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let pass = exec.forward(&forced, batch, true, &mut rng).unwrap();
    let loss = &graph.nodes[graph.loss];
    lsmc_runtime::ops::softmax::cross_entropy_rows(
        pass.value(loss.inputs[0]),
        pass.value(loss.inputs[1]),
    )
}

/// The score-function surrogate is an unbiased estimate of the gradient of
/// the expected batch loss E_z[(1/B) Σᵢ ℓᵢ(zᵢ)] with respect to the scores:
/// (1/B)·Σ_k p_ik ℓ_ik (e_k − p_i), computed here by enumerating the
/// clusters. Averaged over many draws, with and without the baseline (which
/// depends on earlier draws only, so it shifts nothing in expectation).
#[test]
fn score_function_averages_to_the_gradient_of_the_expected_loss() {
    for baseline in [0, 1] {
        let spec = format!(
            "data synthetic_mixture(clusters = 4, features = 5, train = 10, valid = 2, test = 2, seed = 4)
             encoder {{ s = linear(x, 4) / 3 }}
             latent z : categorical(4) = sample(s) via score_function(baseline = {baseline}, decay = 0.5)
             decoder {{ y_hat = bilinear(z, x, 2) }}
             loss cross_entropy(y_hat, y)
             train {{ optimizer adam  batch full  steps 1 }}"
        );
        let program = build(&spec);
        let graph = &program.graph;
        let data: Dataset<f64> = data::load(&program.data).unwrap();
        let exec = Executor::new(graph, cx()).unwrap();
        let params = init_params(graph, &data, 5).expect("initialised");
        let batch = data.train.all();
        let ell: Vec<Vec<f64>> = (0..4)
            .map(|k| loss_per_cluster(&exec, graph, &params, &batch, k))
            .collect();

        let draws = 20_000;
        let mut state = Default::default();
        let mut mean: Option<ArrayD<f64>> = None;
        let mut scores = None;
        for d in 0..draws {
            let mut rng = ChaCha8Rng::seed_from_u64(100 + d);
            let pass = exec.forward(&params, &batch, true, &mut rng).unwrap();
            let (_, info) = exec
                .backward(&pass, &params, &batch, &mut rng, &mut state, true)
                .unwrap();
            let t = info.latents.into_iter().next().expect("traced");
            let g = t.surrogate_grad / draws as f64;
            mean = Some(match mean {
                Some(m) => m + g,
                None => g,
            });
            scores = Some(t.scores);
        }
        let (mean, s) = (mean.unwrap(), scores.unwrap());
        let b = s.shape()[0];
        let mut want: ArrayD<f64> = ArrayD::zeros(s.raw_dim());
        for i in 0..b {
            let row: Vec<f64> = (0..4).map(|k| s[[i, k]]).collect();
            let top = row.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = row.iter().map(|v| (v - top).exp()).collect();
            let p: Vec<f64> = e.iter().map(|v| v / e.iter().sum::<f64>()).collect();
            for (k, pk) in p.iter().enumerate() {
                for j in 0..4 {
                    let ekj = if j == k { 1.0 } else { 0.0 };
                    want[[i, j]] += pk * ell[k][i] * (ekj - p[j]) / b as f64;
                }
            }
        }
        let err = (&mean - &want).mapv(|v| v * v).sum().sqrt();
        let norm = want.mapv(|v| v * v).sum().sqrt();
        assert!(
            err < 0.05 * norm,
            "baseline {baseline}: Monte Carlo mean off by {err} (exact norm {norm})\n{mean}\nvs\n{want}"
        );
    }
}
