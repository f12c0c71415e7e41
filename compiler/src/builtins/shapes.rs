//! Shape rules of the built-in losses, metrics and data sources, and the
//! helpers the layers' rules ([`crate::layers`]) share. Each rule sees its
//! arguments already bound and type-checked against its signature.

use crate::types::{Descriptor, Dim, Elem, Tensor, B, N, V};
use lsmc_ir::structures::{Axis, CATEGORIES, TAG_PAIRS};

/// A bound argument value.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// A tensor argument: its typed expression (the type is `expr.ty`).
    Tensor(Box<crate::model::TExpr>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Symbol(String),
    Floats(Vec<f64>),
    Strs(Vec<String>),
    Call(String, Args),
}

/// Arguments bound to parameter names, defaults filled in, in signature order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Args(pub Vec<(&'static str, Val)>);

impl Args {
    pub fn get(&self, name: &str) -> Option<&Val> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
    pub fn tensor(&self, name: &str) -> &Tensor {
        match self.get(name) {
            Some(Val::Tensor(t)) => &t.ty,
            other => panic!("argument `{name}` is not a bound tensor: {other:?}"),
        }
    }
    /// All tensors bound to `name` (variadic parameters bind several).
    pub fn tensors(&self, name: &str) -> Vec<&Tensor> {
        self.0
            .iter()
            .filter(|(n, _)| *n == name)
            .filter_map(|(_, v)| match v {
                Val::Tensor(t) => Some(&t.ty),
                _ => None,
            })
            .collect()
    }
    /// The typed expression bound to a tensor parameter.
    pub fn expr(&self, name: &str) -> Option<&crate::model::TExpr> {
        match self.get(name) {
            Some(Val::Tensor(t)) => Some(t),
            _ => None,
        }
    }
    /// All expressions bound to `name` (variadic parameters bind several).
    pub fn exprs(&self, name: &str) -> Vec<&crate::model::TExpr> {
        self.0
            .iter()
            .filter(|(n, _)| *n == name)
            .filter_map(|(_, v)| match v {
                Val::Tensor(t) => Some(&**t),
                _ => None,
            })
            .collect()
    }
    pub fn float(&self, name: &str) -> Result<f64, ArgError> {
        match self.get(name) {
            Some(Val::Int(v)) => Ok(*v as f64),
            Some(Val::Float(v)) => Ok(*v),
            other => Err(ArgError::new(name, "a number", other)),
        }
    }
    pub fn strings(&self, name: &str) -> Result<&[String], ArgError> {
        match self.get(name) {
            Some(Val::Strs(v)) => Ok(v),
            other => Err(ArgError::new(name, "a list of strings", other)),
        }
    }
    pub fn int(&self, name: &str) -> Result<i64, ArgError> {
        match self.get(name) {
            Some(Val::Int(v)) => Ok(*v),
            other => Err(ArgError::new(name, "an integer", other)),
        }
    }
    /// A size or count: a non-negative integer.
    pub fn size(&self, name: &str) -> Result<u64, ArgError> {
        match self.get(name) {
            Some(Val::Int(v)) if *v >= 0 => Ok(*v as u64),
            other => Err(ArgError::new(name, "a non-negative integer", other)),
        }
    }
    pub fn bool(&self, name: &str) -> Result<bool, ArgError> {
        match self.get(name) {
            Some(Val::Bool(b)) => Ok(*b),
            other => Err(ArgError::new(name, "`true` or `false`", other)),
        }
    }
    pub fn symbol(&self, name: &str) -> Result<&str, ArgError> {
        match self.get(name) {
            Some(Val::Symbol(s)) => Ok(s),
            other => Err(ArgError::new(name, "a word", other)),
        }
    }
    pub fn string(&self, name: &str) -> Result<&str, ArgError> {
        match self.get(name) {
            Some(Val::Str(s)) => Ok(s),
            other => Err(ArgError::new(name, "a string", other)),
        }
    }
    /// A call to a built-in (`embeddings = glove(…)`): its name and arguments.
    pub fn call(&self, name: &str) -> Result<(&str, &Args), ArgError> {
        match self.get(name) {
            Some(Val::Call(n, a)) => Ok((n, a)),
            other => Err(ArgError::new(name, "a call", other)),
        }
    }
}

/// An argument that binding should have supplied and did not, or of
/// another type than its signature says: a bug between the checker and
/// its consumers, reported instead of read as 0, "" or false.
#[derive(Clone, Debug, PartialEq)]
pub struct ArgError {
    pub name: String,
    pub expected: &'static str,
    /// `None`: the argument is missing.
    pub found: Option<String>,
}

impl ArgError {
    fn new(name: &str, expected: &'static str, found: Option<&Val>) -> ArgError {
        ArgError {
            name: name.to_string(),
            expected,
            found: found.map(crate::check::format_val),
        }
    }
}

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.found {
            None => write!(f, "argument `{}` is missing", self.name),
            Some(v) => write!(
                f,
                "argument `{}` should be {}, but is {v}",
                self.name, self.expected
            ),
        }
    }
}

impl std::error::Error for ArgError {}

impl From<ArgError> for ShapeError {
    fn from(e: ArgError) -> ShapeError {
        ShapeError {
            kind: ShapeErrorKind::Mismatch,
            arg: "",
            message: e.to_string(),
            label: "here".into(),
            help: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapeErrorKind {
    /// Shapes or element types that do not fit together.
    Mismatch,
    /// A layer that needs a tree-structured latent got something else.
    NeedsTree,
    /// A layer that needs a sequence latent got something else.
    NeedsSequence,
    /// A size that the layer cannot use (odd `hidden` of a BiLSTM, …).
    BadSize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ShapeError {
    pub kind: ShapeErrorKind,
    /// The parameter whose argument is blamed.
    pub arg: &'static str,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
}

pub(crate) fn mismatch(arg: &'static str, message: String, label: String) -> ShapeError {
    ShapeError {
        kind: ShapeErrorKind::Mismatch,
        arg,
        message,
        label,
        help: None,
    }
}

pub(crate) fn expect_f32(
    args: &Args,
    name: &'static str,
    layer: &str,
    rank: Option<usize>,
    what: &str,
) -> Result<Tensor, ShapeError> {
    let t = args.tensor(name).clone();
    let rank_ok = rank.is_none_or(|r| t.rank() == r);
    if t.elem != Elem::F32 || !rank_ok {
        return Err(mismatch(
            name,
            format!("`{layer}` expects `{name}` to be {what}, found {t}"),
            format!("this is {t}"),
        ));
    }
    Ok(t)
}

pub(crate) fn const_dim(t: &Tensor, name: &'static str, layer: &str) -> Result<u64, ShapeError> {
    match t.last() {
        Some(Dim::Const(n)) => Ok(n),
        other => Err(mismatch(
            name,
            format!(
                "`{layer}` needs a known feature size, but the last axis of `{name}` is `{}`",
                other.map(|d| d.to_string()).unwrap_or_default()
            ),
            format!("this is {t}"),
        )),
    }
}

pub(crate) fn with_last(t: &Tensor, d: u64) -> Tensor {
    let mut dims = t.dims.clone();
    if let Some(l) = dims.last_mut() {
        *l = Dim::Const(d);
    }
    Tensor::f32(dims)
}

fn logits_and_labels(
    name: &str,
    args: &Args,
    pred: &'static str,
    gold: &'static str,
) -> Result<(), ShapeError> {
    let logits = expect_f32(args, pred, name, Some(2), "logits f32[B, C]")?;
    let labels = args.tensor(gold);
    let Elem::Class(k) = labels.elem else {
        return Err(mismatch(
            gold,
            format!("`{name}` expects class labels for `{gold}`, found {labels}"),
            format!("this is {labels}"),
        ));
    };
    if labels.rank() != 1 || labels.dims[0] != logits.dims[0] {
        return Err(mismatch(
            gold,
            format!("`{name}` got logits {logits} but labels {labels}"),
            format!("this is {labels}"),
        ));
    }
    if logits.dims[1] != Dim::Const(k) {
        return Err(mismatch(
            pred,
            format!(
                "`{name}` got {} classes of logits but labels with {k} classes",
                logits.dims[1]
            ),
            format!("this is {logits}"),
        ));
    }
    Ok(())
}

/// Checks a loss call; a loss is a scalar.
pub fn loss(name: &str, args: &Args) -> Result<Tensor, ShapeError> {
    logits_and_labels(name, args, "logits", "labels")?;
    Ok(Tensor::f32(vec![]))
}

/// Checks a metric call.
pub fn metric(name: &str, args: &Args) -> Result<(), ShapeError> {
    match name {
        "accuracy" => logits_and_labels(name, args, "pred", "gold"),
        "path_match" => {
            let pred = args.tensor("pred");
            if !pred.latent.is_some_and(|d| d.scores == TAG_PAIRS) {
                return Err(mismatch(
                    "pred",
                    format!(
                        "`{name}` compares the tag paths of a sequence latent, and this is not one"
                    ),
                    format!("this is {}", latent_or_not(pred)),
                ));
            }
            word_gold(name, args, pred)
        }
        _ => {
            let pred = args.tensor("pred");
            match pred.latent {
                Some(d) if d.scores == CATEGORIES => example_gold(name, args, pred),
                Some(d) if d.scores == TAG_PAIRS => word_gold(name, args, pred),
                _ => Err(mismatch(
                    "pred",
                    format!("`{name}` measures the clusters of a categorical latent or the tags of a sequence latent, and this is neither"),
                    format!("this is {}", latent_or_not(pred)),
                )),
            }
        }
    }
}

/// A value as a metric's `pred` message names it: its structure when it
/// is a latent.
fn latent_or_not(t: &Tensor) -> String {
    match t.latent {
        Some(d) => format!("a {} latent", d.name),
        None => format!("{t}, not a latent"),
    }
}

/// A categorical latent's gold: one class per example, `class(K')[B]`.
fn example_gold(name: &str, args: &Args, pred: &Tensor) -> Result<(), ShapeError> {
    let gold = args.tensor("gold");
    match gold.elem {
        Elem::Class(_) if gold.rank() == 1 && gold.dims[0] == pred.dims[0] => Ok(()),
        _ => Err(mismatch(
            "gold",
            format!(
                "`{name}` of a categorical latent expects gold clusters class(K)[B], found {gold}"
            ),
            format!("this is {gold}"),
        )),
    }
}

/// A sequence latent's gold: one class per word of the latent's
/// sentences, `class(K')[B, N]`.
fn word_gold(name: &str, args: &Args, pred: &Tensor) -> Result<(), ShapeError> {
    let gold = args.tensor("gold");
    let words = &pred.dims[..2];
    match gold.elem {
        Elem::Class(_) if gold.dims == words => Ok(()),
        _ => Err(ShapeError {
            help: Some(
                "a sequence latent's tags are compared word by word with gold tags of the same sentences"
                    .into(),
            ),
            ..mismatch(
                "gold",
                format!(
                    "`{name}` of a sequence latent over [{}, {}] expects a gold tag per word class(K)[{}, {}], found {gold}",
                    words[0], words[1], words[0], words[1]
                ),
                format!("this is {gold}"),
            )
        }),
    }
}

/// The names a data source provides whatever its arguments (a table's
/// texts are named by its arguments).
pub fn provided_names(source: &str) -> &'static [&'static str] {
    match source {
        "synthetic_mixture" => &["x", "y", "z_gold"],
        "table" => &["y", "embeddings"],
        "hmm_sequences" => &["tokens", "y", "z_gold", "embeddings"],
        _ => &["tokens", "y", "embeddings"],
    }
}

/// The named values a data source provides, with their types.
pub fn provides(
    source: &str,
    args: &Args,
) -> Result<Vec<(String, Tensor, &'static str)>, ArgError> {
    let class = |k: u64| Tensor {
        elem: Elem::Class(k),
        dims: vec![B],
        latent: None,
    };
    let tokens = || {
        (
            "tokens".to_string(),
            Tensor {
                elem: Elem::Index,
                dims: vec![B, N],
                latent: None,
            },
            "token ids, padded; lengths travel with them",
        )
    };
    let table = |dim: u64| {
        (
            "embeddings".to_string(),
            Tensor::f32(vec![V, Dim::Const(dim)]),
            "the word vector table",
        )
    };
    Ok(match source {
        "synthetic_mixture" => vec![
            (
                "x".into(),
                Tensor::f32(vec![B, Dim::Const(args.size("features")?)]),
                "inputs",
            ),
            ("y".into(), class(2), "binary labels"),
            (
                "z_gold".into(),
                class(args.size("clusters")?),
                "the true cluster of each example",
            ),
        ],
        "table" => {
            let dim = args.call("embeddings")?.1.size("dim")?;
            let texts = args.strings("texts")?;
            let mut out: Vec<(String, Tensor, &'static str)> = texts
                .iter()
                .zip(lsmc_ir::types::TEXT_LENGTHS)
                .map(|(name, n)| {
                    let ty = Tensor {
                        elem: Elem::Index,
                        dims: vec![B, Dim::Sym(n, 0)],
                        latent: None,
                    };
                    (
                        name.clone(),
                        ty,
                        "token ids, padded; lengths travel with them",
                    )
                })
                .collect();
            let classes = args.strings("classes")?.len() as u64;
            out.push(("y".into(), class(classes), "class labels"));
            out.push(table(dim));
            out
        }
        "hmm_sequences" => {
            let dim = args.call("embeddings")?.1.size("dim")?;
            let states = Tensor {
                elem: Elem::Class(args.size("states")?),
                dims: vec![B, N],
                latent: None,
            };
            vec![
                tokens(),
                ("y".into(), class(2), "binary labels"),
                (
                    "z_gold".into(),
                    states,
                    "each word's hidden state, padded like the tokens",
                ),
                table(dim),
            ]
        }
        _ => {
            let dim = args.call("embeddings")?.1.size("dim")?;
            let classes = if args.symbol("labels")? == "fine" {
                5
            } else {
                2
            };
            vec![
                tokens(),
                ("y".into(), class(classes), "sentence labels"),
                table(dim),
            ]
        }
    })
}

/// The scores `d` needs for `k` categories, over sentences whose length
/// is the symbol `words` (`N`, or `M` for a second text).
pub fn scores_shape(d: &Descriptor, k: u64, words: &'static str) -> Tensor {
    let dims = d
        .scores
        .0
        .iter()
        .map(|a| match *a {
            Axis::Batch => B,
            Axis::Categories => Dim::Const(k),
            Axis::Words(plus) => Dim::Sym(words, plus),
        })
        .collect();
    Tensor::f32(dims)
}

/// Which sentences `scores` range over: the symbol on the layout's first
/// word axis (`N` when there is none or it is not symbolic).
pub fn words_of(d: &Descriptor, scores: &Tensor) -> &'static str {
    d.scores
        .0
        .iter()
        .position(|a| matches!(a, Axis::Words(_)))
        .and_then(|i| match scores.dims.get(i) {
            Some(Dim::Sym(s, _)) if *s != "B" && *s != "V" => Some(*s),
            _ => None,
        })
        .unwrap_or("N")
}
