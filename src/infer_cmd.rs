//! `lsmc infer`: one structured computation on scores from a JSON file, so
//! a researcher can check a structure by hand or from another language.
//!
//! Input `{"scores": [...], "lengths": [...]}` in the structure's layout
//! (docs/language.md §10.6): `scores[b][k]` for categorical,
//! `scores[b][h][m]` (`h ∈ 0..=N`, 0 the root; `m ∈ 1..=N`) for trees,
//! `scores[b][i][p][c]` for sequences, `scores[b][i][j]` (`i ≤ j`) for
//! constituency trees; `lengths` optional (default: full size). Output
//! `{"result": [...]}` in the same layout, or one number per item for
//! `logz`. Everything is computed in f64.

use crate::{EXIT_DIAGNOSTICS, EXIT_USAGE};
use clap::builder::PossibleValue;
use clap::ValueEnum;
use lsmc_ir::structures::Descriptor;
use lsmc_runtime::latent::structure::Structure;
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

/// A structure by the name its descriptor gives: every registered one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StructureArg(pub &'static Descriptor);

impl ValueEnum for StructureArg {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: std::sync::OnceLock<Vec<StructureArg>> = std::sync::OnceLock::new();
        ALL.get_or_init(|| {
            lsmc_runtime::latent::registry::catalog()
                .iter()
                .map(StructureArg)
                .collect()
        })
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.name))
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootArg {
    Single,
    Multi,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpArg {
    Map,
    Marginals,
    Logz,
    Sparsemap,
}

#[derive(clap::Args, Debug)]
pub struct InferArgs {
    #[arg(long, value_enum)]
    structure: StructureArg,
    /// Trees only: exactly one word attached to the root, or any number.
    #[arg(long, value_enum, default_value = "single")]
    root: RootArg,
    #[arg(long, value_enum)]
    op: OpArg,
    /// JSON file with `scores` (and optional `lengths`); `-` reads stdin.
    #[arg(long)]
    input: PathBuf,
    #[command(flatten)]
    pub device: crate::spec::DeviceArg,
}

pub fn run(args: &InferArgs, cx: &lsmc_runtime::Context) -> ExitCode {
    let name = args.input.display().to_string();
    let text = if name == "-" {
        let mut s = String::new();
        match std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
            Ok(_) => s,
            Err(e) => {
                eprintln!(
                    "error: cannot read standard input: {}",
                    crate::io_reason(&e)
                );
                return ExitCode::from(EXIT_USAGE);
            }
        }
    } else {
        match std::fs::read_to_string(&args.input) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot read `{name}`: {}", crate::io_reason(&e));
                return ExitCode::from(EXIT_USAGE);
            }
        }
    };
    match infer(cx, args, &text) {
        Ok(v) => {
            crate::out(&format!("{v}\n"));
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("error: {name}: {msg}");
            ExitCode::from(EXIT_DIAGNOSTICS)
        }
    }
}

fn infer(cx: &lsmc_runtime::Context, args: &InferArgs, text: &str) -> Result<Value, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "not valid JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        )
    })?;
    let obj = doc
        .as_object()
        .ok_or("the input must be a JSON object with `scores` (and optionally `lengths`)")?;
    if let Some(k) = obj.keys().find(|k| *k != "scores" && *k != "lengths") {
        return Err(format!(
            "unknown field `{k}` (expected `scores` and optionally `lengths`)"
        ));
    }
    let scores = obj.get("scores").ok_or("missing field `scores`")?;
    let rank = args.structure.0.scores.rank();
    let layout = args.structure.0.scores;
    let s = nested_array(scores, rank, &layout.written())?;
    let lengths = match obj.get("lengths") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_u64().map(|x| x as usize).ok_or_else(|| {
                        format!("`lengths[{i}]` must be a non-negative integer, got {v}")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(v) => return Err(format!("`lengths` must be an array of integers, got {v}")),
    };
    let structure = Structure::new(args.structure.0, args.root == RootArg::Single);
    let ls = lengths.as_deref();
    if let Some((b, n)) =
        lsmc_runtime::text_limit::first_too_long(layout, s.shape(), ls, cx.max_words())
    {
        return Err(lsmc_runtime::text_limit::too_long(
            &format!("`scores[{b}]`"),
            n,
            "for a tree",
            cx.max_words(),
        ));
    }
    let result = match args.op {
        OpArg::Map => to_json(&structure.map(cx, &s, ls).map_err(|e| e.to_string())?),
        OpArg::Marginals => to_json(
            &structure
                .marginals(cx, &s, ls)
                .map_err(|e| e.to_string())?
                .1,
        ),
        OpArg::Logz => {
            let (log_z, _) = structure.marginals(cx, &s, ls).map_err(|e| e.to_string())?;
            Value::from(log_z)
        }
        OpArg::Sparsemap => to_json(&structure.sparsemap(cx, &s, ls).map_err(|e| e.to_string())?),
    };
    Ok(serde_json::json!({ "result": result }))
}

/// A rectangular nested array of numbers of exactly `rank` levels.
fn nested_array(v: &Value, rank: usize, layout: &str) -> Result<ArrayD<f64>, String> {
    let mut shape = Vec::new();
    let mut cur = v;
    for _ in 0..rank {
        let a = cur
            .as_array()
            .ok_or_else(|| format!("`scores` must be a nested array {layout}"))?;
        shape.push(a.len());
        match a.first() {
            Some(first) => cur = first,
            None => break,
        }
    }
    if shape.len() < rank {
        shape.resize(rank, 0);
    }
    let mut data = Vec::with_capacity(shape.iter().product());
    fn walk(
        v: &Value,
        depth: usize,
        shape: &[usize],
        path: &mut Vec<usize>,
        out: &mut Vec<f64>,
        layout: &str,
    ) -> Result<(), String> {
        let at = || path.iter().map(|i| format!("[{i}]")).collect::<String>();
        if depth == shape.len() {
            return match v.as_f64() {
                Some(x) => {
                    out.push(x);
                    Ok(())
                }
                None => Err(format!("`scores{}` must be a number, got {v}", at())),
            };
        }
        let a = v.as_array().ok_or_else(|| {
            format!(
                "`scores{}` must be an array (layout {layout}), got {v}",
                at()
            )
        })?;
        if a.len() != shape[depth] {
            return Err(format!(
                "`scores{}` has {} entries but `scores{}` has {}: the array must be rectangular ({layout})",
                at(),
                a.len(),
                "[0]".repeat(depth),
                shape[depth]
            ));
        }
        for (i, x) in a.iter().enumerate() {
            path.push(i);
            walk(x, depth + 1, shape, path, out, layout)?;
            path.pop();
        }
        Ok(())
    }
    walk(v, 0, &shape, &mut Vec::new(), &mut data, layout)?;
    ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(|e| e.to_string())
}

fn to_json(a: &ArrayD<f64>) -> Value {
    fn rec(a: ndarray::ArrayViewD<f64>) -> Value {
        if a.ndim() == 0 {
            return Value::from(a[[]]);
        }
        Value::Array(a.outer_iter().map(rec).collect())
    }
    rec(a.view())
}
