//! Symbolic sizes: the vocabulary the compiler types
//! values with and the runtime binds per batch (`B` examples, sentences of
//! `N` words, a vocabulary of `V`).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    Const(u64),
    /// A symbolic size plus a constant, e.g. `N+1` (the root row of a tree).
    Sym(&'static str, u64),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Const(n) => write!(f, "{n}"),
            Dim::Sym(s, 0) => write!(f, "{s}"),
            Dim::Sym(s, k) => write!(f, "{s}+{k}"),
        }
    }
}

pub const B: Dim = Dim::Sym("B", 0);
pub const N: Dim = Dim::Sym("N", 0);
pub const N1: Dim = Dim::Sym("N", 1);
pub const V: Dim = Dim::Sym("V", 0);

/// The symbolic lengths of a record's texts, in order: a sentence is
/// `[B, N]`, the second text of a pair `[B, M]`.
pub const TEXT_LENGTHS: [&str; 4] = ["N", "M", "L", "P"];

/// The input holding the true lengths of the sequences padded along the
/// symbolic size `symbol`: `lengths` for a sentence's `N` (the name SST
/// specs have always had), `lengths_M` for a second text's `M`, …
pub fn lengths_input(symbol: &str) -> String {
    match symbol {
        "N" => "lengths".into(),
        s => format!("lengths_{s}"),
    }
}

/// A number as the language writes it: integers without a point, very
/// small or large magnitudes in exponent form.
pub fn fmt_number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e6) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}
