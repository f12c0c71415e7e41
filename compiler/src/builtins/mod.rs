//! Every built-in name of the language, declared once with its signature,
//! defaults and documentation. The checker diagnoses arity, keyword
//! arguments and argument types from these signatures alone. Layers
//! declare theirs in [`crate::layers`], beside their shape rules and
//! lowering; the other built-ins are declared here, with their shape rules
//! in [`shapes`].

pub mod shapes;

use lsmc_ir::structures::{Catalog, Descriptor, Family};
use std::sync::{Mutex, PoisonError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A layer or function usable in `encoder` and `decoder` blocks.
    Layer,
    /// A latent forward mapping: the `argmax(s)` of `latent z : … = argmax(s)`.
    Forward,
    /// Noise usable in a latent's forward expression and in surrogates.
    Noise,
    /// A discrete structure: `categorical(K)`, `dependency_tree(…)`.
    Structure,
    /// A data source: `data synthetic_mixture(…)`.
    DataSource,
    /// Where a data source's embedding table comes from: `glove(…)`, `random(…)`.
    Embeddings,
    /// How a table's records divide into train, valid and test: `holdout(…)`.
    Split,
    Optimizer,
    /// How the learning rate changes over a run: `cosine(warmup = 100)`.
    Schedule,
    Metric,
    Loss,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Layer => "layer",
            Kind::Forward => "latent mapping",
            Kind::Noise => "noise source",
            Kind::Structure => "structure",
            Kind::DataSource => "data source",
            Kind::Embeddings => "embedding source",
            Kind::Split => "split rule",
            Kind::Optimizer => "optimizer",
            Kind::Schedule => "learning-rate schedule",
            Kind::Metric => "metric",
            Kind::Loss => "loss",
        }
    }
}

/// The type an argument must have.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ArgTy {
    /// A tensor-valued expression (a named value, a layer call, …).
    Value,
    Int,
    Float,
    Bool,
    Str,
    /// A string naming a file that must exist.
    File,
    /// A string naming a directory that must exist.
    Dir,
    /// One of a fixed set of bare words, e.g. `projective`.
    Symbol(&'static [&'static str]),
    /// An integer or one of a fixed set of words (`batch 32` / `batch full`).
    IntOr(&'static [&'static str]),
    /// A list of this many numbers, e.g. `betas = [0.9, 0.999]`.
    Floats(usize),
    /// A list of strings, e.g. `texts = ["premise", "hypothesis"]`.
    Strs,
    /// A call to a built-in of this kind, e.g. `embeddings = glove(…)`.
    Call(Kind),
}

impl ArgTy {
    pub fn describe(self) -> String {
        match self {
            ArgTy::Value => "a tensor value".into(),
            ArgTy::Int => "an integer".into(),
            ArgTy::Float => "a number".into(),
            ArgTy::Bool => "`true` or `false`".into(),
            ArgTy::Str => "a string".into(),
            ArgTy::File => "a file path (a string)".into(),
            ArgTy::Dir => "a directory path (a string)".into(),
            ArgTy::Symbol(words) => one_of(words),
            ArgTy::IntOr(words) => format!("an integer or {}", one_of(words)),
            ArgTy::Floats(n) => format!("a list of {n} numbers"),
            ArgTy::Strs => "a list of strings".into(),
            ArgTy::Call(kind) => format!("a call to a built-in {}", kind.noun()),
        }
    }
}

pub fn one_of(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    match quoted.len() {
        1 => quoted[0].clone(),
        _ => format!("one of {}", crate::syntax::join_or(&quoted)),
    }
}

/// Constraints on a numeric argument beyond its type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Range {
    Any,
    /// > 0
    Positive,
    /// ≥ 0
    NonNegative,
    /// In [0, 1).
    Fraction,
    /// A whole number in `lo..=hi`; `said` is that range in words, as the
    /// diagnostic prints it ("from 2 to 1,000").
    Between {
        lo: i64,
        hi: i64,
        said: &'static str,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Default {
    Int(i64),
    Float(f64),
    Bool(bool),
    Symbol(&'static str),
    Floats(&'static [f64]),
    Strs(&'static [&'static str]),
    Str(&'static str),
}

impl std::fmt::Display for Default {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Default::Int(v) => write!(f, "{v}"),
            Default::Float(v) => write!(f, "{}", crate::check::fmt_number(*v)),
            Default::Bool(v) => write!(f, "{v}"),
            Default::Symbol(s) => write!(f, "{s}"),
            Default::Floats(v) => {
                let parts: Vec<String> = v.iter().map(|x| crate::check::fmt_number(*x)).collect();
                write!(f, "[{}]", parts.join(", "))
            }
            Default::Str(v) => write!(f, "{v:?}"),
            Default::Strs(v) => {
                let parts: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
                write!(f, "[{}]", parts.join(", "))
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Param {
    pub name: &'static str,
    pub ty: ArgTy,
    pub default: Option<Default>,
    pub range: Range,
    pub doc: &'static str,
}

pub(crate) const fn req(name: &'static str, ty: ArgTy, doc: &'static str) -> Param {
    Param {
        name,
        ty,
        default: None,
        range: Range::Any,
        doc,
    }
}

pub(crate) const fn opt(
    name: &'static str,
    ty: ArgTy,
    default: Default,
    doc: &'static str,
) -> Param {
    Param {
        name,
        ty,
        default: Some(default),
        range: Range::Any,
        doc,
    }
}

impl Param {
    pub(crate) const fn positive(mut self) -> Param {
        self.range = Range::Positive;
        self
    }
    pub(crate) const fn non_negative(mut self) -> Param {
        self.range = Range::NonNegative;
        self
    }
    pub(crate) const fn fraction(mut self) -> Param {
        self.range = Range::Fraction;
        self
    }
    pub(crate) const fn between(mut self, lo: i64, hi: i64, said: &'static str) -> Param {
        self.range = Range::Between { lo, hi, said };
        self
    }
}

#[derive(Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub kind: Kind,
    pub params: &'static [Param],
    /// Extra positional arguments repeat the last parameter (`concat(a, b, c)`).
    pub variadic: bool,
    pub doc: &'static str,
}

pub(crate) const fn b(
    name: &'static str,
    kind: Kind,
    params: &'static [Param],
    doc: &'static str,
) -> Builtin {
    Builtin {
        name,
        kind,
        params,
        variadic: false,
        doc,
    }
}

use ArgTy::*;

const SCORES: Param = req("scores", Value, "scores over the parts of the structure");

/// The built-ins that are not layers, in the order `all` lists them after
/// the layers.
static NON_LAYERS: &[Builtin] = &[
    // ---- latent mappings --------------------------------------------------
    b("argmax", Kind::Forward, &[SCORES],
      "MAP structure (one-hot / tree). Zero gradient almost everywhere: needs `via SURROGATE`."),
    b("marg", Kind::Forward, &[SCORES],
      "Marginals of the Gibbs distribution (softmax / inside-outside / matrix-tree). Differentiable."),
    b("sparsemap", Kind::Forward, &[SCORES,
        opt("max_iter", Int, Default::Int(500),
            "for trees, active-set iterations before the solver stops (500 is exact in practice; the paper's solver stops at 10)").positive()],
      "SparseMAP: Euclidean projection onto the marginal polytope (sparsemax for categorical). Differentiable."),
    b("sample", Kind::Forward, &[SCORES],
      "An exact sample from the Gibbs distribution. Needs `via SURROGATE` (e.g. `score_function`)."),
    b("gumbel", Kind::Noise, &[], "Standard Gumbel noise shaped like the scores (seeded)."),
    // ---- data ---------------------------------------------------------------
    b("synthetic_mixture", Kind::DataSource, &[
        opt("clusters", Int, Default::Int(10), "number of mixture components K").positive(),
        opt("features", Int, Default::Int(100), "input dimension").positive(),
        opt("train", Int, Default::Int(5000), "training examples").positive(),
        opt("valid", Int, Default::Int(1000), "validation examples").positive(),
        opt("test", Int, Default::Int(1000), "test examples").positive(),
        opt("noise", Float, Default::Float(0.1), "standard deviation of x around its cluster centre").positive(),
        opt("seed", Int, Default::Int(42), "seed of the generative process").non_negative()],
      "The paper's §7.1 mixture: z ~ Cat(1/K), x ~ N(m_z, σ²I), y = sign(w_zᵀx − b_z). Provides x, y, z_gold."),
    b("sst", Kind::DataSource, &[
        req("path", Dir, "directory holding the PTB-format train.txt, dev.txt and test.txt"),
        opt("labels", Symbol(&["binary", "fine"]), Default::Symbol("binary"), "binary drops neutral sentences; fine keeps 5 classes"),
        req("embeddings", Call(Kind::Embeddings), "where the word vectors come from")],
      "Stanford Sentiment Treebank sentences. Provides tokens, y and embeddings."),
    b("table", Kind::DataSource, &[
        req("file", File, "the records: JSON Lines (one object a line) or TSV (a header line, tab-separated, no quoting)"),
        req("split", Call(Kind::Split), "which records train, select and test: `holdout(…)`, `column(…)` or `files(…)`"),
        req("texts", Strs, "the model's names for a record's texts, in order; the first is index[B, N], the second index[B, M], then L, P"),
        req("classes", Strs, "the label names, class 0 first (matched ignoring case)"),
        req("embeddings", Call(Kind::Embeddings), "where the word vectors come from"),
        opt("format", Symbol(&["jsonl", "tsv"]), Default::Symbol("jsonl"), "how `file` is written"),
        opt("columns", Strs, Default::Strs(&[]), "the field or column each text is read from (default: the names in `texts`)"),
        opt("label", Str, Default::Str("label"), "the field or column of the class label"),
        opt("skip", Strs, Default::Strs(&[]), "labels whose records are dropped, e.g. SNLI's \"-\""),
        opt("lowercase", Bool, Default::Bool(true), "lowercase before tokenising (GloVe 6B is lowercase)")],
      "Texts with a class label from JSON Lines or TSV files (SNLI, SICK, your own). Provides each text as token ids, y and embeddings. Tokens: runs of letters and digits, clitics ('s, n't) and single punctuation marks."),
    b("holdout", Kind::Split, &[
        req("fraction", Float, "the share of `file`'s records held out for validation").fraction(),
        req("test", File, "the test records"),
        opt("seed", Int, Default::Int(1), "which records: a fixed seed gives the same split everywhere").non_negative()],
      "Train on `file` less a seeded `fraction` of it, validate on that fraction, test on `test` (SNLI here: dev.jsonl split 90/10)."),
    b("column", Kind::Split, &[
        req("name", Str, "the field or column naming each record's split"),
        opt("train", Str, Default::Str("train"), "its value for training records"),
        opt("valid", Str, Default::Str("valid"), "its value for validation records"),
        opt("test", Str, Default::Str("test"), "its value for test records")],
      "Every split in `file`, told apart by a column (SICK: `SemEval_set` = TRAIN, TRIAL, TEST)."),
    b("files", Kind::Split, &[
        req("valid", File, "the validation records"),
        req("test", File, "the test records")],
      "Train on `file`, validate and test on files of their own (SNLI's snli_1.0_train/dev/test.jsonl)."),
    // The checker refuses what Hmm::problems lists across arguments
    // (min_length > max_length, glove vectors for symbols).
    b("hmm_sequences", Kind::DataSource, &[
        opt("states", Int, Default::Int(5), "hidden states of the chain (the gold tags z_gold)").between(2, 1000, "from 2 to 1,000"),
        opt("symbols", Int, Default::Int(30), "distinct symbols the states emit").between(2, 100_000, "from 2 to 100,000"),
        opt("min_length", Int, Default::Int(5), "shortest sentence").positive(),
        opt("max_length", Int, Default::Int(15), "longest sentence, at most 1,000 words").between(1, lsmc_ir::data::Hmm::MAX_LENGTH as i64, "from 1 to 1,000"),
        opt("train", Int, Default::Int(5000), "training sentences").positive(),
        opt("valid", Int, Default::Int(1000), "validation sentences").positive(),
        opt("test", Int, Default::Int(1000), "test sentences").positive(),
        opt("seed", Int, Default::Int(42), "seed of the generative process").non_negative(),
        req("embeddings", Call(Kind::Embeddings), "the symbols' vectors: `random(dim)` (the symbols are not words)")],
      "Symbol sequences from a hidden Markov chain (transitions ~ Dir(0.3), emissions ~ Dir(0.1)), y = 1[Σ_i w[z_i][x_i] > median]. Provides tokens, y, z_gold (each word's hidden state) and embeddings."),
    b("glove", Kind::Embeddings, &[req("path", File, "GloVe text file, plain or gzip"), opt("dim", Int, Default::Int(300), "vector size").positive()],
      "Pretrained GloVe vectors; out-of-vocabulary words get seeded random vectors."),
    b("random", Kind::Embeddings, &[opt("dim", Int, Default::Int(300), "vector size").positive()],
      "Seeded random word vectors."),
    // ---- training -----------------------------------------------------------
    b("adam", Kind::Optimizer, &[
        opt("lr", Float, Default::Float(1e-3), "learning rate").positive(),
        opt("betas", Floats(2), Default::Floats(&[0.9, 0.999]), "moment decay rates"),
        opt("eps", Float, Default::Float(1e-8), "denominator term").positive(),
        opt("weight_decay", Float, Default::Float(0.0), "L2 penalty added to the gradient").non_negative()],
      "Adam (PyTorch semantics)."),
    b("adamw", Kind::Optimizer, &[
        opt("lr", Float, Default::Float(1e-3), "learning rate").positive(),
        opt("betas", Floats(2), Default::Floats(&[0.9, 0.999]), "moment decay rates"),
        opt("eps", Float, Default::Float(1e-8), "denominator term").positive(),
        opt("weight_decay", Float, Default::Float(1e-2), "decoupled weight decay").non_negative()],
      "AdamW (PyTorch semantics, decoupled weight decay)."),
    b("sgd", Kind::Optimizer, &[
        req("lr", Float, "learning rate").positive(),
        opt("momentum", Float, Default::Float(0.0), "momentum").fraction(),
        opt("weight_decay", Float, Default::Float(0.0), "L2 penalty").non_negative()],
      "Stochastic gradient descent."),
    // Warm-up and decay follow the Hugging Face schedules (a linear ramp
    // from 0, then the decay, as a factor of the optimizer's `lr`); the
    // formulas live in lsmc_runtime::schedule.
    b("constant", Kind::Schedule, &[
        opt("warmup", Int, Default::Int(0), "steps of linear warm-up from 0").non_negative()],
      "The optimizer's learning rate throughout, after an optional linear warm-up."),
    b("linear_decay", Kind::Schedule, &[
        opt("warmup", Int, Default::Int(0), "steps of linear warm-up from 0").non_negative()],
      "Linear warm-up, then a linear decay to 0 at the last step."),
    b("cosine", Kind::Schedule, &[
        opt("warmup", Int, Default::Int(0), "steps of linear warm-up from 0").non_negative()],
      "Linear warm-up, then a half-cosine decay to 0 at the last step."),
    b("step_decay", Kind::Schedule, &[
        req("every", Int, "steps between decays").positive(),
        opt("gamma", Float, Default::Float(0.1), "factor applied at each decay").positive(),
        opt("warmup", Int, Default::Int(0), "steps of linear warm-up from 0").non_negative()],
      "Linear warm-up, then the rate multiplied by `gamma` every `every` steps (PyTorch's StepLR)."),
    b("accuracy", Kind::Metric, &[req("pred", Value, "logits f32[B, C]"), req("gold", Value, "labels class(C)[B]")],
      "Fraction of examples whose highest logit is the gold class."),
    b("v_measure", Kind::Metric, &[req("pred", Value, "a categorical latent (its argmax is the cluster), or a sequence latent (each word's highest tag weight is its cluster)"), req("gold", Value, "gold clusters class(K)[B], or per word class(K)[B, N] for a sequence latent")],
      "V-measure (Rosenberg & Hirschberg, 2007) of the latent's clusters against gold ones, in [0, 1]; over every real word for a sequence latent."),
    b("path_match", Kind::Metric, &[req("pred", Value, "a sequence latent (each word's highest tag weight is its tag)"), req("gold", Value, "gold tags per word class(K)[B, N]")],
      "Share of sentences whose whole tag path equals the gold path once predicted tags are renamed by the one-to-one mapping that best agrees with the gold tags over the split, in [0, 1]."),
    b("cross_entropy", Kind::Loss, &[req("logits", Value, "f32[B, C]"), req("labels", Value, "class(C)[B]")],
      "Mean cross-entropy over the batch."),
];

/// Every built-in: the registered layers' signatures, then the rest.
pub fn all() -> impl Iterator<Item = &'static Builtin> {
    crate::layers::signatures().chain(NON_LAYERS)
}

pub fn lookup(name: &str) -> Option<&'static Builtin> {
    all().find(|b| b.name == name)
}

pub fn names_of(kind: Kind) -> impl Iterator<Item = &'static str> {
    all().filter(move |b| b.kind == kind).map(|b| b.name)
}

/// Words that only mean something inside a `surrogate` block.
pub static SURROGATE_OPS: &[SurrogateOp] = &[
    SurrogateOp { name: "map", arity: 1, optional: 0, doc: "MAP structure of the argument (argmax)." },
    SurrogateOp { name: "marg", arity: 1, optional: 0, doc: "Marginals of the argument (softmax / inside-outside)." },
    SurrogateOp { name: "project", arity: 1, optional: 1, doc: "project(mu[, max_iter]): Euclidean projection onto the marginal polytope (SparseMAP); for trees, max_iter caps the active-set iterations (default: until exact)." },
    SurrogateOp { name: "grad", arity: 1, optional: 0, doc: "∇_µ L(ŷ(µ), y): one decoder forward and backward at µ (free at µ = z)." },
    SurrogateOp { name: "loss", arity: 1, optional: 0, doc: "Per-example downstream loss L(ŷ(µ), y), f32[B]." },
    SurrogateOp { name: "vjp", arity: 3, optional: 0, doc: "vjp(marg | project, at, g): vector-Jacobian product of the mapping at `at` with `g`." },
    SurrogateOp { name: "zeros", arity: 0, optional: 0, doc: "Zeros shaped like the scores." },
    SurrogateOp { name: "gumbel", arity: 0, optional: 0, doc: "Standard Gumbel noise shaped like the scores." },
    SurrogateOp { name: "sample", arity: 1, optional: 0, doc: "An exact sample from the Gibbs distribution with these scores." },
    SurrogateOp { name: "running_mean", arity: 2, optional: 0, doc: "running_mean(v, decay): moving average of v's batch mean over earlier steps (0 at the first)." },
    SurrogateOp { name: "ema", arity: 2, optional: 0, doc: "ema(v, decay): moving average of v's batch mean over earlier steps, started at 0 with no bias correction." },
    SurrogateOp { name: "batch_mean", arity: 1, optional: 0, doc: "batch_mean(v): the mean of a per-example value over the batch, for every example." },
    SurrogateOp { name: "batch_size", arity: 0, optional: 0, doc: "batch_size(): the number of examples B in the batch." },
    SurrogateOp { name: "exp", arity: 1, optional: 0, doc: "Elementwise exponential." },
    SurrogateOp { name: "log", arity: 1, optional: 0, doc: "Elementwise natural logarithm." },
];

#[derive(Debug)]
pub struct SurrogateOp {
    pub name: &'static str,
    /// Required arguments.
    pub arity: usize,
    /// Optional arguments after the required ones.
    pub optional: usize,
    pub doc: &'static str,
}

pub fn surrogate_op(name: &str) -> Option<&'static SurrogateOp> {
    SURROGATE_OPS.iter().find(|o| o.name == name)
}

/// Operations a structure's inference engine provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StructOp {
    Map,
    Marginals,
    SparseMap,
    Sample,
}

impl StructOp {
    pub fn describe(self) -> &'static str {
        match self {
            StructOp::Map => "MAP inference",
            StructOp::Marginals => "marginal inference",
            StructOp::SparseMap => "SparseMAP (the projection `project`)",
            StructOp::Sample => "exact sampling",
        }
    }
}

/// Whether a structure's engine provides `op`, as the `ops` of its
/// descriptor say. Descriptors live beside their engines
/// (`runtime/src/latent/`) and are the one place to change when an engine
/// gains an algorithm; this function does not change. docs/language.md
/// §4.2 tabulates the answers, and `tests/it/structure_ops_docs.rs` holds
/// the checker to that table.
pub fn supports(d: &Descriptor, op: StructOp) -> bool {
    let ops = d.ops;
    match op {
        StructOp::Map => ops.map,
        StructOp::Marginals => ops.marginals,
        StructOp::SparseMap => ops.sparsemap,
        StructOp::Sample => ops.sample,
    }
}

/// The built-ins that write the catalog's structures, one per family
/// (`categorical`, `dependency_tree`): their signatures are derived from
/// the descriptors, so a structure's own module is the only place that
/// says how a spec writes it.
pub fn structure_builtins(catalog: &Catalog) -> Vec<&'static Builtin> {
    catalog.families().into_iter().map(interned).collect()
}

/// Signatures are `'static` like every other built-in's; each distinct
/// family is built once per process (a catalog is fixed at build time, so
/// this holds one entry per structure built-in).
fn interned(f: Family) -> &'static Builtin {
    static BUILT: Mutex<Vec<(Family, &'static Builtin)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, b)) = built.iter().find(|(g, _)| *g == f) {
        return b;
    }
    let b: &'static Builtin = Box::leak(Box::new(family_builtin(&f)));
    built.push((f, b));
    b
}

fn family_builtin(f: &Family) -> Builtin {
    let mut params = Vec::new();
    if f.sized {
        params.push(req("K", Int, "number of categories").positive());
    }
    if !f.variants.is_empty() {
        let words: Vec<&'static str> = f.variants.iter().map(|v| v.0).collect();
        let doc: Vec<String> = f
            .variants
            .iter()
            .map(|(v, d)| format!("`{v}`: {d}"))
            .collect();
        params.push(req(
            "kind",
            Symbol(Box::leak(words.into_boxed_slice())),
            Box::leak(doc.join("; ").into_boxed_str()),
        ));
    }
    if f.rooted {
        params.push(opt(
            "root",
            Symbol(&["single", "multi"]),
            Default::Symbol("single"),
            "how many words may attach to the root",
        ));
    }
    b(
        f.callee,
        Kind::Structure,
        Box::leak(params.into_boxed_slice()),
        f.doc,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_is_declared_once() {
        let builtins: Vec<&Builtin> = all().collect();
        for (i, a) in builtins.iter().enumerate() {
            for b in &builtins[i + 1..] {
                assert_ne!(a.name, b.name, "`{}` is declared twice", a.name);
            }
            let mut seen = std::collections::HashSet::new();
            for p in a.params {
                assert!(
                    seen.insert(p.name),
                    "`{}` has two parameters named `{}`",
                    a.name,
                    p.name
                );
            }
        }
    }

    #[test]
    fn required_parameters_come_before_defaulted_ones_except_where_words_name_them() {
        // Positional binding fills parameters in order, so a required
        // parameter after a defaulted one could only be given by keyword.
        for b in all() {
            let mut seen_default = false;
            for p in b.params {
                if p.default.is_some() {
                    seen_default = true;
                } else if seen_default {
                    assert!(
                        ["sst", "hmm_sequences"].contains(&b.name),
                        "`{}`: required `{}` after a default",
                        b.name,
                        p.name
                    );
                }
            }
        }
    }

    #[test]
    fn every_layer_is_declared_by_the_layer_registry() {
        // The checker and lowering find a layer's shape rule and graph ops
        // through the registry: a layer signature declared here would have
        // neither.
        for b in NON_LAYERS {
            assert_ne!(
                b.kind,
                Kind::Layer,
                "`{}` is a layer outside `crate::layers`",
                b.name
            );
        }
        for layer in crate::layers::LAYERS {
            assert_eq!(
                layer.signature().kind,
                Kind::Layer,
                "`{}`",
                layer.signature().name
            );
        }
    }
}
