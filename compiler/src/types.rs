//! Value types with symbolic shapes: `f32[B, 100]`, `f32[B, N+1, N+1]`,
//! `class(2)[B]`. `B` is the batch, `N` a sentence length (padded; the
//! runtime carries the true lengths), `V` a vocabulary size.

use serde::Serialize;
use std::fmt;

pub use lsmc_ir::structures::Descriptor;
pub use lsmc_ir::types::{Dim, B, N, N1, V};

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
    pub latent: Option<&'static Descriptor>,
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

    /// The scalars of a parameter tensor of this shape. A `V` axis (a
    /// trained copy of the vocabulary's table) counts symbolically; a tensor
    /// with any other axis known only at run time counts nothing, since no
    /// number written before the data is read would be right.
    pub fn of_shape(dims: &[Dim]) -> ParamCount {
        let mut count = ParamCount::fixed(1);
        let mut vocab_axes = 0;
        for d in dims {
            match *d {
                Dim::Const(n) => count.known *= n,
                d if d == V => vocab_axes += 1,
                Dim::Sym(..) => return ParamCount::default(),
            }
        }
        match vocab_axes {
            0 => count,
            1 => ParamCount {
                known: 0,
                per_vocab: count.known,
            },
            _ => ParamCount::default(),
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
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parameter_counts_its_scalars_with_the_vocabulary_axis_symbolic() {
        assert_eq!(ParamCount::of_shape(&[]), ParamCount::fixed(1));
        assert_eq!(
            ParamCount::of_shape(&[Dim::Const(3), Dim::Const(4)]),
            ParamCount::fixed(12)
        );
        assert_eq!(
            ParamCount::of_shape(&[V, Dim::Const(8)]),
            ParamCount {
                known: 0,
                per_vocab: 8
            }
        );
        assert_eq!(
            ParamCount::of_shape(&[B, Dim::Const(8)]),
            ParamCount::default()
        );
    }
}
