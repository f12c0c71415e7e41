//! Non-projective marginals and their VJP over a padded batch
//! `s[B, N+1, N+1]`: sentences sorted by length into groups of
//! [`LANES`], each group factored once by [`matrix_tree_lanes`] on one
//! worker, which also writes its sentences' rows of the output (a serial
//! copy of the whole batch cost as much as a third of the factoring at
//! n = 40). A sentence whose lane fails its rounding-error bound is
//! computed alone by the subtraction-free walk.
//!
//! The forward can keep its factored groups ([`Factored`]) so that the
//! backward applies `∇² log Z` without factoring again: the inverse is
//! the forward's, and only the two tangent products remain.

use super::matrix_tree_lanes::{self, Group, Pack, LANES};
use super::nonprojective;
use crate::context::Context;
use crate::real::Real;
use ndarray::ArrayD;
use std::sync::{Mutex, PoisonError};

/// What a forward leaves for its backward: every group factored, for the
/// scores of one shape and lengths (a backward at another shape or other
/// lengths factors afresh, see [`Factored::matches`]; a group whose
/// scores' fingerprint differs too).
pub struct Factored {
    shape: Vec<usize>,
    lengths: Vec<usize>,
    single_root: bool,
    groups: Vec<FactoredGroup>,
}

struct FactoredGroup {
    members: Vec<usize>,
    group: Group,
    /// Per lane: whether the factoring passed its checks (else the walk).
    trusted: [bool; LANES],
    /// [`fingerprint`] of the members' scores.
    fingerprint: u64,
}

impl Factored {
    /// Whether this was factored for scores of `shape` and `lengths`
    /// (each group checks its scores' fingerprint as it is used).
    pub fn matches(&self, shape: &[usize], lengths: &[usize], single_root: bool) -> bool {
        self.shape == shape && self.lengths == lengths && self.single_root == single_root
    }
}

/// The most a forward keeps for its backward (beyond, the backward
/// factors again): 256 MiB, at batch 32 on two threads (four groups of
/// eight) sentences of up to about 720 words. More threads make more,
/// smaller groups, each as large as its longest sentence: on 16 threads
/// (16 groups of two) the budget binds near 360 words.
pub const KEEP_BYTES: usize = 256 << 20;

/// What [`marginals`] keeps for `groups` of `N + 1 = np`: each group's
/// `A` (`(N+1)²` packs) and `V` (`N²`), at their longest.
fn saved_bytes(groups: usize, np: usize) -> usize {
    let per_group = (np * np + np.saturating_sub(1).pow(2)) * std::mem::size_of::<Pack>();
    groups.saturating_mul(per_group)
}

/// A 64-bit fingerprint of the arc scores of `members` (the values the
/// kernels read, diagonals included), so that a backward handed a state
/// saved for other scores of the same shape factors afresh instead of
/// mixing the two. Fletcher's two running sums over the scores' bits,
/// in four lanes: the first sum changes with any one value, the second
/// with where it sits; additions only, about a cycle per score (a
/// multiply-and-mix per score took a tenth of the n = 40 backward).
fn fingerprint<T: Real>(x: &[T], np: usize, members: &[usize], lengths: &[usize]) -> u64 {
    let (mut first, mut second) = ([0u64; 4], [0u64; 4]);
    for &b in members {
        let len = lengths[b];
        for h in 0..=len {
            let start = (b * np + h) * np + 1;
            let row = &x[start..start + len];
            let chunks = row.chunks_exact(4);
            let rest = chunks.remainder();
            for c in chunks {
                for l in 0..4 {
                    first[l] = first[l].wrapping_add(c[l].f64().to_bits());
                    second[l] = second[l].wrapping_add(first[l]);
                }
            }
            for x in rest {
                first[0] = first[0].wrapping_add(x.f64().to_bits());
                second[0] = second[0].wrapping_add(first[0]);
            }
        }
    }
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    first
        .iter()
        .chain(&second)
        .fold(0, |h, &s| (h ^ s).wrapping_mul(K).rotate_left(23))
}

/// The batch's rows as one mutable chunk per sentence, handed out per
/// group: each group's worker writes only its own sentences.
fn chunks_per_group<'a, T>(
    out: &'a mut [T],
    np: usize,
    groups: &[Vec<usize>],
) -> Vec<Mutex<Vec<&'a mut [T]>>> {
    let mut chunks: Vec<Option<&mut [T]>> = out.chunks_mut(np * np).map(Some).collect();
    groups
        .iter()
        .map(|members| {
            Mutex::new(
                members
                    .iter()
                    .map(|&b| chunks[b].take().expect("each sentence in one group"))
                    .collect(),
            )
        })
        .collect()
}

/// The trusted lanes of a group's `(n+1)²` packs into their sentences'
/// `(N+1)²` chunks, over each one's own words (the kernels leave the
/// diagonal zero). Row by row across the lanes, so that each row of
/// packs is read from L1 (lane by lane, the whole chart was read eight
/// times: 6% of a batch's marginals and backward at n = 40).
fn write_lanes<T: Real>(
    chunks: &mut [&mut [T]],
    lens: &[usize],
    trusted: &[bool; LANES],
    np: usize,
    packs: &[Pack],
    n1: usize,
) {
    for (h, src) in packs.chunks_exact(n1).enumerate() {
        for (l, (chunk, &len)) in chunks.iter_mut().zip(lens).enumerate() {
            if !trusted[l] || h > len {
                continue;
            }
            let row = &mut chunk[h * np + 1..h * np + len + 1];
            for (x, p) in row.iter_mut().zip(&src[1..]) {
                *x = T::of(p[l]);
            }
        }
    }
}

/// A sentence's `(len+1)²` block (the walk's) into its chunk.
fn write_block<T: Real>(chunk: &mut [T], np: usize, len: usize, v: &[f64]) {
    let k1 = len + 1;
    for h in 0..k1 {
        for m in 1..k1 {
            if h != m {
                chunk[h * np + m] = T::of(v[h * k1 + m]);
            }
        }
    }
}

/// One sentence's `(len+1)²` block of the flat `x`, arcs only, in f64.
fn block_of<T: Real>(x: &[T], np: usize, b: usize, len: usize) -> Vec<f64> {
    let k1 = len + 1;
    let mut v = vec![0.0; k1 * k1];
    for h in 0..k1 {
        for m in 1..k1 {
            if h != m {
                v[h * k1 + m] = x[(b * np + h) * np + m].f64();
            }
        }
    }
    v
}

/// A group's `x` as `(n+1)²` packs, `fill` outside each lane's arcs
/// (the kernels read NaN as "no arc" in scores); row by row across the
/// lanes, as [`write_lanes`].
fn gather<T: Real>(
    x: &[T],
    np: usize,
    members: &[usize],
    lengths: &[usize],
    n: usize,
    fill: f64,
) -> Vec<Pack> {
    let n1 = n + 1;
    let mut packs = matrix_tree_lanes::buffer(n1 * n1, Pack([fill; LANES]));
    for (h, dst) in packs.chunks_exact_mut(n1).enumerate() {
        for (l, &b) in members.iter().enumerate() {
            let len = lengths[b];
            if h > len {
                continue;
            }
            // Diagonals too (a plain loop): the kernels give them no arc.
            let src = &x[(b * np + h) * np + 1..(b * np + h) * np + len + 1];
            for (p, x) in dst[1..].iter_mut().zip(src) {
                p[l] = x.f64();
            }
        }
    }
    packs
}

fn lengths_of(members: &[usize], lengths: &[usize]) -> Vec<usize> {
    members.iter().map(|&b| lengths[b]).collect()
}

/// The longest sentence of a group.
fn longest(members: &[usize], lengths: &[usize]) -> usize {
    members.iter().map(|&b| lengths[b]).max().unwrap_or(0)
}

/// Factors one group of `s` and checks each lane (bound and sums); with
/// `kept`, fingerprints its scores for a later backward (else 0).
fn factor_group<T: Real>(
    s: &[T],
    np: usize,
    members: &[usize],
    lengths: &[usize],
    single_root: bool,
    kept: bool,
) -> (FactoredGroup, Vec<Pack>) {
    let n = longest(members, lengths);
    let mut lens = [0; LANES];
    for (l, &b) in members.iter().enumerate() {
        lens[l] = lengths[b];
    }
    let sv = gather(s, np, members, lengths, n, f64::NAN);
    let group = matrix_tree_lanes::factor(n, lens, &sv, single_root);
    matrix_tree_lanes::recycle(sv);
    let mu = group.marginals();
    let sums = group.sums_to_one(&mu);
    let trusted = std::array::from_fn(|l| group.accurate[l] && sums[l]);
    let fingerprint = if kept {
        fingerprint(s, np, members, lengths)
    } else {
        0
    };
    let members = members.to_vec();
    (
        FactoredGroup {
            members,
            group,
            trusted,
            fingerprint,
        },
        mu,
    )
}

/// Log Z per sentence and the marginals `µ[b][h][m]` (zero off the arcs
/// and in the padding); with `keep`, also the factored groups for
/// [`vjp`] when they fit in [`KEEP_BYTES`].
pub fn marginals<T: Real>(
    cx: &Context,
    s: &ArrayD<T>,
    lengths: &[usize],
    single_root: bool,
    keep: bool,
) -> (Vec<f64>, ArrayD<T>, Option<Factored>) {
    let np = s.shape()[1];
    let groups = super::tree::lane_groups(cx, lengths, LANES);
    let keep = keep && saved_bytes(groups.len(), np) <= KEEP_BYTES;
    let s_flat = s.as_standard_layout();
    let s_flat = s_flat.as_slice().expect("standard layout");
    let mut out = vec![T::zero(); s.len()];
    let slots = chunks_per_group(&mut out, np, &groups);
    let results = cx.map_in_order(groups.len(), |i| {
        let mut chunks = slots[i].lock().unwrap_or_else(PoisonError::into_inner);
        let members = &groups[i];
        let (fg, mu) = factor_group(s_flat, np, members, lengths, single_root, keep);
        let n1 = longest(members, lengths) + 1;
        let lens = lengths_of(members, lengths);
        write_lanes(&mut chunks, &lens, &fg.trusted, np, &mu, n1);
        let mut log_z = Vec::with_capacity(members.len());
        for (l, (&b, chunk)) in members.iter().zip(chunks.iter_mut()).enumerate() {
            let len = lengths[b];
            if len == 0 {
                log_z.push(0.0);
            } else if fg.trusted[l] {
                log_z.push(fg.group.log_z[l]);
            } else {
                let sb = block_of(s_flat, np, b, len);
                let (lz, v) = nonprojective::marginals_by_walk(len, &sb, single_root);
                write_block(chunk, np, len, &v);
                log_z.push(lz);
            }
        }
        matrix_tree_lanes::recycle(mu);
        (log_z, keep.then_some(fg))
    });
    drop(slots);
    let mut log_zs = vec![0.0; lengths.len()];
    let mut kept = Vec::new();
    for (members, (log_z, fg)) in groups.iter().zip(results) {
        for (&b, lz) in members.iter().zip(log_z) {
            log_zs[b] = lz;
        }
        kept.extend(fg);
    }
    let mu = ArrayD::from_shape_vec(ndarray::IxDyn(s.shape()), out).expect("same size");
    let factored = keep.then(|| Factored {
        shape: s.shape().to_vec(),
        lengths: lengths.to_vec(),
        single_root,
        groups: kept,
    });
    (log_zs, mu, factored)
}

/// The VJP of the marginals with upstream `g`, `∇² log Z · g` (zero off
/// the arcs), on the forward's factored groups when `saved` matches the
/// scores (shape, lengths and each group's fingerprint), else factoring
/// them here.
pub fn vjp<T: Real>(
    cx: &Context,
    s: &ArrayD<T>,
    lengths: &[usize],
    g: &ArrayD<T>,
    single_root: bool,
    saved: Option<&Factored>,
) -> ArrayD<T> {
    let np = s.shape()[1];
    let saved = saved.filter(|f| f.matches(s.shape(), lengths, single_root));
    let groups: Vec<Vec<usize>> = match saved {
        Some(f) => f.groups.iter().map(|fg| fg.members.clone()).collect(),
        None => super::tree::lane_groups(cx, lengths, LANES),
    };
    let s_flat = s.as_standard_layout();
    let s_flat = s_flat.as_slice().expect("standard layout");
    let g_flat = g.as_standard_layout();
    let g_flat = g_flat.as_slice().expect("standard layout");
    let mut out = vec![T::zero(); s.len()];
    let slots = chunks_per_group(&mut out, np, &groups);
    cx.map_in_order(groups.len(), |i| {
        let mut chunks = slots[i].lock().unwrap_or_else(PoisonError::into_inner);
        let members = &groups[i];
        let fresh;
        let fg = match saved.map(|f| &f.groups[i]) {
            Some(fg) if fg.fingerprint == fingerprint(s_flat, np, members, lengths) => fg,
            _ => {
                let (fg, mu) = factor_group(s_flat, np, members, lengths, single_root, false);
                matrix_tree_lanes::recycle(mu);
                fresh = fg;
                &fresh
            }
        };
        let n = longest(members, lengths);
        let dv = gather(g_flat, np, members, lengths, n, 0.0);
        let dmu = fg.group.tangent(&dv);
        matrix_tree_lanes::recycle(dv);
        let lens = lengths_of(members, lengths);
        write_lanes(&mut chunks, &lens, &fg.trusted, np, &dmu, n + 1);
        for (l, (&b, chunk)) in members.iter().zip(chunks.iter_mut()).enumerate() {
            let len = lengths[b];
            if len > 0 && !fg.trusted[l] {
                let (sb, db) = (block_of(s_flat, np, b, len), block_of(g_flat, np, b, len));
                let v = nonprojective::jvp_by_walk(len, &sb, &db, single_root).1;
                write_block(chunk, np, len, &v);
            }
        }
        matrix_tree_lanes::recycle(dmu);
    });
    drop(slots);
    ArrayD::from_shape_vec(ndarray::IxDyn(s.shape()), out).expect("same size")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Eleven sentences over a padding of 12 words (lengths 0 to 12, two
    /// groups), one of them with scores spread so far apart that its lane
    /// fails the rounding-error bound; padding holds garbage.
    fn batch(seed: u64) -> (ArrayD<f64>, ArrayD<f64>, Vec<usize>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let lengths = vec![7, 0, 12, 9, 1, 12, 4, 11, 2, 12, 6];
        let shape = [lengths.len(), 13, 13];
        let mut s = ArrayD::from_shape_simple_fn(ndarray::IxDyn(&shape), || {
            rng.random::<f64>() * 4.0 - 2.0
        });
        let g = ArrayD::from_shape_simple_fn(ndarray::IxDyn(&shape), || {
            rng.random::<f64>() * 2.0 - 1.0
        });
        for x in s.index_axis_mut(ndarray::Axis(0), 9).iter_mut() {
            *x *= 5e3;
        }
        for (b, &len) in lengths.iter().enumerate() {
            for h in 0..13 {
                for m in 0..13 {
                    if h > len || m > len {
                        s[[b, h, m]] = 1e6;
                    }
                }
            }
        }
        (s, g, lengths)
    }

    #[test]
    fn the_batch_equals_each_sentence_alone_and_the_saved_vjp_equals_a_fresh_one() {
        let (s, g, lengths) = batch(3);
        let cx = Context::cpu(2);
        for single_root in [true, false] {
            let (log_z, mu, saved) = marginals(&cx, &s, &lengths, single_root, true);
            let saved = saved.expect("kept");
            let untrusted = saved
                .groups
                .iter()
                .flat_map(|fg| fg.members.iter().zip(fg.trusted))
                .filter(|(_, t)| !t)
                .map(|(&b, _)| b)
                .collect::<Vec<_>>();
            assert_eq!(untrusted, [9], "single root {single_root}");
            let reused = vjp(&cx, &s, &lengths, &g, single_root, Some(&saved));
            let fresh = vjp(&cx, &s, &lengths, &g, single_root, None);
            assert_eq!(reused, fresh, "single root {single_root}");
            for (b, &len) in lengths.iter().enumerate() {
                let k1 = len + 1;
                let sb = block_of(s.as_slice().unwrap(), 13, b, len);
                let gb = block_of(g.as_slice().unwrap(), 13, b, len);
                let (lz1, mu1) = nonprojective::marginals_of(len, &sb, single_root);
                let dmu1 = nonprojective::marginals_jvp_of(len, &sb, &gb, single_root).1;
                assert!(
                    (log_z[b] - lz1).abs() <= 1e-12 * lz1.abs().max(1.0),
                    "b={b}"
                );
                for h in 0..13 {
                    for m in 0..13 {
                        let arc = h <= len && (1..=len).contains(&m) && h != m;
                        let (want, dwant) = if arc {
                            (mu1[h * k1 + m], dmu1[h * k1 + m])
                        } else {
                            (0.0, 0.0)
                        };
                        assert!((mu[[b, h, m]] - want).abs() <= 1e-12, "b={b} {h}->{m}");
                        let tol = 1e-10 * dwant.abs().max(1.0);
                        assert!((fresh[[b, h, m]] - dwant).abs() <= tol, "b={b} {h}->{m}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_saved_state_for_other_lengths_is_not_used() {
        let (s, g, lengths) = batch(4);
        let cx = Context::cpu(2);
        let (_, _, saved) = marginals(&cx, &s, &lengths, true, true);
        let saved = saved.expect("kept");
        let mut other = lengths.clone();
        other[0] -= 1;
        assert!(!saved.matches(s.shape(), &other, true));
        assert!(!saved.matches(s.shape(), &lengths, false));
        assert_eq!(
            vjp(&cx, &s, &other, &g, true, Some(&saved)),
            vjp(&cx, &s, &other, &g, true, None)
        );
    }

    #[test]
    fn the_fingerprint_changes_with_any_one_score_and_with_two_swapped() {
        let (s, _, lengths) = batch(6);
        let np = s.shape()[1];
        let flat = s.as_slice().expect("standard layout");
        let members = [0, 2, 5];
        let base = fingerprint(flat, np, &members, &lengths);
        let mut arcs = Vec::new();
        for &b in &members {
            for h in 0..=lengths[b] {
                for m in 1..=lengths[b] {
                    arcs.push((b * np + h) * np + m);
                }
            }
        }
        let mut x = flat.to_vec();
        for &i in &arcs {
            x[i] = f64::from_bits(x[i].to_bits() ^ 1);
            assert_ne!(fingerprint(&x, np, &members, &lengths), base, "score {i}");
            x[i] = flat[i];
        }
        for w in arcs.windows(2).step_by(7) {
            x.swap(w[0], w[1]);
            assert_ne!(
                fingerprint(&x, np, &members, &lengths),
                base,
                "{w:?} swapped"
            );
            x.swap(w[0], w[1]);
        }
        // Scores outside the members' arcs are not read.
        x[(np + 1) * np + 2] += 1.0; // sentence 1, arc 1 → 2
        assert_eq!(fingerprint(&x, np, &members, &lengths), base);
    }

    #[test]
    fn four_groups_are_kept_up_to_about_720_words() {
        assert!(saved_bytes(4, 701) <= KEEP_BYTES);
        assert!(saved_bytes(4, 741) > KEEP_BYTES);
        assert_eq!(saved_bytes(0, 741), 0);
    }

    #[test]
    fn the_backward_reads_the_saved_groups_and_refuses_those_of_other_scores() {
        let cx = Context::cpu(2);
        let (s, g, lengths) = batch(5);
        let fresh = vjp(&cx, &s, &lengths, &g, true, None);
        // Scores of the same shape and lengths that differ in one arc of
        // one sentence: that sentence's group is factored afresh.
        let mut near = s.clone();
        near[[2, 3, 4]] += 1e-9;
        let (_, _, other) = marginals(&cx, &near, &lengths, true, true);
        let other = other.expect("kept");
        assert!(other.matches(s.shape(), &lengths, true));
        assert_eq!(vjp(&cx, &s, &lengths, &g, true, Some(&other)), fresh);
        // The matching state is what the backward reads: doubling its
        // saved weights (which no fresh factoring would do) changes the
        // answer of every trusted sentence.
        let (_, _, saved) = marginals(&cx, &s, &lengths, true, true);
        let mut saved = saved.expect("kept");
        assert_eq!(vjp(&cx, &s, &lengths, &g, true, Some(&saved)), fresh);
        for fg in &mut saved.groups {
            fg.group.double_weights();
        }
        let tampered = vjp(&cx, &s, &lengths, &g, true, Some(&saved));
        for (b, &len) in lengths.iter().enumerate() {
            let changed =
                tampered.index_axis(ndarray::Axis(0), b) != fresh.index_axis(ndarray::Axis(0), b);
            // (A one-word sentence's VJP is zero up to rounding either
            // way; the untrusted sentence 9 is walked on the scores.)
            if len > 1 && b != 9 {
                assert!(changed, "b={b} len={len}: the saved state was not read");
            } else if len == 0 || b == 9 {
                assert!(!changed, "b={b} len={len}");
            }
        }
    }
}
