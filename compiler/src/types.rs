//! Value types with symbolic shapes: `f32[B, 100]`, `f32[B, N+1, N+1]`,
//! `class(2)[B]`. `B` is the batch, `N` a sentence length (padded; the
//! runtime carries the true lengths), `V` a vocabulary size.

use serde::Serialize;
use std::fmt;

pub use lsmc_ir::types::{Dim, StructureKind, B, N, N1, V};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    F32,
    /// Token ids.
    Index,
    /// Class labels in `0..k`.
    Class(u64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub elem: Elem,
    pub dims: Vec<Dim>,
    /// Set on the output of a latent node (and only there): decoders that
    /// need a structure (`heads`) and metrics over clusters check it.
    pub latent: Option<StructureKind>,
}

impl Tensor {
    pub fn f32(dims: Vec<Dim>) -> Tensor {
        Tensor {
            elem: Elem::F32,
            dims,
            latent: None,
        }
    }

    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    pub fn last(&self) -> Option<Dim> {
        self.dims.last().copied()
    }

    /// Same element type and dimensions (latent tag ignored).
    pub fn same_shape(&self, other: &Tensor) -> bool {
        self.elem == other.elem && self.dims == other.dims
    }
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.elem {
            Elem::F32 => write!(f, "f32")?,
            Elem::Index => write!(f, "index")?,
            Elem::Class(k) => write!(f, "class({k})")?,
        }
        write!(f, "[")?;
        for (i, d) in self.dims.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

/// Counts parameters, symbolically in the vocabulary size when an embedding
/// table is trained: `known + per_vocab·V`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ParamCount {
    pub known: u64,
    pub per_vocab: u64,
}

impl ParamCount {
    pub fn fixed(n: u64) -> ParamCount {
        ParamCount {
            known: n,
            per_vocab: 0,
        }
    }
}

impl std::ops::Add for ParamCount {
    type Output = ParamCount;
    fn add(self, o: ParamCount) -> ParamCount {
        ParamCount {
            known: self.known + o.known,
            per_vocab: self.per_vocab + o.per_vocab,
        }
    }
}

impl std::ops::Sub for ParamCount {
    type Output = ParamCount;
    fn sub(self, o: ParamCount) -> ParamCount {
        ParamCount {
            known: self.known - o.known,
            per_vocab: self.per_vocab - o.per_vocab,
        }
    }
}

impl fmt::Display for ParamCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.known, self.per_vocab) {
            (k, 0) => write!(f, "{}", thousands(k)),
            (0, v) => write!(f, "{}·V", thousands(v)),
            (k, v) => write!(f, "{} + {}·V", thousands(k), thousands(v)),
        }
    }
}

pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
