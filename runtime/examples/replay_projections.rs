//! Replays exact tree projections recorded from a real run (see
//! `lsmc_runtime::latent::projection_record`) through the active set alone
//! (not the hull projection and moment matching that `solve_exact` tries
//! first: those answer SPIGOT-CE's interior points), so that the solver
//! can be timed and studied without the model around it:
//!
//! ```text
//! LSMC_RECORD_PROJECTIONS=/tmp/p.txt lsmc bench models/sst/sparsemap.lsm \
//!     --steps 20 --threads 1 --repeats 1 --set 'z=sparsemap(s, max_iter = 500)'
//! cargo run --release -p lsmc-runtime --example replay_projections -- /tmp/p.txt
//! ```
//!
//! Prints, per band of sentence lengths, the faces' sizes, the active
//! set's iterations and MAP calls (an iteration that drops a tree calls
//! none) and its time per projection; then what the final faces alone
//! cost when handed over in one go: their Gram matrices and one dense
//! Cholesky each, written plainly (no blocking), with the flop count;
//! then the same at matrix-product rates (Gram matrices from head arrays,
//! a blocked Cholesky), checked against the plain factor: at these
//! rates, on one thread, a floor for any method that lists and factors
//! the face's trees, before the cost of finding them.
//!
//! `--many-per-pass` instead counts what a column generation that adds
//! many trees per oracle pass would need: each round adds, for every arc,
//! the best tree through it when it improves on the current point (what
//! one max-product inside-outside pass yields; here one MAP call per arc
//! stands in for it, so only counts are printed, not times), and the
//! restricted problem is solved exactly over the pool. Every answer is
//! checked against the plain active set's.
//!
//! `--lockstep-oracle B` instead asks whether running the MAP oracle of
//! eight sentences at once (the batched `projective_lanes::map_heads`,
//! one sentence per vector lane) would pay: records are read as steps of
//! B consecutive lines (B is the batch size of the recorded run), every
//! projective sentence's active set is replayed for its MAP-call count
//! and its time, and each group of eight is timed both ways on its
//! recorded scores (the trees are checked to agree). Fixed groups in
//! lockstep make as many batched calls as their member with the most, at
//! their longest member's length: Σ calls × one-sentence time against
//! Σ over groups of max calls × batched time, with groups in record
//! order and by length. A scheduler that refills a lane as soon as its
//! sentence is done pays at best an eighth of a batched call (eight
//! copies of the sentence, timed) per MAP call. Also printed: the active
//! sets' time on two workers taking sentences from a shared counter in
//! record order (each sentence is recorded as a worker takes it: about
//! batch order in recordings made before the workers took the longest
//! sentences first, longest first since) and longest first, against a
//! perfect split.
//!
//! `--tight-faces` asks whether the answer's face could be read off a
//! residual instead of being built a tree at a time (the first step of a
//! method that does not enumerate trees): at the exact residual
//! r* = s − µ* it finds the tight arcs (those whose best tree ties with
//! the MAP tree, one MAP call per arc with the word's other heads
//! barred), checks that every arc of the answer's trees (the active
//! set's support) is tight, and prints per band of lengths: the answer's
//! trees and arcs, the tight arcs, the trees forced through them and
//! their rank (do they span the answer's trees?), the margin of the
//! closest arc that is not tight, in how many projections every arc is
//! tight, every tree ties, or a tree of tight arcs alone falls below the
//! best (the best tree under −r* with the other arcs barred); then, for
//! the active set stopped after 10 iterations and after 50/75/90/95% of
//! the exact run's (a fraction that reaches 500, which means "exact",
//! is skipped), its largest error, its share of the exact solve's time,
//! and in how many projections the tight set read at its residual (with
//! the tolerance its error guarantees, 2n × the error, on top of the
//! exact reading's) is the right one. Projective records.
//!
//! Options: `--every K` replays every K-th record (every K-th step with
//! `--lockstep-oracle`); `--lengths A-B` only sentences of A to B words.

/// lsmc's own allocator (see `src/main.rs`): the active set allocates
/// per iteration, and its time depends on whose allocator serves it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use lsmc_runtime::latent::sparsemap::{self, sparse, Sparse};
use lsmc_runtime::latent::tree::Tree;
use lsmc_runtime::latent::{projection_record, projective, projective_lanes};
use std::collections::BTreeMap;
use std::time::Instant;

struct Options {
    path: String,
    every: usize,
    lengths: (usize, usize),
    many_per_pass: bool,
    lockstep_batch: Option<usize>,
    tight_faces: bool,
}

fn options() -> Result<Options, String> {
    let usage = "usage: replay_projections FILE [--every K] [--lengths A-B] \
                 [--many-per-pass | --lockstep-oracle B | --tight-faces]";
    let mut args = std::env::args().skip(1);
    let mut o = Options {
        path: String::new(),
        every: 1,
        lengths: (1, usize::MAX),
        many_per_pass: false,
        lockstep_batch: None,
        tight_faces: false,
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--every" => {
                let k = args.next().ok_or(usage)?;
                o.every = k
                    .parse()
                    .ok()
                    .filter(|&k| k >= 1)
                    .ok_or(format!("--every takes a whole number ≥ 1, not {k:?}"))?;
            }
            "--lengths" => {
                let r = args.next().ok_or(usage)?;
                let bad = || format!("--lengths takes A-B (e.g. 10-29), not {r:?}");
                let (a, b) = r.split_once('-').ok_or_else(bad)?;
                o.lengths = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            }
            "--many-per-pass" => o.many_per_pass = true,
            "--tight-faces" => o.tight_faces = true,
            "--lockstep-oracle" => {
                let b = args.next().ok_or(usage)?;
                o.lockstep_batch = Some(b.parse().ok().filter(|&b| b >= 1).ok_or(format!(
                    "--lockstep-oracle takes a batch size ≥ 1, not {b:?}"
                ))?);
            }
            _ if o.path.is_empty() && !a.starts_with('-') => o.path = a,
            _ => return Err(format!("unexpected {a:?}; {usage}")),
        }
    }
    let modes = usize::from(o.many_per_pass)
        + usize::from(o.lockstep_batch.is_some())
        + usize::from(o.tight_faces);
    if o.path.is_empty() || modes > 1 {
        return Err(usage.into());
    }
    Ok(o)
}

/// The record on line `at`, if its length is in `--lengths`; exits
/// naming the file and line if it does not parse.
fn record(o: &Options, at: usize, line: &str) -> Option<projection_record::Projection> {
    let p = projection_record::parse(line).unwrap_or_else(|e| {
        eprintln!("error: {}:{at}: {e}", o.path);
        std::process::exit(1)
    });
    (o.lengths.0..=o.lengths.1).contains(&p.n).then_some(p)
}

/// The tree engine of a record's structure, whose MAP the solver asks.
fn engine(p: &projection_record::Projection) -> Tree {
    Tree {
        projective: p.projective,
        single_root: p.single_root,
    }
}

/// A highest-scoring tree under `v`, as a 0/1 arc vector.
fn map_tree(p: &projection_record::Projection, v: &[f64]) -> Vec<f64> {
    engine(p).map_block(p.n, v)
}

/// The oracle lsmc's tree engine hands its active set (the MAP tree's
/// arcs, increasing, through `sparsemap::Parts`), counting its calls.
fn oracle<'a>(
    p: &'a projection_record::Projection,
    calls: &'a std::cell::Cell<usize>,
) -> impl sparsemap::Oracle + 'a {
    sparsemap::Parts(move |w: &[f64]| {
        calls.set(calls.get() + 1);
        engine(p).map_parts(p.n, w)
    })
}

/// The largest entrywise difference of two answers.
fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The lower triangle of the trees' Gram matrix (`k × k`, row-major; the
/// upper triangle zero), each row through a dense copy of its tree over
/// `parts` parts.
fn gram_lower(trees: &[Sparse], parts: usize) -> Vec<f64> {
    let k = trees.len();
    let mut dense = vec![0.0; parts];
    let mut g = vec![0.0; k * k];
    for a in 0..k {
        for &(i, x) in &trees[a] {
            dense[i] = x;
        }
        for b in 0..=a {
            g[a * k + b] = trees[b].iter().map(|&(i, x)| x * dense[i]).sum();
        }
        for &(i, _) in &trees[a] {
            dense[i] = 0.0;
        }
    }
    g
}

/// The final face's Gram matrix (through a dense copy of each tree) and
/// a dense Cholesky of it in one contiguous matrix (row-major,
/// left-looking: each entry one dot product of rows): seconds for each,
/// and the factor's flops. Not `sparsemap::Cholesky::of`, which builds
/// the factor a row at a time from merged sparse products (what a VJP
/// without the forward's factor does): over the faces of SST's first
/// steps it took 7.35 s, more than solving them.
fn factor_face(face: &[Sparse], parts: usize) -> (f64, f64, f64, Vec<f64>) {
    let k = face.len();
    let t = Instant::now();
    let mut g = gram_lower(face, parts);
    let gram = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for j in 0..k {
        let d = (g[j * k + j] - dot(&g[j * k..j * k + j], &g[j * k..j * k + j]))
            .max(1e-12)
            .sqrt();
        g[j * k + j] = d;
        for i in j + 1..k {
            let x = g[i * k + j] - dot(&g[i * k..i * k + j], &g[j * k..j * k + j]);
            g[i * k + j] = x / d;
        }
    }
    let chol = t.elapsed().as_secs_f64();
    (gram, chol, (k as f64).powi(3) / 3.0, g)
}

/// The same face at matrix-product rates: the Gram matrix from the trees'
/// head arrays (two trees share as many arcs as words given the same
/// head: byte comparisons in vector lanes, in place of sparse products
/// with a dense copy), and a blocked right-looking Cholesky whose
/// trailing updates are matrix products (ndarray's, through
/// matrixmultiply's kernels, a block row of the lower triangle at a time;
/// run with `MATMUL_NUM_THREADS=1` to keep them on one thread). Seconds
/// for each, and the factor in the lower triangle (the upper one holds
/// what the updates left there).
fn factor_face_blocked(face: &[Sparse], n: usize) -> (f64, f64, ndarray::Array2<f64>) {
    use ndarray::{linalg::general_mat_mul, s, Array2};
    // 32 was fastest of 32, 48, 64 and 128 over SST's faces on the 2-core VM.
    const BLOCK: usize = 32;
    let k = face.len();
    let t = Instant::now();
    let n1 = n + 1;
    // Padded to whole 64-byte rows (equal padding counts as shared, and
    // is taken off below) so that the comparison runs in vector lanes.
    let width = n1.div_ceil(64) * 64;
    let heads: Vec<Vec<u8>> = face
        .iter()
        .map(|z| {
            let mut h = vec![u8::MAX; width];
            for &(i, x) in z {
                debug_assert_eq!(x, 1.0, "a tree's arcs weigh 1");
                h[i % n1] = (i / n1) as u8;
            }
            debug_assert!(
                h[1..n1].iter().all(|&x| x != u8::MAX),
                "every word has a head"
            );
            h
        })
        .collect();
    let mut g = Array2::<f64>::zeros((k, k));
    for a in 0..k {
        for b in 0..=a {
            let shared: u32 = heads[a]
                .chunks_exact(64)
                .zip(heads[b].chunks_exact(64))
                .map(|(x, y)| {
                    x.iter()
                        .zip(y)
                        .map(|(x, y)| u8::from(x == y))
                        .fold(0u8, u8::wrapping_add) as u32
                })
                .sum();
            // Word 0 (the root) and the padding have no head in either.
            g[[a, b]] = (shared as usize - 1 - (width - n1)) as f64;
        }
    }
    let gram = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for j0 in (0..k).step_by(BLOCK) {
        let j1 = (j0 + BLOCK).min(k);
        // The block's columns, each against the block's earlier ones (the
        // columns before j0 are already subtracted by the trailing updates).
        for j in j0..j1 {
            let (row_j, d) = {
                let r = g.row(j);
                let r = r.as_slice().expect("rows are contiguous");
                (r[j0..j].to_vec(), r[j] - dot(&r[j0..j], &r[j0..j]))
            };
            let d = d.max(1e-12).sqrt();
            g[[j, j]] = d;
            for i in j + 1..k {
                let x = g[[i, j]] - dot(&g.row(i).as_slice().expect("contiguous")[j0..j], &row_j);
                g[[i, j]] = x / d;
            }
        }
        // The trailing lower triangle, a block row at a time.
        let panel = g.slice(s![j1.., j0..j1]).to_owned();
        for i0 in (j1..k).step_by(BLOCK) {
            let i1 = (i0 + BLOCK).min(k);
            let rows = panel.slice(s![i0 - j1..i1 - j1, ..]);
            let columns = panel.slice(s![..i1 - j1, ..]);
            let mut trailing = g.slice_mut(s![i0..i1, j1..i1]);
            general_mat_mul(-1.0, &rows, &columns.t(), 1.0, &mut trailing);
        }
    }
    let chol = t.elapsed().as_secs_f64();
    (gram, chol, g)
}

/// `visit(h, m, tree)` for every arc `h → m`, with the best tree under
/// `w` through it: one MAP call with every other head of `m` barred (on
/// one copy of `w`, each word's column barred in turn and put back).
fn for_each_forced_tree(
    p: &projection_record::Projection,
    w: &[f64],
    mut visit: impl FnMut(usize, usize, Vec<f64>),
) {
    let n1 = p.n + 1;
    let mut barred = w.to_vec();
    for m in 1..n1 {
        for h in (0..n1).filter(|&h| h != m) {
            for h2 in (0..n1).filter(|&h2| h2 != m) {
                barred[h2 * n1 + m] = if h2 == h { w[h2 * n1 + m] } else { -1e9 };
            }
            visit(h, m, map_tree(p, &barred));
        }
        for h2 in 0..n1 {
            barred[h2 * n1 + m] = w[h2 * n1 + m];
        }
    }
}

/// Column generation with many trees per pass: rounds, pool size, face.
fn many_per_pass(p: &projection_record::Projection) -> (usize, usize, sparsemap::Solution) {
    let v = &p.scores;
    let mut pool: Vec<Vec<f64>> = vec![map_tree(p, v)];
    let mut sparse_pool: Vec<Sparse> = vec![sparse(&pool[0])];
    let mut rounds = 0;
    loop {
        rounds += 1;
        let from_pool = |w: &[f64]| {
            let score = |y: &Sparse| y.iter().map(|&(i, x)| x * w[i]).sum::<f64>();
            let best = (0..pool.len())
                .max_by(|&a, &b| score(&sparse_pool[a]).total_cmp(&score(&sparse_pool[b])))
                .expect("the pool is never empty");
            pool[best].clone()
        };
        let sol = sparsemap::solve_active_set(v, &from_pool);
        let r: Vec<f64> = v.iter().zip(&sol.mu).map(|(a, b)| a - b).collect();
        let (at_mu, tol) = (dot(&sol.mu, &r), 1e-10 * (1.0 + dot(&r, &r).sqrt()));
        let mut added = 0;
        for_each_forced_tree(p, &r, |_, _, y| {
            if dot(&y, &r) > at_mu + tol && !pool.contains(&y) {
                sparse_pool.push(sparse(&y));
                pool.push(y);
                added += 1;
            }
        });
        if added == 0 {
            return (rounds, pool.len(), sol);
        }
    }
}

/// Seconds per call of `f`: the least of five timings of five calls each.
fn seconds_per_call(mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            (0..5).for_each(|_| f());
            t.elapsed().as_secs_f64() / 5.0
        })
        .fold(f64::INFINITY, f64::min)
}

/// A sentence of a step: its record, where it was read (line), the
/// active set's MAP calls for it and its seconds.
struct Member {
    p: projection_record::Projection,
    at: usize,
    calls: usize,
    solve: f64,
}

/// Eight sentences' scores in `map_heads`'s `[h][m][lane]` layout, padded
/// to the longest (short groups filled with one-word sentences, as a
/// lockstep solver would fill idle lanes): the length, the lanes'
/// lengths, the scores and the root rule. Exits if the group mixes root
/// rules.
fn lanes_of(path: &str, group: &[&Member]) -> (usize, Vec<usize>, Vec<f64>, bool) {
    const LANES: usize = 8;
    let n = group
        .iter()
        .map(|m| m.p.n)
        .max()
        .expect("groups are never empty");
    let n1 = n + 1;
    let single_root = group[0].p.single_root;
    let mut s = vec![0.0; n1 * n1 * LANES];
    let mut lengths = vec![1; LANES];
    for (l, m) in group.iter().enumerate() {
        if m.p.single_root != single_root {
            eprintln!(
                "error: {path}:{}: single- and multi-root trees in one step",
                m.at
            );
            std::process::exit(1)
        }
        let m1 = m.p.n + 1;
        for h in 0..m1 {
            for d in 0..m1 {
                s[(h * n1 + d) * LANES + l] = m.p.scores[h * m1 + d];
            }
        }
        lengths[l] = m.p.n;
    }
    (n, lengths, s, single_root)
}

/// Seconds of one batched MAP call over `group` (eight lanes), after
/// checking its trees against the one-sentence ones (exits if they
/// differ).
fn batched_call(path: &str, group: &[&Member]) -> f64 {
    let (n, lengths, s, single_root) = lanes_of(path, group);
    let heads = projective_lanes::map_heads(n, &lengths, &s, single_root);
    for (m, heads) in group.iter().zip(&heads) {
        let one = projective::map_flat(m.p.n, &m.p.scores, single_root);
        if one != *heads {
            eprintln!("error: {path}:{}: the batched MAP tree differs", m.at);
            std::process::exit(1)
        }
    }
    seconds_per_call(|| {
        std::hint::black_box(projective_lanes::map_heads(n, &lengths, &s, single_root));
    })
}

/// The lockstep oracle's seconds for a step's sentences in fixed groups
/// of eight, in the order given: per group, its most MAP calls × one
/// batched call at its longest length.
fn lockstep_seconds(path: &str, members: &[&Member]) -> f64 {
    members
        .chunks(8)
        .map(|group| {
            let most = group.iter().map(|m| m.calls).max().unwrap_or(0);
            most as f64 * batched_call(path, group)
        })
        .sum()
}

/// The step's time on two workers that take sentences from a shared
/// counter in the order given (what `Context::map_in_order` does): each
/// next sentence goes to whichever worker is free first.
fn two_workers(seconds: impl Iterator<Item = f64>) -> f64 {
    let mut free = [0.0f64; 2];
    for s in seconds {
        let w = usize::from(free[1] < free[0]);
        free[w] += s;
    }
    free[0].max(free[1])
}

/// `--lockstep-oracle`: the MAP oracle's seconds one sentence at a time
/// against eight in lockstep, over the projective records; and the
/// active sets' balance over two tree workers.
fn lockstep_oracle(o: &Options, text: &str, batch: usize) {
    let lines: Vec<&str> = text.lines().collect();
    let (mut single, mut in_order, mut by_length, mut refill) = (0.0, 0.0, 0.0, 0.0);
    let (mut solve_s, mut workers_in_order, mut workers_longest) = (0.0, 0.0, 0.0);
    let (mut sentences, mut calls) = (0usize, 0usize);
    for (step, chunk) in lines.chunks(batch).enumerate().step_by(o.every) {
        let mut members = Vec::new();
        for (j, line) in chunk.iter().enumerate() {
            let at = step * batch + j + 1;
            let Some(p) = record(o, at, line).filter(|p| p.projective) else {
                continue;
            };
            let count = std::cell::Cell::new(0usize);
            let t = Instant::now();
            sparsemap::solve_active_set(&p.scores, &oracle(&p, &count));
            let solve = t.elapsed().as_secs_f64();
            // The one-sentence MAP the engine's oracle runs.
            let one = seconds_per_call(|| {
                std::hint::black_box(projective::map_flat(p.n, &p.scores, p.single_root));
            });
            single += count.get() as f64 * one;
            (sentences, calls, solve_s) = (sentences + 1, calls + count.get(), solve_s + solve);
            members.push(Member {
                p,
                at,
                calls: count.get(),
                solve,
            });
        }
        let mut order: Vec<&Member> = members.iter().collect();
        workers_in_order += two_workers(order.iter().map(|m| m.solve));
        in_order += lockstep_seconds(&o.path, &order);
        // A scheduler that refills a lane as soon as its sentence is done
        // pays at best an eighth of a batched call per MAP call, at each
        // sentence's own length: eight copies of it, timed.
        for m in &order {
            refill += m.calls as f64 * batched_call(&o.path, &[*m; 8]) / 8.0;
        }
        order.sort_by_key(|m| m.p.n);
        by_length += lockstep_seconds(&o.path, &order);
        order.sort_by(|a, b| b.solve.total_cmp(&a.solve));
        workers_longest += two_workers(order.iter().map(|m| m.solve));
    }
    println!(
        "{sentences} projective projections, {calls} MAP calls; the active sets {solve_s:.3} s"
    );
    println!(
        "MAP oracle, one sentence at a time: {single:.3} s; eight in lockstep, fixed groups: \
         {in_order:.3} s (in record order), {by_length:.3} s (by length); lanes refilled as \
         sentences finish, at best: {refill:.3} s (copying the residuals into lanes not counted)"
    );
    println!(
        "the active sets on two workers taking sentences in record order: {workers_in_order:.3} s; \
         longest first: {workers_longest:.3} s; a perfect split: {:.3} s",
        solve_s / 2.0
    );
}

/// Rank of a set of 0/1 tree vectors (every tree has as many arcs as
/// words, so affine and linear rank agree) over `parts` parts: pivoted
/// Cholesky of their Gram matrix, pivots below `1e-9 ×` the largest
/// diagonal count as zero.
fn tree_rank(trees: &[Sparse], parts: usize) -> usize {
    let k = trees.len();
    let mut g = gram_lower(trees, parts);
    for a in 0..k {
        for b in a + 1..k {
            g[a * k + b] = g[b * k + a];
        }
    }
    let floor = 1e-9 * (0..k).map(|i| g[i * k + i]).fold(0.0, f64::max);
    let mut rank = 0;
    let mut left: Vec<usize> = (0..k).collect();
    // Schur complements in place: after each pivot, g ← g − c cᵀ / d.
    while let Some((at, &p)) = left
        .iter()
        .enumerate()
        .max_by(|a, b| g[a.1 * k + a.1].total_cmp(&g[b.1 * k + b.1]))
    {
        let d = g[p * k + p];
        if d <= floor {
            break;
        }
        rank += 1;
        left.swap_remove(at);
        let col: Vec<f64> = left.iter().map(|&i| g[i * k + p]).collect();
        for (x, &i) in left.iter().enumerate() {
            for (y, &j) in left.iter().enumerate() {
                g[i * k + j] -= col[x] * col[y] / d;
            }
        }
    }
    rank
}

/// The tight arcs under `w`. For every arc, the best tree through it
/// (one MAP call with the word's other heads barred; projective trees
/// have every arc in some tree, under either root rule) is tight when
/// within `tol` of the best tree's score. Returns the MAP score, each
/// arc's shortfall from it (∞ off the arcs) and the distinct forced
/// trees of the tight arcs; `Err` names an arc no forced tree took.
#[allow(clippy::type_complexity)]
fn forced_arcs(
    p: &projection_record::Projection,
    w: &[f64],
    tol: f64,
) -> Result<(f64, Vec<f64>, Vec<Sparse>), String> {
    let n1 = p.n + 1;
    let best = dot(&map_tree(p, w), w);
    let mut short = vec![f64::INFINITY; w.len()];
    let mut trees: Vec<Sparse> = Vec::new();
    let mut missing = None;
    for_each_forced_tree(p, w, |h, m, y| {
        if y[h * n1 + m] != 1.0 {
            missing.get_or_insert((h, m));
            return;
        }
        short[h * n1 + m] = best - dot(&y, w);
        if short[h * n1 + m] <= tol {
            let y = sparse(&y);
            if !trees.contains(&y) {
                trees.push(y);
            }
        }
    });
    match missing {
        Some((h, m)) => Err(format!("the best tree with the arc {h} → {m} lacks it")),
        None => Ok((best, short, trees)),
    }
}

/// The fractions of the exact iteration count at which `--tight-faces`
/// also stops the active set, to see how close the answer gets.
const FRACTIONS: [f64; 4] = [0.5, 0.75, 0.9, 0.95];

/// `--tight-faces`: whether the exact answer's face can be read off a
/// residual without building it a tree at a time (see the module doc).
fn tight_faces(o: &Options, text: &str) {
    /// How close a stopped active set gets: projections where the budget
    /// truncates, Σ errors, tight sets read right, Σ time shares.
    #[derive(Default)]
    struct Early {
        count: usize,
        errors: Vec<f64>,
        identified: usize,
        time_share: f64,
    }
    #[derive(Default)]
    struct Band {
        count: usize,
        support: usize,
        support_arcs: usize,
        tight: usize,
        forced: usize,
        rank: usize,
        spans: usize,
        margins: Vec<f64>,
        every_arc_tight: usize,
        all_trees_tie: usize,
        tight_trees_below: usize,
        ten: Early,
        fractions: [Early; FRACTIONS.len()],
    }
    let mut bands: BTreeMap<usize, Band> = BTreeMap::new();
    for (i, line) in text.lines().enumerate().step_by(o.every) {
        let Some(p) = record(o, i + 1, line).filter(|p| p.projective) else {
            continue;
        };
        let fail = |e: String| -> ! {
            eprintln!("error: {}:{}: {e}", o.path, i + 1);
            std::process::exit(1)
        };
        let calls = std::cell::Cell::new(0usize);
        let map = oracle(&p, &calls);
        let t = Instant::now();
        let exact = sparsemap::solve_active_set(&p.scores, &map);
        let exact_s = t.elapsed().as_secs_f64();
        let r: Vec<f64> = p.scores.iter().zip(&exact.mu).map(|(a, b)| a - b).collect();
        let tol = 1e-9 * (1.0 + dot(&r, &r).sqrt());
        let (best, short, forced) = forced_arcs(&p, &r, tol).unwrap_or_else(|e| fail(e));
        let tight: Vec<bool> = short.iter().map(|&x| x <= tol).collect();
        let mut support_arcs = vec![false; r.len()];
        for z in &exact.structures {
            for &(i, _) in z {
                support_arcs[i] = true;
            }
        }
        if support_arcs.iter().zip(&tight).any(|(&f, &t)| f && !t) {
            fail("an arc of the answer's trees is not tight".into());
        }
        let margin = short
            .iter()
            .filter(|&&x| x > tol && x.is_finite())
            .fold(f64::INFINITY, |a, &b| a.min(b));
        // The worst tree of tight arcs alone: the best under −r* with
        // every other arc barred. Below the best, tight arcs also make
        // trees outside the optimal face.
        let worst_scores: Vec<f64> = r
            .iter()
            .zip(&tight)
            .map(|(&x, &t)| if t { -x } else { -1e9 })
            .collect();
        let worst = map_tree(&p, &worst_scores);
        if worst.iter().zip(&tight).any(|(&y, &t)| y == 1.0 && !t) {
            fail("no tree of tight arcs alone was found".into());
        }
        let worst_short = best - dot(&worst, &r);
        let rank = tree_rank(&forced, r.len());
        let mut both = forced.clone();
        both.extend(exact.structures.iter().cloned());
        let spans = tree_rank(&both, r.len()) == rank;
        // Stopped early: the largest error, and whether the tight set read
        // at its residual with the tolerance that error allows (a tree's
        // score moves by at most n·err, a shortfall by 2n·err, on top of
        // the exact reading's own) is the right one.
        let early = |budget: usize, into: &mut Early| {
            let t = Instant::now();
            let stopped = sparsemap::solve_active_set_within(&p.scores, &map, budget);
            let share = t.elapsed().as_secs_f64() / exact_s;
            let err = max_abs_diff(&stopped.mu, &exact.mu);
            let rt: Vec<f64> = p
                .scores
                .iter()
                .zip(&stopped.mu)
                .map(|(a, b)| a - b)
                .collect();
            let tol_t = 2.0 * p.n as f64 * err + tol;
            let (_, short_t, _) = forced_arcs(&p, &rt, tol_t).unwrap_or_else(|e| fail(e));
            let right = short_t.iter().zip(&tight).all(|(&x, &t)| (x <= tol_t) == t);
            into.count += 1;
            into.errors.push(err);
            into.identified += usize::from(right);
            into.time_share += share;
        };
        let b = bands.entry(p.n / 10 * 10).or_default();
        b.count += 1;
        b.support += exact.structures.len();
        b.support_arcs += support_arcs.iter().filter(|&&x| x).count();
        b.tight += tight.iter().filter(|&&x| x).count();
        b.forced += forced.len();
        b.rank += rank;
        b.spans += usize::from(spans);
        b.margins.push(margin);
        b.every_arc_tight += usize::from(margin.is_infinite());
        b.all_trees_tie += usize::from(margin.is_infinite() && worst_short <= tol);
        b.tight_trees_below += usize::from(worst_short > tol);
        early(10, &mut b.ten);
        for (f, into) in FRACTIONS.iter().zip(b.fractions.iter_mut()) {
            let budget = (f * exact.iterations as f64).round() as usize;
            // From EXACT_ITERATIONS up a budget means "run to the end".
            if (1..sparsemap::EXACT_ITERATIONS).contains(&budget) {
                early(budget, into);
            }
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let early_line = |name: &str, e: &Early| {
        format!(
            "{name}: {} projections, error median {:.1e}, tight set read right in {}, \
             {:.0}% of the exact solve's time",
            e.count,
            median(&e.errors),
            e.identified,
            100.0 * e.time_share / e.count.max(1) as f64
        )
    };
    for (lo, b) in bands {
        let c = b.count as f64;
        println!(
            "n {lo}-{}: {} projections; the answer's trees {:.0} over {:.0} arcs; tight arcs \
             {:.0}; forced trees {:.0} of rank {:.0}, spanning the answer's trees in {}; \
             margin median {:.1e}, min {:.1e}; every arc tight in {}, every tree tied in {}, \
             a tree of tight arcs below the best in {}",
            lo + 9,
            b.count,
            b.support as f64 / c,
            b.support_arcs as f64 / c,
            b.tight as f64 / c,
            b.forced as f64 / c,
            b.rank as f64 / c,
            b.spans,
            median(&b.margins),
            b.margins.iter().fold(f64::INFINITY, |a, &x| a.min(x)),
            b.every_arc_tight,
            b.all_trees_tie,
            b.tight_trees_below,
        );
        println!("    {}", early_line("10 iterations", &b.ten));
        for (f, e) in FRACTIONS.iter().zip(&b.fractions) {
            println!(
                "    {}",
                early_line(&format!("{:.0}% of its iterations", 100.0 * f), e)
            );
        }
    }
}

fn main() {
    let o = options().unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    let text = std::fs::read_to_string(&o.path).unwrap_or_else(|e| {
        eprintln!("error: cannot read {}: {e}", o.path);
        std::process::exit(1)
    });
    if o.tight_faces {
        return tight_faces(&o, &text);
    }
    if let Some(batch) = o.lockstep_batch {
        return lockstep_oracle(&o, &text, batch);
    }
    // Per band of ten lengths: projections, Σ face, Σ iterations or
    // passes, Σ MAP calls of the plain active set, Σ seconds or pool.
    let mut bands: BTreeMap<usize, (usize, usize, usize, usize, f64)> = BTreeMap::new();
    let (mut solve_s, mut gram_s, mut chol_s, mut flops) = (0.0, 0.0, 0.0, 0.0);
    let (mut gram_blocked_s, mut chol_blocked_s, mut factors_differ) = (0.0, 0.0, 0.0f64);
    for (i, line) in text.lines().enumerate().step_by(o.every) {
        let Some(p) = record(&o, i + 1, line) else {
            continue;
        };
        if !o.many_per_pass && p.n >= usize::from(u8::MAX) {
            eprintln!(
                "error: {}:{}: {} words; the head arrays hold up to 254",
                o.path,
                i + 1,
                p.n
            );
            std::process::exit(1)
        }
        let band = bands.entry(p.n / 10 * 10).or_default();
        let calls = std::cell::Cell::new(0usize);
        let map = oracle(&p, &calls);
        let t = Instant::now();
        let plain = sparsemap::solve_active_set(&p.scores, &map);
        let dt = t.elapsed().as_secs_f64();
        if o.many_per_pass {
            let (rounds, pool, sol) = many_per_pass(&p);
            let off = max_abs_diff(&sol.mu, &plain.mu);
            if off > 1e-6 {
                eprintln!(
                    "error: {}:{}: the two answers differ by {off:e}",
                    o.path,
                    i + 1
                );
                std::process::exit(1)
            }
            *band = (
                band.0 + 1,
                band.1 + sol.structures.len(),
                band.2 + rounds,
                band.3 + calls.get(),
                band.4 + pool as f64,
            );
        } else {
            solve_s += dt;
            let (g, c, f, plain_factor) = factor_face(&plain.structures, p.scores.len());
            (gram_s, chol_s, flops) = (gram_s + g, chol_s + c, flops + f);
            let (g, c, factor) = factor_face_blocked(&plain.structures, p.n);
            (gram_blocked_s, chol_blocked_s) = (gram_blocked_s + g, chol_blocked_s + c);
            let k = plain.structures.len();
            for a in 0..k {
                for b in 0..=a {
                    let (x, y) = (factor[[a, b]], plain_factor[a * k + b]);
                    let off = (x - y).abs() / (1.0 + y.abs());
                    // A NaN in either factor counts as the largest difference.
                    factors_differ =
                        factors_differ.max(if off.is_nan() { f64::INFINITY } else { off });
                }
            }
            if factors_differ > 1e-8 {
                eprintln!(
                    "error: {}:{}: the blocked factor differs from the plain one by \
                     {factors_differ:e} (relative to 1 + |L|)",
                    o.path,
                    i + 1
                );
                std::process::exit(1)
            }
            *band = (
                band.0 + 1,
                band.1 + plain.structures.len(),
                band.2 + plain.iterations,
                band.3 + calls.get(),
                band.4 + dt,
            );
        }
    }
    for (lo, (count, face, steps, calls, x)) in bands {
        let c = count as f64;
        let (face, steps, calls) = (face as f64 / c, steps as f64 / c, calls as f64 / c);
        if o.many_per_pass {
            let pool = x / c;
            println!(
                "n {lo}-{}: {count} projections, face {face:.0} trees; {steps:.1} passes \
                 (the active set: {calls:.0} MAP calls), pool {pool:.0} trees",
                lo + 9
            );
        } else {
            let ms = 1e3 * x / c;
            println!(
                "n {lo}-{}: {count} projections, face {face:.0} trees, {steps:.0} active-set \
                 iterations, {calls:.0} MAP calls, {ms:.2} ms each",
                lo + 9
            );
        }
    }
    if !o.many_per_pass {
        println!(
            "active set {solve_s:.3} s; the final faces handed over: Gram matrices {gram_s:.3} s, \
             one dense Cholesky each {chol_s:.3} s ({:.2} GFlop)",
            flops / 1e9
        );
        println!(
            "at matrix-product rates: Gram matrices {gram_blocked_s:.3} s, blocked Cholesky \
             {chol_blocked_s:.3} s ({:.2} GFlop/s); the two factors differ by {factors_differ:.1e} \
             (relative to 1 + |L|)",
            if chol_blocked_s > 0.0 {
                flops / 1e9 / chol_blocked_s
            } else {
                0.0
            }
        );
    }
}
