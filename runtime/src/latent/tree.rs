//! Batched projective dependency trees over padded scores
//! `s[B, N+1, N+1]` (layout of [`super::projective`]) with true lengths:
//! padding never joins a tree, and its entries in the outputs are zero.
//! Each sentence is computed in f64 whatever the element type, and the
//! batch is split across the context's workers.

use super::structure::{
    check_lengths, check_same_shape, Engine, Options, Saved, State, Statistics, StructureError,
};
use super::{
    brute, matrix_tree_batch, nonprojective, on_gpu, projective, projective_lanes, sparsemap,
};
use crate::context::Context;
use crate::metrics::TreeStats;
use crate::real::Real;
use lsmc_ir::structures::{Descriptor, Ops, Spelling, ARCS};
use ndarray::{ArrayD, ArrayView2, Axis};

/// Runs `f(b, scores_b, n_b)` for every sentence on the context's
/// workers, the longest first (a sentence's cost grows with its length,
/// up to n³ for an exact projection, and a long one taken last kept one
/// worker busy alone: 1.9–2.7% of the exact SparseMAP projections' time
/// in a replay of SST's), and collects the results in batch order.
fn per_sentence<T: Real, R: Send>(
    cx: &Context,
    s: &ArrayD<T>,
    lengths: &[usize],
    f: impl Fn(usize, ArrayView2<T>, usize) -> R + Sync,
) -> Vec<R> {
    let b = s.shape()[0];
    let n1 = s.shape()[1];
    let view = s
        .view()
        .into_shape_with_order((b, n1, n1))
        .expect("scores are [B, N+1, N+1]");
    cx.map_costliest_first(&lengths[..b], |i| {
        f(i, view.index_axis(Axis(0), i), lengths[i])
    })
}

/// A dependency-tree structure: projective (Eisner) or not
/// (Chu-Liu-Edmonds and the matrix-tree theorem), single- or multi-root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tree {
    pub projective: bool,
    pub single_root: bool,
}

/// Checks that `s` is `[B, N+1, N+1]`.
fn check_layout(shape: &[usize]) -> Result<(), StructureError> {
    if shape.len() != 3 || shape[1] != shape[2] || shape[1] == 0 {
        return Err(StructureError::Shape(format!(
            "tree scores must have shape [B, N+1, N+1], got {shape:?}"
        )));
    }
    Ok(())
}

/// Checks that `s` is `[B, N+1, N+1]` and every length is at most `N`.
pub fn check_shape(shape: &[usize], lengths: &[usize]) -> Result<(), StructureError> {
    check_layout(shape)?;
    check_lengths(shape[0], lengths, shape[1] - 1)
}

/// The `(n+1) × (n+1)` block of one sentence, row-major, in f64, with
/// the entries that are not arcs zeroed.
fn block<T: Real>(sb: &ArrayView2<T>, n: usize) -> Vec<f64> {
    let n1 = n + 1;
    let mut v = vec![0.0; n1 * n1];
    for h in 0..n1 {
        for m in 1..n1 {
            if h != m {
                v[h * n1 + m] = sb[[h, m]].f64();
            }
        }
    }
    v
}

/// Writes per-sentence `(n+1)²` blocks back into a padded `[B, N+1, N+1]`.
fn unblock<T: Real, V: AsRef<[f64]>>(
    shape: &[usize],
    lengths: &[usize],
    blocks: &[V],
) -> ArrayD<T> {
    let np = shape[1];
    let mut out = vec![T::zero(); shape.iter().product()];
    for (b, (v, &n)) in blocks.iter().zip(lengths).enumerate() {
        let (v, n1) = (v.as_ref(), n + 1);
        for h in 0..n1 {
            for m in 1..n1 {
                if h != m {
                    out[(b * np + h) * np + m] = T::of(v[h * n1 + m]);
                }
            }
        }
    }
    ArrayD::from_shape_vec(ndarray::IxDyn(shape), out).expect("shape matches")
}

/// Sentences per lane group: enough to fill vector registers and amortise
/// each span's bookkeeping, few enough that lengths within a group stay close.
const GROUP: usize = 16;

/// Sentences per lane group for the MAP tree: its charts hold one plane
/// of max-sums, and six of them for 8 sentences stay in a core's L2 at
/// n = 40 where 16 do not (measured: 0.47–0.67 ms against 0.81–1.20 ms
/// for 32 sentences on one thread).
const MAP_GROUP: usize = 8;

/// The batch in lane groups: sentences sorted by length, so each group's
/// chart is barely larger than its sentences. The group size follows the
/// thread count (each sentence's lane is computed alone, so results do
/// not).
pub(super) fn lane_groups(cx: &Context, lengths: &[usize], group: usize) -> Vec<Vec<usize>> {
    let batch = lengths.len();
    let mut order: Vec<usize> = (0..batch).collect();
    order.sort_by_key(|&b| lengths[b]);
    let size = group.min(batch.div_ceil(cx.threads()).max(1));
    order.chunks(size).map(<[usize]>::to_vec).collect()
}

/// The scores of a group's sentences as `[h][m][lane]` over the group's
/// `(n+1)²` cells (n its longest sentence); arcs outside a sentence 0.
fn gather_lanes<T: Real>(
    members: &[usize],
    lengths: &[usize],
    flat: &[T],
    np: usize,
) -> (usize, Vec<f64>) {
    let n = members.iter().map(|&b| lengths[b]).max().unwrap_or(0);
    let (n1, lanes) = (n + 1, members.len());
    let mut v = vec![0.0; n1 * n1 * lanes];
    for (l, &b) in members.iter().enumerate() {
        let len = lengths[b];
        for h in 0..=len {
            for m in 1..=len {
                if h != m {
                    v[(h * n1 + m) * lanes + l] = flat[(b * np + h) * np + m].f64();
                }
            }
        }
    }
    (n, v)
}

/// Projective MAP trees over the batch in lane groups, groups spread
/// across threads: one-hot arc indicators `z[b][h][m]`.
fn projective_lanes_map<T: Real>(
    cx: &Context,
    s: &ArrayD<T>,
    lengths: &[usize],
    single_root: bool,
) -> ArrayD<T> {
    let groups = lane_groups(cx, lengths, MAP_GROUP);
    let np = s.shape()[1];
    let flat = s.as_standard_layout();
    let flat = flat.as_slice().expect("standard layout");
    let heads: Vec<Vec<Vec<usize>>> = cx.map_in_order(groups.len(), |i| {
        let (n, sv) = gather_lanes(&groups[i], lengths, flat, np);
        projective_lanes::map_heads(n, &lengths_of(&groups[i], lengths), &sv, single_root)
    });
    let mut z = vec![T::zero(); s.len()];
    for (members, heads) in groups.iter().zip(heads) {
        for (&b, heads) in members.iter().zip(heads) {
            for (m, &h) in heads.iter().enumerate().skip(1) {
                z[(b * np + h) * np + m] = T::one();
            }
        }
    }
    ArrayD::from_shape_vec(ndarray::IxDyn(s.shape()), z).expect("same size")
}

/// Projective inside-outside over the batch in lane groups, groups spread
/// across threads. Returns log Z, µ and — with a direction `g` — the
/// tangent `∇² log Z · g`, all in batch order.
fn projective_lanes<T: Real>(
    cx: &Context,
    s: &ArrayD<T>,
    lengths: &[usize],
    g: Option<&ArrayD<T>>,
    single_root: bool,
) -> (Vec<f64>, ArrayD<T>, Option<ArrayD<T>>) {
    let batch = lengths.len();
    let groups = lane_groups(cx, lengths, GROUP);
    // Flat, standard-layout views: dynamic-rank indexing per element would
    // cost as much as the small charts themselves.
    let np = s.shape()[1];
    let s_flat = s.as_standard_layout();
    let s_flat = s_flat.as_slice().expect("standard layout");
    let g_flat = g.map(|g| g.as_standard_layout());
    let g_flat = g_flat
        .as_ref()
        .map(|g| g.as_slice().expect("standard layout"));
    let run_group = |members: &[usize]| {
        let (n, sv) = gather_lanes(members, lengths, s_flat, np);
        let ls = lengths_of(members, lengths);
        let out = match g_flat {
            Some(g) => {
                let (_, dv) = gather_lanes(members, lengths, g, np);
                projective_lanes::inside_outside::<true>(n, &ls, &sv, &dv, single_root)
            }
            None => projective_lanes::inside_outside::<false>(n, &ls, &sv, &[], single_root),
        };
        (n + 1, out)
    };
    let results: Vec<(usize, projective_lanes::Out)> =
        cx.map_in_order(groups.len(), |i| run_group(&groups[i]));
    let mut log_z = vec![0.0; batch];
    let mut mu = vec![T::zero(); s.len()];
    let mut dmu = g.map(|_| vec![T::zero(); s.len()]);
    for (members, (n1, out)) in groups.iter().zip(results) {
        let lanes = members.len();
        for (l, &b) in members.iter().enumerate() {
            log_z[b] = out.log_z[l];
            let len = lengths[b];
            for h in 0..=len {
                for m in 1..=len {
                    let c = (h * n1 + m) * lanes + l;
                    let dst = (b * np + h) * np + m;
                    mu[dst] = T::of(out.mu[c]);
                    if let Some(d) = dmu.as_mut() {
                        d[dst] = T::of(out.dmu[c]);
                    }
                }
            }
        }
    }
    let shape = ndarray::IxDyn(s.shape());
    let mu = ArrayD::from_shape_vec(shape.clone(), mu).expect("same size");
    let dmu = dmu.map(|d| ArrayD::from_shape_vec(shape, d).expect("same size"));
    (log_z, mu, dmu)
}

fn lengths_of(members: &[usize], lengths: &[usize]) -> Vec<usize> {
    members.iter().map(|&b| lengths[b]).collect()
}

impl Tree {
    /// The MAP tree of one sentence's `(n+1)²` score block `v`:
    /// `heads[m]` for `m ∈ 1..=n`.
    pub fn map_heads(&self, n: usize, v: &[f64]) -> Vec<usize> {
        if self.projective {
            projective::map_flat(n, v, self.single_root)
        } else {
            nonprojective::map(n, &|h, m| v[h * (n + 1) + m], self.single_root)
        }
    }

    /// The MAP tree of one sentence as its arcs' indices in the `(n+1)²`
    /// block, increasing (SparseMAP's oracle).
    pub fn map_parts(&self, n: usize, v: &[f64]) -> sparsemap::Sparse {
        brute::arcs(&self.map_heads(n, v))
    }

    /// The MAP tree of one sentence as an `(n+1)²` arc indicator.
    pub fn map_block(&self, n: usize, v: &[f64]) -> Vec<f64> {
        let heads = self.map_heads(n, v);
        brute::indicator(&heads)
    }

    /// MAP trees as one-hot arc indicators `z[b][h][m]`.
    pub fn map<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: &[usize],
    ) -> Result<ArrayD<T>, StructureError> {
        check_shape(s.shape(), lengths)?;
        if let Some(gpu) = self.projective.then(|| cx.gpu()).flatten() {
            return on_gpu::map(gpu, s, lengths, self.single_root);
        }
        if self.projective {
            return Ok(projective_lanes_map(cx, s, lengths, self.single_root));
        }
        let blocks = per_sentence(cx, s, lengths, |_, sb, n| self.map_block(n, &block(&sb, n)));
        Ok(unblock(s.shape(), lengths, &blocks))
    }

    /// Log-partition per sentence and arc marginals `µ[b][h][m]`.
    pub fn marginals<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: &[usize],
    ) -> Result<(Vec<f64>, ArrayD<T>), StructureError> {
        check_shape(s.shape(), lengths)?;
        if let Some(gpu) = self.projective.then(|| cx.gpu()).flatten() {
            return on_gpu::marginals(gpu, s, lengths, self.single_root);
        }
        if self.projective {
            let (log_z, mu, _) = projective_lanes(cx, s, lengths, None, self.single_root);
            return Ok((log_z, mu));
        }
        let (log_z, mu, _) = matrix_tree_batch::marginals(cx, s, lengths, self.single_root, false);
        Ok((log_z, mu))
    }

    /// The VJP of the marginals with upstream `g`: `∇² log Z · g`, exact.
    pub fn marginals_vjp<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: &[usize],
        g: &ArrayD<T>,
    ) -> Result<ArrayD<T>, StructureError> {
        check_shape(s.shape(), lengths)?;
        check_same_shape(g.shape(), s.shape())?;
        if let Some(gpu) = self.projective.then(|| cx.gpu()).flatten() {
            return on_gpu::marginals_vjp(gpu, s, lengths, g, self.single_root);
        }
        if self.projective {
            let (_, _, dmu) = projective_lanes(cx, s, lengths, Some(g), self.single_root);
            return Ok(dmu.expect("a direction was given"));
        }
        Ok(matrix_tree_batch::vjp(
            cx,
            s,
            lengths,
            g,
            self.single_root,
            None,
        ))
    }

    /// Each sentence's SparseMAP solution. `record`: exact projections
    /// append their scores to `LSMC_RECORD_PROJECTIONS`' file — forward
    /// solves only, so that a VJP's re-solve (no saved state) does not
    /// record a projection twice.
    fn sparsemap_blocks<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: &[usize],
        max_iter: usize,
        warm: Option<&ArrayD<T>>,
        record: bool,
    ) -> Vec<sparsemap::Solution> {
        let warm = warm.and_then(|w| {
            let (b, n1) = (s.shape()[0], s.shape()[1]);
            w.view().into_shape_with_order((b, n1, n1)).ok()
        });
        per_sentence(cx, s, lengths, |b, sb, n| {
            let (v, map) = (
                block(&sb, n),
                sparsemap::Parts(|v: &[f64]| self.map_parts(n, v)),
            );
            if max_iter < sparsemap::EXACT_ITERATIONS {
                return sparsemap::solve_active_set_within(&v, &map, max_iter);
            }
            if record {
                super::projection_record::record(n, self.single_root, self.projective, &v);
            }
            let hull = std::sync::Arc::new(self.affine_hull(n));
            // Moment matching starts from the scores given (SPIGOT-CE's:
            // their marginals are the point it moves by a small step), else
            // from the projected scores themselves.
            let warm = warm.as_ref().map(|w| block(&w.index_axis(Axis(0), b), n));
            let starts: Vec<&[f64]> = warm.as_deref().into_iter().chain([v.as_slice()]).collect();
            // Projective trees hold at most one arc of a crossing (or
            // otherwise exclusive) set, a quick proof that the hull point
            // of scores near zero is outside; non-projective trees have
            // no such proof here.
            let outside = |z: &[f64]| {
                self.projective && super::exclusive_arcs::prove_outside(n, z, self.single_root)
            };
            sparsemap::solve_exact(
                &v,
                &map,
                &hull,
                &|t: &[f64]| self.marginals_block(n, t),
                &outside,
                &starts,
                max_iter,
            )
        })
    }

    /// The affine hull of the trees over `n` words: each word's heads sum
    /// to 1, and so do the root's arcs under a single root (the whole hull:
    /// checked against every tree's span in the tests).
    pub fn affine_hull(&self, n: usize) -> sparsemap::AffineHull {
        let n1 = n + 1;
        let mut groups: Vec<Vec<usize>> = (1..n1)
            .map(|m| (0..n1).filter(|&h| h != m).map(|h| h * n1 + m).collect())
            .collect();
        if self.single_root {
            groups.push((1..n1).collect());
        }
        sparsemap::AffineHull::new(groups)
    }

    /// One sentence's log-partition and arc marginals (an `(n+1)²` block).
    /// Projective ones through the linear-space lanes (a group of one):
    /// exact projections call this 10–70 times per sentence, and the
    /// log-space chart's exponential per split point made it most of an
    /// exact SPIGOT-CE step.
    fn marginals_block(&self, n: usize, v: &[f64]) -> (f64, Vec<f64>) {
        if self.projective {
            let arcs = block(
                &ArrayView2::from_shape((n + 1, n + 1), v).expect("(n+1)²"),
                n,
            );
            let out =
                projective_lanes::inside_outside::<false>(n, &[n], &arcs, &[], self.single_root);
            return (out.log_z[0], out.mu);
        }
        nonprojective::marginals(n, &|h, m| v[h * (n + 1) + m], self.single_root)
    }

    /// One sentence's exact sample: projective trees from the inside
    /// chart, non-projective ones by conditioning on the matrix-tree
    /// marginals word by word ([`nonprojective::sample`]), whose refusal
    /// of scores that admit no tree names the item.
    fn sample_heads(
        &self,
        b: usize,
        n: usize,
        s: &dyn Fn(usize, usize) -> f64,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Result<Vec<usize>, StructureError> {
        if self.projective {
            return Ok(projective::sample(n, s, self.single_root, rng));
        }
        nonprojective::sample(n, s, self.single_root, rng)
            .map_err(|e| StructureError::Range(format!("item {b}: {e}")))
    }

    /// Exact samples, one tree per sentence, drawn in batch order.
    pub fn sample<T: Real>(
        &self,
        s: &ArrayD<T>,
        lengths: &[usize],
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Result<ArrayD<T>, StructureError> {
        check_shape(s.shape(), lengths)?;
        let n1 = s.shape()[1];
        let view = s
            .view()
            .into_shape_with_order((s.shape()[0], n1, n1))
            .map_err(|_| StructureError::Shape("scores are not contiguous".into()))?;
        let blocks = lengths
            .iter()
            .enumerate()
            .map(|(b, &n)| {
                let v = block(&view.index_axis(Axis(0), b), n);
                let heads = self.sample_heads(b, n, &|h, m| v[h * (n + 1) + m], rng)?;
                Ok(brute::indicator(&heads))
            })
            .collect::<Result<Vec<Vec<f64>>, StructureError>>()?;
        Ok(unblock(s.shape(), lengths, &blocks))
    }

    /// SparseMAP: the projection of the scores onto the tree polytope.
    pub fn sparsemap<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: &[usize],
        max_iter: usize,
    ) -> Result<ArrayD<T>, StructureError> {
        self.sparsemap_solved(cx, s, lengths, max_iter, None)
            .map(|r| r.0)
    }

    /// [`Tree::sparsemap`] and each sentence's solution (its active set),
    /// from which [`Tree::sparsemap_vjp_over`] reads the Jacobian.
    pub fn sparsemap_solved<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: &[usize],
        max_iter: usize,
        warm: Option<&ArrayD<T>>,
    ) -> Result<(ArrayD<T>, Vec<sparsemap::Solution>), StructureError> {
        check_shape(s.shape(), lengths)?;
        let sols = self.sparsemap_blocks(cx, s, lengths, max_iter, warm, true);
        let blocks: Vec<&[f64]> = sols.iter().map(|x| x.mu.as_slice()).collect();
        Ok((unblock(s.shape(), lengths, &blocks), sols))
    }

    /// The VJP of SparseMAP, from the active set of its forward solution.
    pub fn sparsemap_vjp<T: Real>(
        &self,
        cx: &Context,
        s: &ArrayD<T>,
        lengths: &[usize],
        g: &ArrayD<T>,
        max_iter: usize,
    ) -> Result<ArrayD<T>, StructureError> {
        check_shape(s.shape(), lengths)?;
        let sols = self.sparsemap_blocks(cx, s, lengths, max_iter, None, false);
        Self::sparsemap_vjp_over(&sols, s.shape(), lengths, g)
    }

    /// The VJP of SparseMAP over given solutions, one per sentence.
    pub fn sparsemap_vjp_over<T: Real>(
        sols: &[sparsemap::Solution],
        shape: &[usize],
        lengths: &[usize],
        g: &ArrayD<T>,
    ) -> Result<ArrayD<T>, StructureError> {
        check_shape(shape, lengths)?;
        let n1 = shape[1];
        if sols.len() != lengths.len() {
            return Err(StructureError::Shape(format!(
                "{} SparseMAP solutions for a batch of {}",
                sols.len(),
                lengths.len()
            )));
        }
        let gv = g
            .view()
            .into_shape_with_order((shape[0], n1, n1))
            .map_err(|_| {
                StructureError::Shape("the gradient's shape differs from the scores'".into())
            })?;
        let blocks: Vec<Vec<f64>> = sols
            .iter()
            .enumerate()
            .map(|(b, sol)| sol.vjp(&block(&gv.index_axis(Axis(0), b), lengths[b])))
            .collect();
        Ok(unblock(shape, lengths, &blocks))
    }
}

/// The arcs of a sentence of `n` words in one item of `[N+1, N+1]` scores
/// (`n1 = N+1`), as ranges of the item's row-major index: in row `h ≤ n`,
/// the arcs `h → m` for `1 ≤ m ≤ n`, `m ≠ h`.
pub fn arc_ranges(n1: usize, n: usize) -> Vec<std::ops::Range<usize>> {
    // Callers check the lengths first: a longer sentence's rows would
    // run into the next row's.
    debug_assert!(n < n1, "{n} words in rows of {n1}");
    (0..=n.min(n1 - 1))
        .flat_map(|h| {
            let row = h * n1;
            [row + 1..row + h.max(1), row + h + 1..row + n + 1]
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// `dependency_tree(VARIANT)`: trees over a sentence's words, MAP,
/// marginals, SparseMAP and exact samples.
const fn trees(variant: &'static str, variant_doc: &'static str) -> Descriptor {
    Descriptor {
        name: variant,
        spelling: Spelling {
            callee: "dependency_tree",
            variant: Some(variant),
            rooted: true,
            doc: "Dependency trees over a sentence; scores f32[B, N+1, N+1] as \
                  scores[b][head][modifier], head 0 = root.",
            variant_doc,
        },
        scores: ARCS,
        scores_hint: "produce arc scores with `arc_scores(h, hidden)`",
        ops: Ops {
            map: true,
            marginals: true,
            sparsemap: true,
            sample: true,
        },
        statistics: &["tree_depth", "flat_trees", "arc_length"],
    }
}

/// Eisner's algorithm and its relatives; samples from the inside chart.
pub static PROJECTIVE: Descriptor = trees("projective", "trees without crossing arcs (Eisner)");

/// Chu-Liu-Edmonds and the matrix-tree theorem; samples by conditioning
/// on the matrix-tree marginals word by word (not Wilson's walk, whose
/// running time grows exponentially with the score spread: see
/// [`super::nonprojective`]).
pub static NONPROJECTIVE: Descriptor = trees(
    "nonprojective",
    "any spanning arborescence (Chu-Liu-Edmonds, matrix-tree theorem)",
);

/// The dependency-tree engine: [`Tree`] with the latent's root option,
/// projective or not.
pub struct DependencyTrees {
    pub projective: bool,
}

impl DependencyTrees {
    fn tree(&self, o: Options) -> Tree {
        Tree {
            projective: self.projective,
            single_root: o.single_root,
        }
    }
}

impl<T: Real> Engine<T> for DependencyTrees {
    fn descriptor(&self) -> &'static Descriptor {
        if self.projective {
            &PROJECTIVE
        } else {
            &NONPROJECTIVE
        }
    }

    fn sizes(
        &self,
        shape: &[usize],
        lengths: Option<&[usize]>,
    ) -> Result<Vec<usize>, StructureError> {
        check_layout(shape)?;
        let ls = lengths
            .map(<[usize]>::to_vec)
            .unwrap_or_else(|| vec![shape[1] - 1; shape[0]]);
        check_shape(shape, &ls)?;
        Ok(ls)
    }

    fn map(
        &self,
        cx: &Context,
        o: Options,
        s: &ArrayD<T>,
        ls: &[usize],
    ) -> Result<ArrayD<T>, StructureError> {
        self.tree(o).map(cx, s, ls)
    }

    fn marginals(
        &self,
        cx: &Context,
        o: Options,
        s: &ArrayD<T>,
        ls: &[usize],
    ) -> Result<(Vec<f64>, ArrayD<T>), StructureError> {
        self.tree(o).marginals(cx, s, ls)
    }

    fn marginals_vjp(
        &self,
        cx: &Context,
        o: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        g: &ArrayD<T>,
        at: Option<Saved<'_, T>>,
    ) -> Result<ArrayD<T>, StructureError> {
        let tree = self.tree(o);
        let factored = at
            .and_then(|a| a.state)
            .and_then(|st| st.downcast_ref::<matrix_tree_batch::Factored>());
        match factored {
            Some(f) if !tree.projective => {
                check_shape(s.shape(), ls)?;
                check_same_shape(g.shape(), s.shape())?;
                Ok(matrix_tree_batch::vjp(
                    cx,
                    s,
                    ls,
                    g,
                    tree.single_root,
                    Some(f),
                ))
            }
            _ => tree.marginals_vjp(cx, s, ls, g),
        }
    }

    /// Non-projective trees keep their factored Laplacians on the CPU.
    fn marginals_saved(
        &self,
        cx: &Context,
        o: Options,
        s: &ArrayD<T>,
        ls: &[usize],
    ) -> Result<(ArrayD<T>, Option<State>), StructureError> {
        let tree = self.tree(o);
        if tree.projective {
            return tree.marginals(cx, s, ls).map(|(_, mu)| (mu, None));
        }
        check_shape(s.shape(), ls)?;
        let (_, mu, factored) = matrix_tree_batch::marginals(cx, s, ls, tree.single_root, true);
        let state: Option<State> = factored.map(|f| std::sync::Arc::new(f) as State);
        Ok((mu, state))
    }

    fn sample(
        &self,
        o: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Result<ArrayD<T>, StructureError> {
        self.tree(o).sample(s, ls, rng)
    }

    /// Keeps every sentence's active set for the VJP.
    fn sparsemap(
        &self,
        cx: &Context,
        o: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        max_iter: usize,
        warm: Option<&ArrayD<T>>,
    ) -> Result<(ArrayD<T>, Option<State>), StructureError> {
        let (mu, sols) = self.tree(o).sparsemap_solved(cx, s, ls, max_iter, warm)?;
        Ok((mu, Some(std::sync::Arc::new(sols))))
    }

    fn sparsemap_vjp(
        &self,
        cx: &Context,
        o: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        g: &ArrayD<T>,
        max_iter: usize,
        at: Option<Saved<'_, T>>,
    ) -> Result<ArrayD<T>, StructureError> {
        match sparsemap::saved_solutions(at) {
            Some(sols) => Tree::sparsemap_vjp_over(sols, s.shape(), ls, g),
            None => self.tree(o).sparsemap_vjp(cx, s, ls, g, max_iter),
        }
    }

    /// One arc into each word.
    fn parts_per_structure(&self, _: Options, size: usize) -> usize {
        size
    }

    /// Arcs into the root, self-loops and arcs touching padding.
    fn keep_parts(&self, g: &mut ArrayD<T>, lengths: Option<&[usize]>) {
        let n1 = g.shape()[1];
        for (b, item) in g.axis_iter_mut(Axis(0)).enumerate() {
            let len = lengths.and_then(|l| l.get(b).copied()).unwrap_or(n1 - 1);
            // Rows of a fixed-rank view: indexing the dynamic-rank item
            // cell by cell cost more than Eisner's MAP itself at n = 80.
            let mut item = item
                .into_dimensionality::<ndarray::Ix2>()
                .expect("[N+1, N+1]");
            for (h, mut row) in item.rows_mut().into_iter().enumerate() {
                for (m, x) in row.iter_mut().enumerate() {
                    if m == 0 || h == m || h > len || m > len {
                        *x = T::zero();
                    }
                }
            }
        }
    }

    fn part_ranges(&self, shape: &[usize], size: usize) -> Vec<std::ops::Range<usize>> {
        arc_ranges(shape[1], size)
    }

    /// Each word's head, the largest weight into it.
    fn decode(&self, z: &ArrayD<T>, ls: &[usize]) -> Option<Vec<Vec<usize>>> {
        Some(
            z.outer_iter()
                .zip(ls)
                .map(|(z, &n)| {
                    let z = z.into_dimensionality::<ndarray::Ix2>().expect("[N+1, N+1]");
                    crate::metrics::heads(z, n)
                })
                .collect(),
        )
    }

    fn statistics(&self) -> Option<Box<dyn Statistics>> {
        Some(Box::<TreeStats>::default())
    }

    fn reference_sizes(&self) -> std::ops::RangeInclusive<usize> {
        1..=4
    }

    fn enumerate(&self, o: Options, size: usize) -> Vec<Vec<f64>> {
        brute::trees(size, self.projective, o.single_root)
            .iter()
            .map(|t| brute::indicator(t))
            .collect()
    }
}

impl Statistics for TreeStats {
    fn add(&mut self, heads: &[usize]) {
        TreeStats::add(self, heads);
    }

    fn report(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("tree_depth", self.depth()),
            ("flat_trees", self.flat_share()),
            ("arc_length", self.arc_length()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn batches_with_padding_equal_sentences_computed_alone() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let lengths = [5usize, 2, 7, 1];
        let n1 = 8;
        let cx = Context::default();
        let s = ArrayD::from_shape_simple_fn(ndarray::IxDyn(&[4, n1, n1]), || {
            rng.random::<f64>() * 4.0 - 2.0
        });
        for single in [true, false] {
            let tree = Tree {
                projective: true,
                single_root: single,
            };
            let (lz, mu) = tree.marginals(&cx, &s, &lengths).unwrap();
            let z = tree.map(&cx, &s, &lengths).unwrap();
            for (b, &n) in lengths.iter().enumerate() {
                // The same sentence, cut to its length, alone.
                let alone = |h: usize, m: usize| s[[b, h, m]];
                let (lz1, mu1) = projective::marginals(n, &alone, single);
                assert!((lz[b] - lz1).abs() < 1e-12);
                let heads = projective::map(n, &alone, single);
                for h in 0..n1 {
                    for m in 0..n1 {
                        let inside = h <= n && (1..=n).contains(&m);
                        let want = if inside { mu1[h * (n + 1) + m] } else { 0.0 };
                        assert!((mu[[b, h, m]] - want).abs() < 1e-12, "b={b} {h}->{m}");
                        let arc = inside && heads[m] == h;
                        assert_eq!(z[[b, h, m]], if arc { 1.0 } else { 0.0 });
                    }
                }
            }
        }
    }

    #[test]
    fn sparsemap_oracle_lists_the_map_trees_arcs_in_increasing_order() {
        // The active set's oracle lists a tree's arcs itself; they must be
        // the dense indicator's nonzero entries, in its order (sparse
        // products merge the lists).
        for (projective, single_root) in
            [(true, false), (true, true), (false, false), (false, true)]
        {
            let tree = Tree {
                projective,
                single_root,
            };
            for n in 0..=9 {
                for seed in 0..6 {
                    let v = brute::random_scores(n, seed, 3.0);
                    assert_eq!(
                        tree.map_parts(n, &v),
                        sparsemap::sparse(&tree.map_block(n, &v)),
                        "projective {projective}, single root {single_root}, n {n}, seed {seed}"
                    );
                }
            }
        }
    }

    #[test]
    fn nonprojective_samples_respect_lengths_and_name_the_item_that_admits_no_tree() {
        let n1 = 5;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        // Padding holds large garbage; it must neither join a tree nor show.
        let mut s = ArrayD::from_shape_simple_fn(ndarray::IxDyn(&[2, n1, n1]), || {
            rng.random::<f64>() * 4.0 - 2.0
        });
        s.slice_mut(ndarray::s![0, 4.., ..]).fill(1e3);
        s.slice_mut(ndarray::s![0, .., 4..]).fill(1e3);
        for single_root in [true, false] {
            let tree = Tree {
                projective: false,
                single_root,
            };
            for _ in 0..20 {
                let z = tree.sample(&s, &[3, 4], &mut rng).unwrap();
                for (b, n) in [(0usize, 3usize), (1, 4)] {
                    let heads: Vec<usize> = (0..=n)
                        .map(|m| {
                            if m == 0 {
                                0
                            } else {
                                (0..=n).find(|&h| z[[b, h, m]] == 1.0).unwrap()
                            }
                        })
                        .collect();
                    assert!(brute::is_tree(&heads, false, single_root), "{heads:?}");
                    let arcs: f64 = z.index_axis(Axis(0), b).sum();
                    assert_eq!(
                        arcs, n as f64,
                        "item {b}: one arc per word, none in padding"
                    );
                }
            }
            // Item 1's word 2 can have no head.
            let mut bad = s.clone();
            bad.slice_mut(ndarray::s![1, .., 2]).fill(f64::NEG_INFINITY);
            let err = tree.sample(&bad, &[3, 4], &mut rng).unwrap_err();
            assert!(matches!(err, StructureError::Range(_)), "{err}");
            let text = err.to_string();
            assert!(
                text.starts_with("item 1: ") && text.contains("word 2"),
                "{text}"
            );
        }
    }

    #[test]
    fn every_tree_op_gives_the_same_bits_with_one_thread_and_four() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        // More sentences than lane groups hold, of assorted lengths, so
        // the two thread counts cut the batch differently.
        let lengths: Vec<usize> = (0..37).map(|b| 1 + (b * 7) % 9).collect();
        let n1 = 10;
        let shape = [lengths.len(), n1, n1];
        let mut draw = || {
            ArrayD::from_shape_simple_fn(ndarray::IxDyn(&shape), || rng.random::<f64>() * 4.0 - 2.0)
        };
        let (s, g) = (draw(), draw());
        let (one, four) = (Context::cpu(1), Context::cpu(4));
        assert_eq!((one.workers(), four.workers()), (1, 4));
        for projective in [true, false] {
            for single_root in [true, false] {
                let tree = Tree {
                    projective,
                    single_root,
                };
                let run = |cx: &Context| {
                    let (log_z, mu) = tree.marginals(cx, &s, &lengths).unwrap();
                    (
                        log_z.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        mu,
                        tree.marginals_vjp(cx, &s, &lengths, &g).unwrap(),
                        tree.map(cx, &s, &lengths).unwrap(),
                        tree.sparsemap(cx, &s, &lengths, 50).unwrap(),
                    )
                };
                let (a, b) = (run(&one), run(&four));
                let case = format!("projective {projective}, single root {single_root}");
                assert_eq!(a.0, b.0, "log Z, {case}");
                for (x, y) in [(&a.1, &b.1), (&a.2, &b.2), (&a.3, &b.3), (&a.4, &b.4)] {
                    assert!(
                        x.iter().zip(y).all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{case}"
                    );
                }
            }
        }
    }
}
