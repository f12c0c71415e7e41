//! One entry point for every structure the latent node can map scores
//! onto: MAP, marginals (with the log-partition), SparseMAP, and the exact
//! VJPs of the relaxed forwards. Used by the executor and by `lsmc infer`.
//!
//! Scores are `s[B, K]` for `categorical(K)` and `s[B, N+1, N+1]` for
//! trees (layout of [`super::projective`]); `lengths` give each item's
//! true size (categories for categorical, words for trees) and default to
//! the full size. Padding never takes part, and is zero in every output.

use super::categorical;
use super::sparsemap;
use super::tree::Tree;
use crate::real::Real;
use lsmc_ir::types::StructureKind;
use ndarray::{ArrayD, Axis};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Structure {
    Categorical,
    Tree(Tree),
}

/// Why a structured computation cannot give an answer.
#[derive(Clone, Debug, PartialEq)]
pub enum StructureError {
    /// Scores of the wrong rank, or lengths that do not fit them.
    Shape(String),
    /// An operation the structure has no algorithm for.
    Unsupported(String),
    /// The GPU failed (the CUDA driver's words).
    Device(String),
}

impl std::fmt::Display for StructureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StructureError::Shape(m) | StructureError::Unsupported(m) => f.write_str(m),
            StructureError::Device(m) => write!(f, "on the GPU: {m}"),
        }
    }
}

impl std::error::Error for StructureError {}

impl Structure {
    pub fn new(kind: StructureKind, single_root: bool) -> Structure {
        match kind {
            StructureKind::Categorical => Structure::Categorical,
            StructureKind::Projective => Structure::Tree(Tree {
                projective: true,
                single_root,
            }),
            StructureKind::Nonprojective => Structure::Tree(Tree {
                projective: false,
                single_root,
            }),
        }
    }

    /// Zeroes the entries of a score-shaped gradient that are no part of
    /// any structure: for trees, arcs into the root, self-loops and arcs
    /// touching padding. A surrogate that returns a gradient of the
    /// decoder (STE-I's `ηγ`) would otherwise send gradient to scores no
    /// tree ever uses.
    pub fn keep_parts<T: Real>(&self, g: &mut ArrayD<T>, lengths: Option<&[usize]>) {
        if let Structure::Tree(_) = self {
            let n1 = g.shape()[1];
            for (b, mut item) in g.axis_iter_mut(Axis(0)).enumerate() {
                let len = lengths.and_then(|l| l.get(b).copied()).unwrap_or(n1 - 1);
                for h in 0..n1 {
                    for m in 0..n1 {
                        if m == 0 || h == m || h > len || m > len {
                            item[[h, m]] = T::zero();
                        }
                    }
                }
            }
        }
    }

    /// The lengths to use: the given ones, or every item at full size.
    fn lengths(
        &self,
        shape: &[usize],
        lengths: Option<&[usize]>,
    ) -> Result<Vec<usize>, StructureError> {
        let rank = match self {
            Structure::Categorical => 2,
            Structure::Tree(_) => 3,
        };
        if shape.len() != rank || (rank == 2 && shape[1] == 0) {
            return Err(StructureError::Shape(match self {
                Structure::Categorical => {
                    format!("categorical scores must have shape [B, K], got {shape:?}")
                }
                Structure::Tree(_) => {
                    format!("tree scores must have shape [B, N+1, N+1], got {shape:?}")
                }
            }));
        }
        let full = match self {
            Structure::Categorical => shape[1],
            Structure::Tree(_) => shape[1].saturating_sub(1),
        };
        let ls = lengths
            .map(<[usize]>::to_vec)
            .unwrap_or_else(|| vec![full; shape[0]]);
        if let Structure::Tree(_) = self {
            super::tree::check_shape(shape, &ls)?;
        } else {
            if ls.len() != shape[0] {
                return Err(StructureError::Shape(format!(
                    "{} lengths for a batch of {}",
                    ls.len(),
                    shape[0]
                )));
            }
            if let Some((b, &k)) = ls.iter().enumerate().find(|(_, &k)| k == 0 || k > full) {
                return Err(StructureError::Shape(format!(
                    "item {b} has {k} categories but must have between 1 and {full}"
                )));
            }
        }
        Ok(ls)
    }

    pub fn map<T: Real>(
        &self,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
    ) -> Result<ArrayD<T>, StructureError> {
        let ls = self.lengths(s.shape(), lengths)?;
        match self {
            Structure::Categorical => Ok(masked(s, &ls, categorical::argmax)),
            Structure::Tree(t) => t.map(s, &ls),
        }
    }

    /// Log-partition per item and marginals.
    pub fn marginals<T: Real>(
        &self,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
    ) -> Result<(Vec<f64>, ArrayD<T>), StructureError> {
        let ls = self.lengths(s.shape(), lengths)?;
        match self {
            Structure::Categorical => {
                let p = masked(s, &ls, categorical::marginals);
                let log_z = s
                    .axis_iter(Axis(0))
                    .zip(&ls)
                    .map(|(row, &k)| {
                        let xs: Vec<f64> = row.iter().take(k).map(|x| x.f64()).collect();
                        <f64 as super::logspace::Num>::lse(&xs)
                    })
                    .collect();
                Ok((log_z, p))
            }
            Structure::Tree(t) => t.marginals(s, &ls),
        }
    }

    /// The marginals alone: [`Structure::marginals`] without the
    /// log-partition, which the categorical case would compute apart.
    pub fn marginals_only<T: Real>(
        &self,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
    ) -> Result<ArrayD<T>, StructureError> {
        match self {
            Structure::Categorical => {
                let ls = self.lengths(s.shape(), lengths)?;
                Ok(masked(s, &ls, categorical::marginals))
            }
            Structure::Tree(_) => self.marginals(s, lengths).map(|r| r.1),
        }
    }

    pub fn marginals_vjp<T: Real>(
        &self,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
        g: &ArrayD<T>,
    ) -> Result<ArrayD<T>, StructureError> {
        let ls = self.lengths(s.shape(), lengths)?;
        match self {
            Structure::Categorical => {
                let p = masked(s, &ls, categorical::marginals);
                Ok(crate::ops::softmax::softmax_vjp(&p, g))
            }
            Structure::Tree(t) => t.marginals_vjp(s, &ls, g),
        }
    }

    /// An exact sample from the structure's Gibbs distribution per item, as
    /// a one-hot (categorical) or arc indicator (projective trees); items
    /// in batch order from one generator, so a run is reproducible.
    pub fn sample<T: Real>(
        &self,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Result<ArrayD<T>, StructureError> {
        let ls = self.lengths(s.shape(), lengths)?;
        match self {
            Structure::Categorical => Ok(masked(s, &ls, |x| categorical::sample(x, rng))),
            Structure::Tree(t) => t.sample(s, &ls, rng),
        }
    }

    pub fn sparsemap<T: Real>(
        &self,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
    ) -> Result<ArrayD<T>, StructureError> {
        self.sparsemap_within(s, lengths, sparsemap::EXACT_ITERATIONS)
    }

    /// SparseMAP with the trees' active set stopped after `max_iter`
    /// iterations (see [`sparsemap::solve_active_set_within`]); sparsemax,
    /// the categorical case, is exact in closed form and ignores it.
    pub fn sparsemap_within<T: Real>(
        &self,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
        max_iter: usize,
    ) -> Result<ArrayD<T>, StructureError> {
        let ls = self.lengths(s.shape(), lengths)?;
        match self {
            Structure::Categorical => Ok(masked(s, &ls, categorical::sparsemax)),
            Structure::Tree(t) => t.sparsemap(s, &ls, max_iter),
        }
    }

    pub fn sparsemap_vjp<T: Real>(
        &self,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
        g: &ArrayD<T>,
    ) -> Result<ArrayD<T>, StructureError> {
        self.sparsemap_vjp_within(s, lengths, g, sparsemap::EXACT_ITERATIONS)
    }

    /// The VJP of [`Self::sparsemap_within`]: over the active set that the
    /// same budget reaches.
    pub fn sparsemap_vjp_within<T: Real>(
        &self,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
        g: &ArrayD<T>,
        max_iter: usize,
    ) -> Result<ArrayD<T>, StructureError> {
        let ls = self.lengths(s.shape(), lengths)?;
        match self {
            Structure::Categorical => {
                let masked_s = mask(s, &ls);
                Ok(categorical::sparsemax_vjp(&masked_s, g))
            }
            Structure::Tree(t) => t.sparsemap_vjp(s, &ls, g, max_iter),
        }
    }
}

/// Categorical scores with the padding categories at −∞.
fn mask<T: Real>(s: &ArrayD<T>, lengths: &[usize]) -> ArrayD<T> {
    let mut m = s.clone();
    for (mut row, &k) in m.axis_iter_mut(Axis(0)).zip(lengths) {
        row.iter_mut().skip(k).for_each(|x| *x = T::neg_infinity());
    }
    m
}

/// `f` on masked categorical scores, zero on the padding.
fn masked<T: Real>(
    s: &ArrayD<T>,
    lengths: &[usize],
    mut f: impl FnMut(&ArrayD<T>) -> ArrayD<T>,
) -> ArrayD<T> {
    if lengths.iter().all(|&k| k == s.shape()[1]) {
        return f(s);
    }
    let mut out = f(&mask(s, lengths));
    for (mut row, &k) in out.axis_iter_mut(Axis(0)).zip(lengths) {
        row.iter_mut().skip(k).for_each(|x| *x = T::zero());
    }
    out
}
