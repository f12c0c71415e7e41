//! Shared layer instances (`layer F = …`, applied as `F(a)`, `F(b)`) end
//! to end: the checker counts their weights once, lowering creates them
//! once, and the gradients that flow into them from every application add
//! up (against finite differences in f64); and the layers of the
//! decomposable attention model (`feed_forward`, `transpose`, `matmul`,
//! `attend`) in one graph.

use crate::graph_gradients::{build, check_against_finite_differences};
use lsmc_compiler::{check_text, Origin};
use lsmc_ir::graph::Op;
use lsmc_runtime::latent::registry::catalog;

const SYNTHETIC: &str = "
data synthetic_mixture(clusters = 3, features = 6, train = 12, valid = 4, test = 4, seed = 9)
encoder {
  layer P = linear(out = 6)
  h = tanh(P(x))
  s = linear(P(h), 3)
}
latent z : categorical(3) = marg(s)
decoder { y_hat = linear(concat(z, tanh(P(x * 2))), 2) }
loss cross_entropy(y_hat, y)
train { optimizer adam  batch full  steps 1 }
";

#[test]
fn a_layer_applied_three_times_has_one_set_of_weights_whose_gradients_add_up() {
    let report = check_text("shared.lsm", SYNTHETIC, Origin::CommandLine, &[], catalog());
    let summary = report.summary.expect("checks clean");
    // P: 6·6 + 6 once; s: 6·3 + 3; y_hat: 9·2 + 2.
    assert_eq!(summary.total_params.known, 42 + 21 + 20);
    let program = build(SYNTHETIC);
    let shared: Vec<&str> = program
        .graph
        .params
        .iter()
        .map(|p| p.name.as_str())
        .filter(|n| n.starts_with("encoder.P."))
        .collect();
    assert_eq!(shared, ["encoder.P.linear.weight", "encoder.P.linear.bias"]);
    assert_eq!(check_against_finite_differences(&program), 83);
}

/// Parikh et al.'s attend–compare–aggregate on one sentence attending to
/// itself (the tiny treebank has no pairs): F scores, G compares with
/// shared weights, masked sums aggregate.
fn decomposable_attention() -> String {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny_sst");
    format!(
        "data sst(path = \"{}\", labels = binary, embeddings = random(dim = 4))
         encoder {{
           layer F = feed_forward(hidden = 3, dropout = 0, layers = 1)
           a = embed(tokens, embeddings)
           e = matmul(F(a), transpose(F(a)))
         }}
         decoder {{
           layer G = feed_forward(hidden = 3, dropout = 0)
           beta = attend(e, a)
           alpha = attend(transpose(e), a)
           v1 = sum_pool(G(concat(a, beta)))
           v2 = sum_pool(G(concat(a, alpha)))
           y_hat = linear(feed_forward(concat(v1, v2), 4, dropout = 0, layers = 1), 2)
         }}
         loss cross_entropy(y_hat, y)
         train {{ optimizer adam  batch 4  steps 1 }}",
        data.display()
    )
}

#[test]
fn the_decomposable_attention_model_has_exact_gradients() {
    let program = build(&decomposable_attention());
    let ops = |op: &Op| program.graph.nodes.iter().filter(|n| n.op == *op).count();
    assert_eq!(ops(&Op::Attend), 2);
    assert_eq!(ops(&Op::Transpose), 2);
    // F: 4·3 + 3; G: (8·3 + 3) + (3·3 + 3); H: 6·4 + 4; the classifier 4·2 + 2.
    assert_eq!(
        check_against_finite_differences(&program),
        15 + 39 + 28 + 10
    );
}
