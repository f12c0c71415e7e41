//! One entry point for every structure the latent node can map scores
//! onto: MAP, marginals (with the log-partition), SparseMAP, sampling, the
//! exact VJPs of the relaxed forwards, a brute-force reference and the
//! statistics evaluation reports. Each structure implements [`Engine`] in
//! its own module, beside its descriptor; [`super::registry`] lists the
//! engines, and [`Structure`] finds a descriptor's engine there, so
//! nothing outside the structure's module knows which structures exist.
//!
//! Scores are laid out as the structure's descriptor says
//! ([`lsmc_ir::structures::Layout`]): `s[B, K]` for `categorical(K)`,
//! `s[B, N+1, N+1]` for trees (layout of [`super::projective`]). `lengths`
//! give each item's true size (categories, or words) and default to the
//! full size. Padding never takes part, and is zero in every output.

use super::registry;
use crate::context::Context;
use crate::real::Real;
use lsmc_ir::structures::Descriptor;
use ndarray::ArrayD;
use rand_chacha::ChaCha8Rng;
use std::any::Any;
use std::sync::Arc;

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

/// A latent's choices beyond its structure: whether exactly one word
/// attaches to the root (trees; other structures ignore it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub single_root: bool,
}

/// Whatever a forward solution keeps for its backward (SparseMAP's active
/// sets), typed by the engine that made it, which alone reads it back.
pub type State = Arc<dyn Any + Send + Sync>;

/// What a forward pass left for the backward: its value and the engine's
/// saved state, if it kept one.
#[derive(Clone, Copy)]
pub struct Saved<'a, T> {
    pub value: &'a ArrayD<T>,
    pub state: Option<&'a State>,
}

/// Statistics of the structures a latent induced, accumulated item by
/// item over a split (as [`Engine::decode`] gives them).
pub trait Statistics: Send {
    fn add(&mut self, item: &[usize]);
    /// Named values, as the descriptor's `statistics` lists them.
    fn report(&self) -> Vec<(&'static str, f64)>;
}

/// One structure's algorithms over `T`-valued scores. Methods take sizes
/// already checked by [`Engine::sizes`]; an operation the descriptor does
/// not list is a [`StructureError::Unsupported`].
pub trait Engine<T: Real>: Sync {
    fn descriptor(&self) -> &'static Descriptor;

    /// The shape check: each item's size, from `lengths` or the full size.
    fn sizes(
        &self,
        shape: &[usize],
        lengths: Option<&[usize]>,
    ) -> Result<Vec<usize>, StructureError>;

    /// MAP structures, as indicators in the scores' layout.
    fn map(
        &self,
        cx: &Context,
        o: Options,
        s: &ArrayD<T>,
        ls: &[usize],
    ) -> Result<ArrayD<T>, StructureError>;

    /// Log-partition per item and marginals.
    fn marginals(
        &self,
        cx: &Context,
        o: Options,
        s: &ArrayD<T>,
        ls: &[usize],
    ) -> Result<(Vec<f64>, ArrayD<T>), StructureError>;

    /// The marginals alone, for engines that get them cheaper without
    /// the log-partition.
    fn marginals_only(
        &self,
        cx: &Context,
        o: Options,
        s: &ArrayD<T>,
        ls: &[usize],
    ) -> Result<ArrayD<T>, StructureError> {
        self.marginals(cx, o, s, ls).map(|r| r.1)
    }

    /// The VJP of the marginals with upstream `g`; `at` is the forward's
    /// value at `s`, when the caller has it.
    fn marginals_vjp(
        &self,
        cx: &Context,
        o: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        g: &ArrayD<T>,
        at: Option<Saved<'_, T>>,
    ) -> Result<ArrayD<T>, StructureError>;

    /// One exact sample per item, drawn in batch order.
    fn sample(
        &self,
        o: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        rng: &mut ChaCha8Rng,
    ) -> Result<ArrayD<T>, StructureError>;

    /// SparseMAP within `max_iter` solver iterations (engines with a
    /// closed form ignore it), and what its VJP can reuse.
    fn sparsemap(
        &self,
        cx: &Context,
        o: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        max_iter: usize,
    ) -> Result<(ArrayD<T>, Option<State>), StructureError>;

    /// The VJP of [`Engine::sparsemap`] over the solution the same budget
    /// reaches: `at`'s, when the forward at `s` left it, else solved anew.
    #[allow(clippy::too_many_arguments)] // the VJP's inputs, and where it runs
    fn sparsemap_vjp(
        &self,
        cx: &Context,
        o: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        g: &ArrayD<T>,
        max_iter: usize,
        at: Option<Saved<'_, T>>,
    ) -> Result<ArrayD<T>, StructureError>;

    /// Zeroes the entries of a score-shaped gradient that are no part of
    /// any structure. A surrogate that returns a gradient of the decoder
    /// (STE-I's `ηγ`) would otherwise send gradient to scores no structure
    /// ever uses.
    fn keep_parts(&self, _g: &mut ArrayD<T>, _lengths: Option<&[usize]>) {}

    /// Each item's structure in a value `z` (an indicator, or the largest
    /// weights of a relaxation) as one choice per part — a tree's head of
    /// each word — for the statistics and for drawing; `None` for
    /// structures evaluation reports nothing about.
    fn decode(&self, _z: &ArrayD<T>, _ls: &[usize]) -> Option<Vec<Vec<usize>>> {
        None
    }

    /// An empty accumulator of the descriptor's statistics.
    fn statistics(&self) -> Option<Box<dyn Statistics>> {
        None
    }

    /// Item sizes small enough to enumerate in tests.
    fn reference_sizes(&self) -> std::ops::RangeInclusive<usize>;

    /// Brute force: every structure of one item of `size`, as an indicator
    /// over the item's scores (row-major, the layout's shape for one item).
    fn enumerate(&self, o: Options, size: usize) -> Vec<Vec<f64>>;
}

/// A structure with its options: finds its engine in the registry,
/// checks shapes and runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Structure {
    pub descriptor: &'static Descriptor,
    pub options: Options,
}

impl Structure {
    pub fn new(descriptor: &'static Descriptor, single_root: bool) -> Structure {
        Structure {
            descriptor,
            options: Options { single_root },
        }
    }

    pub fn descriptor(&self) -> &'static Descriptor {
        self.descriptor
    }

    pub fn engine<T: Real>(&self) -> Result<&'static dyn Engine<T>, StructureError> {
        registry::engine(self.descriptor)
    }

    /// Runs `f` with the engine and the checked sizes of `shape`.
    fn with<T: Real, R>(
        &self,
        shape: &[usize],
        lengths: Option<&[usize]>,
        f: impl FnOnce(&dyn Engine<T>, Options, &[usize]) -> Result<R, StructureError>,
    ) -> Result<R, StructureError> {
        let e = self.engine::<T>()?;
        let ls = e.sizes(shape, lengths)?;
        f(e, self.options, &ls)
    }

    /// Each item's size: the given lengths, checked against the scores'
    /// shape, or the full size.
    pub fn sizes<T: Real>(
        &self,
        shape: &[usize],
        lengths: Option<&[usize]>,
    ) -> Result<Vec<usize>, StructureError> {
        self.with::<T, _>(shape, lengths, |_, _, ls| Ok(ls.to_vec()))
    }

    pub fn map<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
    ) -> Result<ArrayD<T>, StructureError> {
        self.with(s.shape(), lengths, |e, o, ls| e.map(cx, o, s, ls))
    }

    /// Log-partition per item and marginals.
    pub fn marginals<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
    ) -> Result<(Vec<f64>, ArrayD<T>), StructureError> {
        self.with(s.shape(), lengths, |e, o, ls| e.marginals(cx, o, s, ls))
    }

    /// The marginals alone: [`Structure::marginals`] without the
    /// log-partition, where the engine computes that apart.
    pub fn marginals_only<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
    ) -> Result<ArrayD<T>, StructureError> {
        self.with(s.shape(), lengths, |e, o, ls| {
            e.marginals_only(cx, o, s, ls)
        })
    }

    pub fn marginals_vjp<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
        g: &ArrayD<T>,
    ) -> Result<ArrayD<T>, StructureError> {
        self.with(s.shape(), lengths, |e, o, ls| {
            e.marginals_vjp(cx, o, s, ls, g, None)
        })
    }

    /// [`Structure::marginals_vjp`] with the forward's value at `s`.
    pub fn marginals_vjp_at<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
        g: &ArrayD<T>,
        at: Saved<'_, T>,
    ) -> Result<ArrayD<T>, StructureError> {
        self.with(s.shape(), lengths, |e, o, ls| {
            e.marginals_vjp(cx, o, s, ls, g, Some(at))
        })
    }

    /// An exact sample from the structure's Gibbs distribution per item, as
    /// an indicator; items in batch order from one generator, so a run is
    /// reproducible.
    pub fn sample<T: Real>(
        &self,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
        rng: &mut ChaCha8Rng,
    ) -> Result<ArrayD<T>, StructureError> {
        self.with(s.shape(), lengths, |e, o, ls| e.sample(o, s, ls, rng))
    }

    pub fn sparsemap<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
    ) -> Result<ArrayD<T>, StructureError> {
        self.sparsemap_within(cx, s, lengths, super::sparsemap::EXACT_ITERATIONS)
    }

    /// SparseMAP with the trees' active set stopped after `max_iter`
    /// iterations (see [`super::sparsemap::solve_active_set_within`]);
    /// sparsemax, the categorical case, is exact in closed form and
    /// ignores it.
    pub fn sparsemap_within<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
        max_iter: usize,
    ) -> Result<ArrayD<T>, StructureError> {
        self.sparsemap_saved(cx, s, lengths, max_iter).map(|r| r.0)
    }

    /// [`Structure::sparsemap_within`] and the solution its VJP reuses
    /// ([`Structure::sparsemap_vjp_at`]).
    pub fn sparsemap_saved<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
        max_iter: usize,
    ) -> Result<(ArrayD<T>, Option<State>), StructureError> {
        self.with(s.shape(), lengths, |e, o, ls| {
            e.sparsemap(cx, o, s, ls, max_iter)
        })
    }

    pub fn sparsemap_vjp<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
        g: &ArrayD<T>,
    ) -> Result<ArrayD<T>, StructureError> {
        self.sparsemap_vjp_within(cx, s, lengths, g, super::sparsemap::EXACT_ITERATIONS)
    }

    /// The VJP of [`Self::sparsemap_within`]: over the active set that the
    /// same budget reaches, solved again.
    pub fn sparsemap_vjp_within<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
        g: &ArrayD<T>,
        max_iter: usize,
    ) -> Result<ArrayD<T>, StructureError> {
        self.with(s.shape(), lengths, |e, o, ls| {
            e.sparsemap_vjp(cx, o, s, ls, g, max_iter, None)
        })
    }

    /// [`Self::sparsemap_vjp_within`] over the solution the forward at `s`
    /// left ([`Structure::sparsemap_saved`]), without solving again.
    pub fn sparsemap_vjp_at<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
        g: &ArrayD<T>,
        max_iter: usize,
        at: Saved<'_, T>,
    ) -> Result<ArrayD<T>, StructureError> {
        self.with(s.shape(), lengths, |e, o, ls| {
            e.sparsemap_vjp(cx, o, s, ls, g, max_iter, Some(at))
        })
    }

    /// See [`Engine::keep_parts`]; a kind without an engine keeps all.
    pub fn keep_parts<T: Real>(&self, g: &mut ArrayD<T>, lengths: Option<&[usize]>) {
        if let Ok(e) = self.engine::<T>() {
            e.keep_parts(g, lengths);
        }
    }

    /// See [`Engine::decode`].
    pub fn decode<T: Real>(
        &self,
        z: &ArrayD<T>,
        lengths: Option<&[usize]>,
    ) -> Result<Option<Vec<Vec<usize>>>, StructureError> {
        self.with(z.shape(), lengths, |e, _, ls| Ok(e.decode(z, ls)))
    }

    /// An empty accumulator of the statistics evaluation reports, if the
    /// structure has any.
    pub fn statistics(&self) -> Option<Box<dyn Statistics>> {
        self.engine::<f64>().ok()?.statistics()
    }
}
