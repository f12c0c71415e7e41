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

use super::part_scan::{self, PartMask};
use super::registry;
use crate::context::Context;
use crate::real::Real;
use lsmc_ir::structures::Descriptor;
use ndarray::ArrayD;
use rand_chacha::ChaCha8Rng;
use std::any::Any;
use std::collections::HashMap;
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
    /// Finite scores whose spread no f64 computation of this structure
    /// can represent (see [`Structure`]'s shift).
    Range(String),
}

impl std::fmt::Display for StructureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StructureError::Shape(m)
            | StructureError::Unsupported(m)
            | StructureError::Range(m) => f.write_str(m),
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

    /// The marginals and what their backward can reuse, for engines whose
    /// VJP would otherwise redo the forward's work (the matrix-tree
    /// factors); by default nothing is kept.
    fn marginals_saved(
        &self,
        cx: &Context,
        o: Options,
        s: &ArrayD<T>,
        ls: &[usize],
    ) -> Result<(ArrayD<T>, Option<State>), StructureError> {
        self.marginals_only(cx, o, s, ls).map(|m| (m, None))
    }

    /// The VJP of the marginals with upstream `g`; `at` is the forward's
    /// value at `s` (with [`Engine::marginals_saved`]'s state), when the
    /// caller has it.
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
        warm: Option<&ArrayD<T>>,
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

    /// How many parts every structure of an item of `size` selects: the
    /// same for all of them (a tree of `n` words has `n` arcs, a category
    /// is one part). Subtracting one constant from every part's score so
    /// changes every structure's score alike, which is what makes the
    /// shift of [`Structure`] exact.
    fn parts_per_structure(&self, o: Options, size: usize) -> usize;

    /// Zeroes the entries of a score-shaped gradient that are no part of
    /// any structure. A surrogate that returns a gradient of the decoder
    /// (STE-I's `ηγ`) would otherwise send gradient to scores no structure
    /// ever uses.
    fn keep_parts(&self, _g: &mut ArrayD<T>, _lengths: Option<&[usize]>) {}

    /// The entries [`Engine::keep_parts`] keeps in one item of `shape`
    /// (the scores' shape without the batch axis) and `size`, as ranges of
    /// its row-major index: what [`Shifted`] reads and shifts, without a
    /// mask the size of the scores. By default every entry.
    fn part_ranges(&self, shape: &[usize], _size: usize) -> Vec<std::ops::Range<usize>> {
        std::iter::once(0..shape.iter().product()).collect()
    }

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

/// Checks that there is one length per item of a batch of `batch`, each
/// at most `room` words: the check every structure over words makes.
pub fn check_lengths(batch: usize, lengths: &[usize], room: usize) -> Result<(), StructureError> {
    if lengths.len() != batch {
        return Err(StructureError::Shape(format!(
            "{} lengths for a batch of {batch}",
            lengths.len()
        )));
    }
    if let Some((b, &n)) = lengths.iter().enumerate().find(|(_, &n)| n > room) {
        return Err(StructureError::Shape(format!(
            "item {b} has length {n} but the scores only have room for {room} words"
        )));
    }
    Ok(())
}

/// Checks that a gradient (or direction) has the scores' shape.
pub fn check_same_shape(g: &[usize], s: &[usize]) -> Result<(), StructureError> {
    if g != s {
        return Err(StructureError::Shape(format!(
            "the gradient's shape {g:?} differs from the scores' {s:?}"
        )));
    }
    Ok(())
}

/// The largest spread of an item's part scores, times the parts one
/// structure sums, that MAP, marginals and sampling accept: every partial
/// sum of a structure's score then stays a factor 1e8 below f64's largest
/// number.
pub const SPREAD_LIMIT: f64 = 1e300;
/// The same for SparseMAP, which squares the scores.
pub const SPARSEMAP_SPREAD_LIMIT: f64 = 1e150;

/// Scores with each item's highest part score subtracted from its parts.
/// Every structure of an item selects the same number of parts
/// ([`Engine::parts_per_structure`]), so this changes every structure's
/// score by the same amount: MAP, marginals, samples and SparseMAP (whose
/// polytope lies where the parts sum to that number) are unchanged, and
/// so are their VJPs; the log-partition moves by the parts times the
/// shift, added back by [`Shifted::unshift_log_partition`]. Items with a
/// NaN or infinite part score are left as they are, for the caller's own
/// check to name. When no item's highest part score is beyond
/// [`UNSHIFTED`] in size — trained scores — nothing is copied (SparseMAP
/// always shifts: [`SPARSEMAP_UNSHIFTED`]): such an
/// offset costs f64 nothing, and the engines' own shifts take it from there.
pub struct Shifted<'a, T: Clone> {
    pub scores: std::borrow::Cow<'a, ArrayD<T>>,
    /// Per item: the amount subtracted and the parts a structure sums.
    shifts: Vec<(f64, usize)>,
}

/// The largest highest part score an item keeps unshifted (see [`Shifted`]).
pub const UNSHIFTED: f64 = 1e4;

/// The same for SparseMAP: none. Its QP squares the scores, so an offset
/// of a few thousand on a spread of 1e-3 already costs the projection its
/// sixth digit (a projective tree at offset 4,317 moved by 1e-6); the copy
/// costs nothing beside the active set.
pub const SPARSEMAP_UNSHIFTED: f64 = 0.0;

/// What an op accepts of an item's scores: the spread limit and the
/// largest highest part score it keeps unshifted.
#[derive(Clone, Copy, Debug)]
struct ScoreRange {
    spread: f64,
    unshifted: f64,
}

/// MAP, marginals and sampling.
const INFERENCE: ScoreRange = ScoreRange {
    spread: SPREAD_LIMIT,
    unshifted: UNSHIFTED,
};

/// SparseMAP, which squares the scores.
const PROJECTION: ScoreRange = ScoreRange {
    spread: SPARSEMAP_SPREAD_LIMIT,
    unshifted: SPARSEMAP_UNSHIFTED,
};

impl<'a, T: Real> Shifted<'a, T> {
    fn new(
        e: &dyn Engine<T>,
        o: Options,
        s: &'a ArrayD<T>,
        ls: &[usize],
        range: ScoreRange,
    ) -> Result<Shifted<'a, T>, StructureError> {
        let limit = range.spread;
        let flat = s.as_standard_layout();
        let values = flat.as_slice().expect("standard layout");
        let per = values.len() / ls.len().max(1);
        // Items of one size share their parts' mask, made once.
        let mut parts: HashMap<usize, PartMask> = HashMap::new();
        for &size in ls {
            parts
                .entry(size)
                .or_insert_with(|| PartMask::of(&e.part_ranges(&s.shape()[1..], size)));
        }
        // Read first: each item's range, checked against the limit.
        let mut shifts = Vec::with_capacity(ls.len());
        for (b, &size) in ls.iter().enumerate() {
            let k = e.parts_per_structure(o, size);
            let item = &values[b * per..(b + 1) * per];
            let (lo, hi) = part_scan::extremes(item, &parts[&size]);
            if !(lo.is_finite() && hi.is_finite()) {
                shifts.push((0.0, k));
                continue;
            }
            let spread = hi - lo;
            if spread * k as f64 > limit {
                return Err(StructureError::Range(format!(
                    "item {b}: its part scores span {spread:.3e} (from {lo:.3e} to {hi:.3e}) and a structure sums {k} of them, more than f64 can hold (the limit is a spread of {:.0e} over the parts); scores this far apart already make the answer the MAP structure: scale them down",
                    limit / k.max(1) as f64
                )));
            }
            shifts.push((hi, k));
        }
        if shifts.iter().all(|&(c, _)| c.abs() <= range.unshifted) {
            let shifts = shifts.into_iter().map(|(_, k)| (0.0, k)).collect();
            return Ok(Shifted {
                scores: std::borrow::Cow::Borrowed(s),
                shifts,
            });
        }
        let mut scores = flat.into_owned();
        let out = scores.as_slice_mut().expect("standard layout");
        for (b, (shift, &size)) in shifts.iter_mut().zip(ls).enumerate() {
            let c = T::of(shift.0);
            shift.0 = c.f64();
            parts[&size].subtract(&mut out[b * per..(b + 1) * per], c);
        }
        Ok(Shifted {
            scores: std::borrow::Cow::Owned(scores),
            shifts,
        })
    }

    /// The log-partition of the original scores from the shifted ones'.
    fn unshift_log_partition(&self, log_z: Vec<f64>) -> Result<Vec<f64>, StructureError> {
        log_z
            .into_iter()
            .zip(&self.shifts)
            .enumerate()
            .map(|(b, (z, &(c, k)))| {
                let back = z + c * k as f64;
                if z.is_finite() && !back.is_finite() {
                    return Err(StructureError::Range(format!(
                        "item {b}: the log-partition is {k} × {c:.3e} plus {z:.3e}, beyond f64"
                    )));
                }
                Ok(back)
            })
            .collect()
    }
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

    /// Runs `f` with the engine, the checked sizes of `s` and `s` shifted
    /// per item so that its highest part scores 0 ([`Shifted`]): extreme
    /// but finite scores (an offset of 1e300, a spread of 1e4) give the
    /// answers they should, and a spread no f64 computation can hold is
    /// refused. `range` bounds the spread times the parts a structure sums,
    /// and says which offsets are left unshifted.
    fn with_shifted<T: Real, R>(
        &self,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
        range: ScoreRange,
        f: impl FnOnce(&dyn Engine<T>, Options, &Shifted<T>, &[usize]) -> Result<R, StructureError>,
    ) -> Result<R, StructureError> {
        let e = self.engine::<T>()?;
        let ls = e.sizes(s.shape(), lengths)?;
        let shifted = Shifted::new(e, self.options, s, &ls, range)?;
        f(e, self.options, &shifted, &ls)
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
        self.with_shifted(s, lengths, INFERENCE, |e, o, sh, ls| {
            e.map(cx, o, &sh.scores, ls)
        })
    }

    /// Log-partition per item and marginals.
    pub fn marginals<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
    ) -> Result<(Vec<f64>, ArrayD<T>), StructureError> {
        self.with_shifted(s, lengths, INFERENCE, |e, o, sh, ls| {
            let (log_z, m) = e.marginals(cx, o, &sh.scores, ls)?;
            Ok((sh.unshift_log_partition(log_z)?, m))
        })
    }

    /// The marginals alone: [`Structure::marginals`] without the
    /// log-partition, where the engine computes that apart.
    pub fn marginals_only<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
    ) -> Result<ArrayD<T>, StructureError> {
        self.with_shifted(s, lengths, INFERENCE, |e, o, sh, ls| {
            e.marginals_only(cx, o, &sh.scores, ls)
        })
    }

    /// [`Structure::marginals_only`] keeping what the backward reuses
    /// (give it to [`Structure::marginals_vjp_at`] with the same scores).
    pub fn marginals_saved<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
    ) -> Result<(ArrayD<T>, Option<State>), StructureError> {
        self.with_shifted(s, lengths, INFERENCE, |e, o, sh, ls| {
            e.marginals_saved(cx, o, &sh.scores, ls)
        })
    }

    pub fn marginals_vjp<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
        g: &ArrayD<T>,
    ) -> Result<ArrayD<T>, StructureError> {
        self.with_shifted(s, lengths, INFERENCE, |e, o, sh, ls| {
            e.marginals_vjp(cx, o, &sh.scores, ls, g, None)
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
        self.with_shifted(s, lengths, INFERENCE, |e, o, sh, ls| {
            e.marginals_vjp(cx, o, &sh.scores, ls, g, Some(at))
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
        self.with_shifted(s, lengths, INFERENCE, |e, o, sh, ls| {
            e.sample(o, &sh.scores, ls, rng)
        })
    }

    pub fn sparsemap<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
    ) -> Result<ArrayD<T>, StructureError> {
        self.sparsemap_within(cx, s, lengths, super::sparsemap::EXACT_ITERATIONS, None)
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
        warm: Option<&ArrayD<T>>,
    ) -> Result<ArrayD<T>, StructureError> {
        self.sparsemap_saved(cx, s, lengths, max_iter, warm)
            .map(|r| r.0)
    }

    /// [`Structure::sparsemap_within`] and the solution its VJP reuses
    /// ([`Structure::sparsemap_vjp_at`]).
    pub fn sparsemap_saved<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: Option<&[usize]>,
        max_iter: usize,
        warm: Option<&ArrayD<T>>,
    ) -> Result<(ArrayD<T>, Option<State>), StructureError> {
        self.with_shifted(s, lengths, PROJECTION, |e, o, sh, ls| {
            e.sparsemap(cx, o, &sh.scores, ls, max_iter, warm)
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
        self.with_shifted(s, lengths, PROJECTION, |e, o, sh, ls| {
            e.sparsemap_vjp(cx, o, &sh.scores, ls, g, max_iter, None)
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
        self.with_shifted(s, lengths, PROJECTION, |e, o, sh, ls| {
            e.sparsemap_vjp(cx, o, &sh.scores, ls, g, max_iter, Some(at))
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
