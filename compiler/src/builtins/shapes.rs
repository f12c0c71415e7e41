//! Shape rules and parameter counts of the built-in layers, losses, metrics
//! and data sources. Each rule sees its arguments already bound and
//! type-checked against the signature in [`super::BUILTINS`].

use crate::types::{Dim, Elem, ParamCount, StructureKind, Tensor, B, N, N1, V};

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

fn mismatch(arg: &'static str, message: String, label: String) -> ShapeError {
    ShapeError {
        kind: ShapeErrorKind::Mismatch,
        arg,
        message,
        label,
        help: None,
    }
}

type Rule = Result<(Tensor, ParamCount), ShapeError>;

fn expect_f32(
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

fn const_dim(t: &Tensor, name: &'static str, layer: &str) -> Result<u64, ShapeError> {
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

fn with_last(t: &Tensor, d: u64) -> Tensor {
    let mut dims = t.dims.clone();
    if let Some(l) = dims.last_mut() {
        *l = Dim::Const(d);
    }
    Tensor::f32(dims)
}

/// Shape and parameter count of a layer call.
pub fn layer(name: &str, args: &Args) -> Rule {
    let none = ParamCount::default();
    match name {
        "linear" => {
            let x = expect_f32(args, "x", name, None, "an f32 tensor")?;
            let d = const_dim(&x, "x", name)?;
            let out = args.size("out")?;
            let bias = if args.bool("bias")? { out } else { 0 };
            Ok((with_last(&x, out), ParamCount::fixed(d * out + bias)))
        }
        "bilinear" => {
            let a = expect_f32(args, "a", name, Some(2), "f32[B, K]")?;
            let b = expect_f32(args, "b", name, Some(2), "f32[B, D]")?;
            if a.dims[0] != b.dims[0] {
                return Err(mismatch(
                    "b",
                    format!("`bilinear` inputs disagree on the batch axis: {a} and {b}"),
                    format!("this is {b}"),
                ));
            }
            let (k, d) = (const_dim(&a, "a", name)?, const_dim(&b, "b", name)?);
            let out = args.size("out")?;
            Ok((
                Tensor::f32(vec![a.dims[0], Dim::Const(out)]),
                ParamCount::fixed(k * d * out + out),
            ))
        }
        "matmul" => {
            let a = args.tensor("a");
            let b = args.tensor("b");
            if a.rank() < 2
                || a.rank() != b.rank()
                || a.dims[..a.rank() - 2] != b.dims[..b.rank() - 2]
                || a.dims[a.rank() - 1] != b.dims[b.rank() - 2]
            {
                return Err(mismatch(
                    "b",
                    format!("`matmul` cannot multiply {a} by {b}"),
                    format!("this is {b}"),
                ));
            }
            let mut dims = a.dims[..a.rank() - 1].to_vec();
            dims.push(b.dims[b.rank() - 1]);
            Ok((Tensor::f32(dims), none))
        }
        "embed" => {
            let ids = args.tensor("ids");
            if ids.elem != Elem::Index || ids.rank() != 2 {
                return Err(mismatch(
                    "ids",
                    format!("`embed` expects token ids index[B, N], found {ids}"),
                    format!("this is {ids}"),
                ));
            }
            let table = expect_f32(args, "table", name, Some(2), "an embedding table f32[V, E]")?;
            let e = const_dim(&table, "table", name)?;
            let params = if args.bool("frozen")? {
                none
            } else if table.dims[0] == V {
                ParamCount {
                    known: 0,
                    per_vocab: e,
                }
            } else if let Dim::Const(v) = table.dims[0] {
                ParamCount::fixed(v * e)
            } else {
                none
            };
            Ok((
                Tensor::f32(vec![ids.dims[0], ids.dims[1], Dim::Const(e)]),
                params,
            ))
        }
        "bilstm" => {
            let x = expect_f32(args, "x", name, Some(3), "a sequence f32[B, N, D]")?;
            let d = const_dim(&x, "x", name)?;
            let hidden = args.size("hidden")?;
            if hidden % 2 == 1 {
                return Err(ShapeError {
                    kind: ShapeErrorKind::BadSize,
                    arg: "hidden",
                    message: format!("`bilstm` hidden size {hidden} is odd"),
                    label: "split between the two directions".into(),
                    help: Some(format!("use an even size such as {}", hidden + 1)),
                });
            }
            let h = hidden / 2;
            // PyTorch layout: W_ih [4h, d], W_hh [4h, h], b_ih and b_hh [4h], per direction.
            let per_direction = 4 * h * (d + h) + 8 * h;
            Ok((with_last(&x, hidden), ParamCount::fixed(2 * per_direction)))
        }
        "arc_scores" => {
            let h = expect_f32(
                args,
                "h",
                name,
                Some(3),
                "word representations f32[B, N, D]",
            )?;
            let d = const_dim(&h, "h", name)?;
            let k = args.size("hidden")?;
            // W₁, W₂ [d, k], b [k], v [k], and a learned root representation [d].
            let params = 2 * d * k + 2 * k + d;
            Ok((
                Tensor::f32(vec![h.dims[0], Dim::Sym("N", 1), Dim::Sym("N", 1)]),
                ParamCount::fixed(params),
            ))
        }
        "heads" => {
            let z = args.tensor("z");
            if !z.latent.is_some_and(StructureKind::is_tree) {
                let what = match z.latent {
                    Some(StructureKind::Categorical) => "a categorical latent".to_string(),
                    _ => format!("{z}, not a latent"),
                };
                return Err(ShapeError {
                    kind: ShapeErrorKind::NeedsTree,
                    arg: "z",
                    message: "`heads` needs a dependency-tree latent".into(),
                    label: format!("this is {what}"),
                    help: Some(
                        "declare the latent as `latent z : dependency_tree(projective) = …`".into(),
                    ),
                });
            }
            let h = expect_f32(
                args,
                "h",
                name,
                Some(3),
                "word representations f32[B, N, D]",
            )?;
            let n = h.dims[1];
            let n1 = match n {
                Dim::Sym(s, k) => Dim::Sym(s, k + 1),
                Dim::Const(c) => Dim::Const(c + 1),
            };
            if z.dims != vec![h.dims[0], n1, n1] {
                return Err(mismatch(
                    "h",
                    format!("`heads` got a tree over {z} but words {h}"),
                    format!("this is {h}"),
                ));
            }
            Ok((h, none))
        }
        "concat" => {
            let parts = args
                .tensors("a")
                .into_iter()
                .chain(args.tensors("b"))
                .collect::<Vec<_>>();
            let first = parts[0];
            let mut total = 0;
            for (i, t) in parts.iter().enumerate() {
                let arg = if i == 0 { "a" } else { "b" };
                if t.elem != Elem::F32
                    || t.rank() != first.rank()
                    || t.dims[..t.rank().saturating_sub(1)]
                        != first.dims[..first.rank().saturating_sub(1)]
                {
                    return Err(mismatch(arg, format!("`concat` joins the last axis, so the other axes must agree: {first} and {t}"), format!("this is {t}")));
                }
                total += const_dim(t, arg, name)?;
            }
            Ok((with_last(first, total), none))
        }
        "attention_pool" | "sum_pool" | "mean_pool" => {
            let x = expect_f32(args, "x", name, Some(3), "a sequence f32[B, N, D]")?;
            let d = const_dim(&x, "x", name)?;
            let params = if name == "attention_pool" { d } else { 0 };
            Ok((
                Tensor::f32(vec![x.dims[0], x.dims[2]]),
                ParamCount::fixed(params),
            ))
        }
        "mlp" => {
            let x = expect_f32(args, "x", name, None, "an f32 tensor")?;
            let d = const_dim(&x, "x", name)?;
            let (h, out) = (args.size("hidden")?, args.size("out")?);
            Ok((
                with_last(&x, out),
                ParamCount::fixed(d * h + h + h * out + out),
            ))
        }
        "one_hot" => {
            let l = args.tensor("labels");
            match l.elem {
                Elem::Class(k) if l.rank() == 1 => {
                    Ok((Tensor::f32(vec![l.dims[0], Dim::Const(k)]), none))
                }
                _ => Err(mismatch(
                    "labels",
                    format!("`one_hot` expects class labels class(K)[B], found {l}"),
                    format!("this is {l}"),
                )),
            }
        }
        // Elementwise layers and dropout keep the shape (and drop the latent tag).
        _ => {
            let x = expect_f32(args, "x", name, None, "an f32 tensor")?;
            Ok((Tensor::f32(x.dims), none))
        }
    }
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
        _ => {
            let pred = expect_f32(
                args,
                "pred",
                name,
                Some(2),
                "a categorical latent f32[B, K]",
            )?;
            if pred.latent != Some(StructureKind::Categorical) {
                return Err(mismatch(
                    "pred",
                    format!("`{name}` measures the clusters of a categorical latent, and this is not one"),
                    format!("this is {pred}, not a latent"),
                ));
            }
            let gold = args.tensor("gold");
            match gold.elem {
                Elem::Class(_) if gold.rank() == 1 && gold.dims[0] == pred.dims[0] => Ok(()),
                _ => Err(mismatch(
                    "gold",
                    format!("`{name}` expects gold clusters class(K)[B], found {gold}"),
                    format!("this is {gold}"),
                )),
            }
        }
    }
}

/// The names a data source provides, whatever its arguments.
pub fn provided_names(source: &str) -> &'static [&'static str] {
    match source {
        "synthetic_mixture" => &["x", "y", "z_gold"],
        _ => &["tokens", "y", "embeddings"],
    }
}

/// The named values a data source provides, with their types.
pub fn provides(
    source: &str,
    args: &Args,
) -> Result<Vec<(&'static str, Tensor, &'static str)>, ArgError> {
    let class = |k: u64| Tensor {
        elem: Elem::Class(k),
        dims: vec![B],
        latent: None,
    };
    Ok(match source {
        "synthetic_mixture" => vec![
            (
                "x",
                Tensor::f32(vec![B, Dim::Const(args.size("features")?)]),
                "inputs",
            ),
            ("y", class(2), "binary labels"),
            (
                "z_gold",
                class(args.size("clusters")?),
                "the true cluster of each example",
            ),
        ],
        _ => {
            let dim = args.call("embeddings")?.1.size("dim")?;
            let classes = if args.symbol("labels")? == "fine" {
                5
            } else {
                2
            };
            vec![
                (
                    "tokens",
                    Tensor {
                        elem: Elem::Index,
                        dims: vec![B, N],
                        latent: None,
                    },
                    "token ids, padded; lengths travel with them",
                ),
                ("y", class(classes), "sentence labels"),
                (
                    "embeddings",
                    Tensor::f32(vec![V, Dim::Const(dim)]),
                    "the word vector table",
                ),
            ]
        }
    })
}

/// The shape of a structure's scores (and of its latent value).
pub fn scores_shape(kind: StructureKind, k: u64) -> Tensor {
    match kind {
        StructureKind::Categorical => Tensor::f32(vec![B, Dim::Const(k)]),
        _ => Tensor::f32(vec![B, N1, N1]),
    }
}
