//! The parameters a layer creates when lowered are the ones the checker
//! counts for it, for every registered layer.

use super::{lookup, LAYERS};
use crate::builtins::shapes::Val;
use crate::lower::lower;
use crate::model::{TExpr, TKind};
use crate::types::ParamCount;
use crate::{check_text, Origin};
use lsmc_ir::graph::{Init, Param};
use lsmc_runtime::latent::registry::catalog;

/// The data an example reads.
#[derive(Clone, Copy)]
enum On {
    /// `x: f32[B, 6]`, a categorical latent `z: f32[B, 3]` over scores `s`,
    /// labels `y: class(2)[B]` and `z_gold: class(3)[B]`.
    Features,
    /// `tokens`, `embeddings: f32[V, 8]`, words `h: f32[B, N, 6]` and a
    /// tree latent `z` over them.
    Sentences,
    /// The same sentences with a sequence latent `z` over 3 tags.
    Tagged,
}

/// The value `v` of a decoder, computed with the layer named first. Every
/// registered layer needs at least one; layers with parameters also show
/// a second instance in one statement, where one exists.
const EXAMPLES: &[(&str, On, &str)] = &[
    ("linear", On::Features, "linear(x, 3)"),
    ("linear", On::Features, "linear(x, 3, bias = false)"),
    ("linear", On::Features, "linear(linear(x, 4), 3)"),
    ("bilinear", On::Features, "bilinear(z, x, 2)"),
    (
        "bilinear",
        On::Features,
        "bilinear(bilinear(z, x, 4), x, 2)",
    ),
    ("matmul", On::Sentences, "matmul(z, z)"),
    ("matmul", On::Sentences, "matmul(h, transpose(h))"),
    ("transpose", On::Sentences, "transpose(z)"),
    (
        "attend",
        On::Sentences,
        "attend(matmul(h, transpose(h)), h)",
    ),
    (
        "feed_forward",
        On::Sentences,
        "feed_forward(h, 5, dropout = 0.1)",
    ),
    (
        "feed_forward",
        On::Features,
        "feed_forward(feed_forward(x, 4, layers = 1), 3, dropout = 0)",
    ),
    ("embed", On::Sentences, "embed(tokens, embeddings)"),
    (
        "embed",
        On::Sentences,
        "embed(tokens, embeddings, frozen = false)",
    ),
    ("bilstm", On::Sentences, "bilstm(h, 4)"),
    ("bilstm", On::Sentences, "bilstm(bilstm(h, 4), 2)"),
    ("arc_scores", On::Sentences, "arc_scores(h, 3)"),
    (
        "arc_scores",
        On::Sentences,
        "arc_scores(h, 3) + arc_scores(h, 5)",
    ),
    ("heads", On::Sentences, "heads(z, h)"),
    ("chain_scores", On::Tagged, "chain_scores(h, 4)"),
    (
        "chain_scores",
        On::Tagged,
        "chain_scores(h, 3) + chain_scores(h, 3)",
    ),
    ("tags", On::Tagged, "tags(z)"),
    ("concat", On::Features, "concat(x, z, s)"),
    ("attention_pool", On::Sentences, "attention_pool(h)"),
    (
        "attention_pool",
        On::Sentences,
        "attention_pool(h) + attention_pool(h)",
    ),
    ("sum_pool", On::Sentences, "sum_pool(h)"),
    ("mean_pool", On::Sentences, "mean_pool(h)"),
    ("mlp", On::Features, "mlp(x, 4, tanh, 2)"),
    (
        "mlp",
        On::Features,
        "mlp(mlp(x, 4, relu, 5), 3, sigmoid, 2)",
    ),
    ("dropout", On::Features, "dropout(x, 0.5)"),
    ("one_hot", On::Features, "one_hot(z_gold)"),
    ("tanh", On::Features, "tanh(x)"),
    ("relu", On::Features, "relu(x)"),
    ("sigmoid", On::Features, "sigmoid(x)"),
    ("exp", On::Features, "exp(x)"),
    ("log", On::Features, "log(x)"),
    ("softmax", On::Features, "softmax(x)"),
    ("log_softmax", On::Features, "log_softmax(x)"),
];

fn spec(on: On, v: &str) -> String {
    match on {
        On::Features => format!(
            "data synthetic_mixture(clusters = 3, features = 6)\n\
             encoder {{ s = linear(x, 3) }}\n\
             latent z : categorical(3) = marg(s)\n\
             decoder {{\n  v = {v}\n  y_hat = linear(x, 2)\n}}\n\
             loss cross_entropy(y_hat, y)\n\
             train {{ optimizer adam  batch full  steps 1 }}\n"
        ),
        On::Sentences => format!(
            "data sst(path = \".\", embeddings = random(dim = 8))\n\
             encoder {{\n  h = bilstm(embed(tokens, embeddings), 6)\n  s = arc_scores(h, 4)\n}}\n\
             latent z : dependency_tree(projective) = marg(s)\n\
             decoder {{\n  v = {v}\n  y_hat = linear(mean_pool(h), 2)\n}}\n\
             loss cross_entropy(y_hat, y)\n\
             train {{ optimizer adam  batch 2  steps 1 }}\n"
        ),
        On::Tagged => format!(
            "data sst(path = \".\", embeddings = random(dim = 8))\n\
             encoder {{\n  h = bilstm(embed(tokens, embeddings), 6)\n  s = chain_scores(h, 3)\n}}\n\
             latent z : sequence(3) = marg(s)\n\
             decoder {{\n  v = {v}\n  y_hat = linear(mean_pool(h), 2)\n}}\n\
             loss cross_entropy(y_hat, y)\n\
             train {{ optimizer adam  batch 2  steps 1 }}\n"
        ),
    }
}

/// The scalars of a lowered parameter. A copy of a data tensor has 0 for
/// the axes known only once the data is read; of the data's tables, only
/// the vocabulary's has one.
fn scalars(p: &Param) -> ParamCount {
    let known: u64 = p
        .shape
        .iter()
        .filter(|&&d| d > 0)
        .map(|&d| d as u64)
        .product();
    match (&p.init, p.shape.iter().filter(|&&d| d == 0).count()) {
        (_, 0) => ParamCount::fixed(known),
        (Init::FromInput(_), 1) => ParamCount {
            known: 0,
            per_vocab: known,
        },
        (init, unknown) => panic!("`{}` ({init:?}) has {unknown} axes of unknown size", p.name),
    }
}

/// The scalars of all these parameters.
fn total<'p>(params: impl Iterator<Item = &'p Param>) -> ParamCount {
    params
        .map(scalars)
        .fold(ParamCount::default(), |a, b| a + b)
}

/// How many parameter tensors the layer calls in `e` declare.
fn declared(e: &TExpr) -> usize {
    match &e.kind {
        TKind::Value(_) | TKind::Scalar(_) => 0,
        TKind::Neg(x) => declared(x),
        TKind::Binary { lhs, rhs, .. } => declared(lhs) + declared(rhs),
        TKind::Call { name, args } => {
            let own = lookup(name).map_or(0, |layer| {
                layer.shape(args).expect("a checked call").params.len()
            });
            own + declared_in_args(args)
        }
        // A shared instance's weights are named after it, not the value.
        TKind::Apply { args, .. } => declared_in_args(args),
    }
}

fn declared_in_args(args: &crate::builtins::shapes::Args) -> usize {
    args.0
        .iter()
        .filter_map(|(_, v)| match v {
            Val::Tensor(t) => Some(declared(t)),
            _ => None,
        })
        .sum()
}

#[test]
fn every_registered_layer_creates_the_parameters_the_checker_counts() {
    for layer in LAYERS {
        let name = layer.signature().name;
        assert!(
            EXAMPLES.iter().any(|(n, _, _)| *n == name),
            "`{name}` has no example here: add one to EXAMPLES"
        );
    }
    for &(name, on, v) in EXAMPLES {
        assert!(lookup(name).is_some(), "`{name}` is not a registered layer");
        assert!(
            v.starts_with(&format!("{name}(")),
            "`{v}` is not an example of `{name}`"
        );
        let text = spec(on, v);
        let report = check_text("example.lsm", &text, Origin::CommandLine, &[], catalog());
        assert!(!report.has_errors(), "{v}: {:#?}", report.diagnostics);
        let summary = report
            .summary
            .as_ref()
            .expect("a clean check has a summary");
        let counted = summary
            .blocks
            .iter()
            .flat_map(|b| &b.values)
            .find(|value| value.name == "v")
            .expect("the example's value")
            .params;
        let model = report.model.as_ref().expect("a clean check has a model");
        let program = lower(model).unwrap_or_else(|d| panic!("{v} does not lower: {d:#?}"));
        let created: Vec<&Param> = program
            .graph
            .params
            .iter()
            .filter(|p| p.name.starts_with("decoder.v."))
            .collect();
        let stmt = model.decoder.iter().find(|s| s.name == "v").expect("`v`");
        assert_eq!(
            created.len(),
            declared(&stmt.value),
            "{v}: parameter tensors"
        );
        let made = total(created.into_iter());
        assert_eq!(made, counted, "{v}: scalars created and counted");
        let all = total(program.graph.params.iter());
        assert_eq!(all, summary.total_params, "{v}: the whole spec");
    }
}

#[test]
fn a_trained_table_must_be_one_the_data_provides() {
    // The runtime fills a trained table from the data, by name.
    let text = spec(
        On::Sentences,
        "embed(tokens, embeddings * 2, frozen = false)",
    );
    let report = check_text("example.lsm", &text, Origin::CommandLine, &[], catalog());
    let messages: Vec<&str> = report
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`embed` trains a copy of a table the data provides")),
        "{messages:#?}"
    );
}

/// A structure the checker has never heard of, given only its descriptor:
/// one more variant of `dependency_tree` that offers MAP alone.
static PLANAR: lsmc_ir::structures::Descriptor = lsmc_ir::structures::Descriptor {
    name: "planar",
    spelling: lsmc_ir::structures::Spelling {
        callee: "dependency_tree",
        variant: Some("planar"),
        rooted: true,
        doc: "",
        variant_doc: "no two arcs cross on one side",
    },
    scores: lsmc_ir::structures::ARCS,
    scores_hint: "",
    ops: lsmc_ir::structures::Ops {
        map: true,
        marginals: false,
        sparsemap: false,
        sample: false,
    },
    statistics: &[],
};

#[test]
fn a_registered_descriptor_is_all_the_checker_needs_to_accept_a_structure() {
    let mut with_planar: Vec<_> = catalog().iter().collect();
    with_planar.push(&PLANAR);
    let extended = lsmc_ir::structures::Catalog::new(with_planar).expect("unambiguous");
    let text =
        spec(On::Sentences, "heads(z, h)").replace("(projective) = marg(s)", "(planar) = marg(s)");
    let codes = |c: &lsmc_ir::structures::Catalog| -> Vec<&'static str> {
        check_text("planar.lsm", &text, Origin::CommandLine, &[], c)
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.code)
            .collect()
    };
    // Unknown to the registry: `planar` is not a kind of tree.
    assert_eq!(codes(catalog()), ["lsm::check::argument_type"]);
    // Known, but it has no marginals: the descriptor's `ops` speak.
    assert_eq!(codes(&extended), ["lsm::check::structure_lacks_op"]);
    let argmax = text.replace("= marg(s)", "= argmax(s) via ste_identity");
    assert!(
        !check_text("planar.lsm", &argmax, Origin::CommandLine, &[], &extended).has_errors(),
        "MAP on a registered structure checks clean"
    );
}

#[test]
fn a_shared_layer_creates_its_parameters_once_and_the_checker_counts_them_once() {
    // `P` is applied twice, to inputs of one width; `y_hat` nests an
    // application inside a call of another layer.
    let text = "data synthetic_mixture(clusters = 3, features = 6)\n\
                encoder { layer P = linear(out = 6)\n s = linear(P(x), 3) }\n\
                latent z : categorical(3) = marg(s)\n\
                decoder {\n  a = P(x)\n  y_hat = linear(P(a) + P(x), 2)\n}\n\
                loss cross_entropy(y_hat, y)\n\
                train { optimizer adam  batch full  steps 1 }\n";
    let report = check_text("shared.lsm", text, Origin::CommandLine, &[], catalog());
    assert!(!report.has_errors(), "{:#?}", report.diagnostics);
    let summary = report.summary.as_ref().expect("a clean check");
    let program = lower(report.model.as_ref().expect("a model")).expect("lowers");
    let names: Vec<&str> = program
        .graph
        .params
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "encoder.P.linear.weight",
            "encoder.P.linear.bias",
            "encoder.s.linear.weight",
            "encoder.s.linear.bias",
            "decoder.y_hat.linear.weight",
            "decoder.y_hat.linear.bias",
        ]
    );
    assert_eq!(total(program.graph.params.iter()), summary.total_params);
    assert_eq!(summary.total_params, ParamCount::fixed(42 + 21 + 14));
    let param_nodes = program
        .graph
        .nodes
        .iter()
        .filter(|n| matches!(n.op, lsmc_ir::graph::Op::Param(_)))
        .count();
    assert_eq!(param_nodes, 6, "every application reads the same nodes");
}
