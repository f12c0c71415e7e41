//! Every registered engine against its own brute force and its
//! descriptor: a structure gets these tests by registering.

use super::registry;
use super::structure::{Engine, Options, Saved, StructureError};
use crate::context::Context;
use ndarray::{ArrayD, Axis, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const OPTIONS: [Options; 2] = [
    Options { single_root: true },
    Options { single_root: false },
];

fn engines() -> &'static [&'static dyn Engine<f64>] {
    registry::engines::<f64>()
}

fn name(e: &dyn Engine<f64>, o: Options) -> String {
    format!("{} (single root: {})", e.descriptor().name, o.single_root)
}

/// Uniform scores in `[−scale, scale]` for `batch` items of `size`.
fn scores(e: &dyn Engine<f64>, batch: usize, size: usize, scale: f64, seed: u64) -> ArrayD<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let shape = e.descriptor().scores.shape(batch, size);
    ArrayD::from_shape_simple_fn(IxDyn(&shape), || (rng.random::<f64>() * 2.0 - 1.0) * scale)
}

fn item(a: &ArrayD<f64>, b: usize) -> Vec<f64> {
    a.index_axis(Axis(0), b).iter().copied().collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `⟨a, b⟩` over whole batches.
fn inner(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    a.iter().zip(b.iter()).map(|(x, y)| x * y).sum()
}

/// Runs `f(engine, options, size, seed)` over every engine, both root
/// options, each reference size and two seeds.
fn every_case(mut f: impl FnMut(&dyn Engine<f64>, Options, usize, u64)) {
    for &e in engines() {
        for o in OPTIONS {
            for size in e.reference_sizes() {
                for seed in 0..2 {
                    f(e, o, size, seed * 101 + size as u64);
                }
            }
        }
    }
}

#[test]
fn the_registered_engines_make_a_catalog_with_one_engine_per_structure() {
    let catalog = registry::catalog();
    assert_eq!(catalog.iter().count(), engines().len());
    for d in catalog.iter() {
        let e = registry::engine::<f64>(d).expect("an engine for every descriptor");
        assert!(std::ptr::eq(e.descriptor(), d), "{}", d.name);
        let built_in = catalog.written_as(d.spelling.callee, d.spelling.variant);
        assert!(
            built_in.is_some_and(|w| w.is(d)),
            "{} is written as itself",
            d.name
        );
    }
    assert_eq!(registry::engines::<f32>().len(), engines().len());
}

#[test]
fn every_engine_does_exactly_the_operations_its_descriptor_lists() {
    let cx = Context::default();
    for &e in engines() {
        let ops = e.descriptor().ops;
        for o in OPTIONS {
            let s = scores(e, 2, 3, 1.0, 1);
            let ls = e.sizes(s.shape(), None).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            let supported = |r: Result<(), StructureError>| match r {
                Ok(()) => true,
                Err(StructureError::Unsupported(_)) => false,
                Err(other) => panic!("{}: {other}", name(e, o)),
            };
            let did = [
                supported(e.map(&cx, o, &s, &ls).map(drop)),
                supported(e.marginals(&cx, o, &s, &ls).map(drop)),
                supported(e.sparsemap(&cx, o, &s, &ls, 500, None).map(drop)),
                supported(e.sample(o, &s, &ls, &mut rng).map(drop)),
            ];
            let listed = [ops.map, ops.marginals, ops.sparsemap, ops.sample];
            assert_eq!(
                did,
                listed,
                "{}: map, marginals, sparsemap, sample",
                name(e, o)
            );
        }
    }
}

#[test]
fn every_engine_matches_its_brute_force_in_map_marginals_log_z_sparsemap_and_samples() {
    let cx = Context::default();
    every_case(|e, o, size, seed| {
        let case = format!("{} size {size} seed {seed}", name(e, o));
        let ops = e.descriptor().ops;
        let s = scores(e, 2, size, 1.5, seed);
        let ls = e.sizes(s.shape(), None).unwrap();
        let all = e.enumerate(o, size);
        assert!(!all.is_empty(), "{case}: nothing enumerated");
        let z = e.map(&cx, o, &s, &ls).unwrap();
        let (log_z, mu) = e.marginals(&cx, o, &s, &ls).unwrap();
        let (sm, _) = e.sparsemap(&cx, o, &s, &ls, 500, None).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let sample = ops.sample.then(|| e.sample(o, &s, &ls, &mut rng).unwrap());
        for (b, &log_z) in log_z.iter().enumerate() {
            let sb = item(&s, b);
            let totals: Vec<f64> = all.iter().map(|y| dot(y, &sb)).collect();
            let best = totals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lz = best + totals.iter().map(|t| (t - best).exp()).sum::<f64>().ln();
            assert!(
                (log_z - lz).abs() < 1e-9 * lz.abs().max(1.0),
                "{case}: log Z {log_z} vs {lz}"
            );
            let mut want = vec![0.0; sb.len()];
            for (y, t) in all.iter().zip(&totals) {
                let p = (t - lz).exp();
                want.iter_mut().zip(y).for_each(|(w, x)| *w += p * x);
            }
            for (a, w) in item(&mu, b).iter().zip(&want) {
                assert!((a - w).abs() < 1e-9, "{case}: marginal {a} vs {w}");
            }
            let zb = item(&z, b);
            assert!(all.contains(&zb), "{case}: MAP {zb:?} is no structure");
            assert!((dot(&zb, &sb) - best).abs() < 1e-9, "{case}: MAP not best");
            if let Some(sample) = &sample {
                assert!(
                    all.contains(&item(sample, b)),
                    "{case}: sample is no structure"
                );
            }
            // SparseMAP is the projection onto the hull of the structures:
            // no structure lies further along s − µ than µ, and µ lies
            // within the hull along every direction tried.
            let mub = item(&sm, b);
            let resid: Vec<f64> = sb.iter().zip(&mub).map(|(x, m)| x - m).collect();
            for y in &all {
                let v = dot(&resid, y) - dot(&resid, &mub);
                assert!(v < 1e-9, "{case}: SparseMAP is not the projection ({v})");
            }
            for w in 0..8 {
                let dir = item(&scores(e, 1, size, 1.0, 1000 + w), 0);
                let reach = all.iter().map(|y| dot(y, &dir)).fold(f64::MIN, f64::max);
                assert!(
                    dot(&mub, &dir) <= reach + 1e-9,
                    "{case}: SparseMAP outside the hull"
                );
            }
        }
    });
}

/// `sample` calls per engine and option in the Gibbs-distribution test,
/// and the identical items each call draws: 20,000 samples.
const DRAW_CALLS: usize = 40;
const DRAW_BATCH: usize = 500;
/// The most structures an item may have there: each is then drawn often
/// enough for its frequency to say something, and enumerating them is cheap.
const MAX_STRUCTURES: usize = 30;

/// The largest reference size of `e` whose items have at most
/// [`MAX_STRUCTURES`] structures.
fn sampling_size(e: &dyn Engine<f64>, o: Options) -> usize {
    e.reference_sizes()
        .rev()
        .find(|&size| e.enumerate(o, size).len() <= MAX_STRUCTURES)
        .unwrap_or_else(|| {
            panic!(
                "{}: no reference size has at most {MAX_STRUCTURES} structures",
                name(e, o)
            )
        })
}

/// Each structure's probability `exp(⟨y, s⟩ − log Z)`, by enumeration.
fn gibbs(all: &[Vec<f64>], s: &[f64]) -> Vec<f64> {
    let totals: Vec<f64> = all.iter().map(|y| dot(y, s)).collect();
    let best = totals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lz = best + totals.iter().map(|t| (t - best).exp()).sum::<f64>().ln();
    totals.iter().map(|t| (t - lz).exp()).collect()
}

#[test]
fn every_engine_samples_follow_its_gibbs_distribution() {
    // Exact samplers drawn 20,000 times from one item: every structure's
    // frequency within five standard errors (plus 1e-3) of its
    // probability by enumeration. A sampler off by a conditional, a
    // missing structure or a wrong normalisation fails this; one that
    // only ever returns valid structures (the brute-force test) does not.
    let mut checked = 0;
    for &e in engines().iter().filter(|e| e.descriptor().ops.sample) {
        for o in OPTIONS {
            let case = name(e, o);
            let size = sampling_size(e, o);
            let all = e.enumerate(o, size);
            assert!(all.len() >= 2, "{case}: size {size} has one structure");
            let one = scores(e, 1, size, 1.5, 42);
            let p = gibbs(&all, &item(&one, 0));
            let shape = e.descriptor().scores.shape(DRAW_BATCH, size);
            let batch = one.broadcast(IxDyn(&shape)).expect("one item").to_owned();
            let ls = e.sizes(batch.shape(), None).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            let mut counts = vec![0usize; all.len()];
            for _ in 0..DRAW_CALLS {
                let z = e.sample(o, &batch, &ls, &mut rng).unwrap();
                for b in 0..DRAW_BATCH {
                    let zb = item(&z, b);
                    let k = all.iter().position(|y| *y == zb);
                    let k = k.unwrap_or_else(|| panic!("{case}: sample {zb:?} is no structure"));
                    counts[k] += 1;
                }
            }
            let n = (DRAW_CALLS * DRAW_BATCH) as f64;
            let off: Vec<String> = counts
                .iter()
                .zip(&p)
                .enumerate()
                .filter_map(|(k, (&c, &p))| {
                    let freq = c as f64 / n;
                    let tol = 5.0 * (p * (1.0 - p) / n).sqrt() + 1e-3;
                    ((freq - p).abs() > tol)
                        .then(|| format!("structure {k}: frequency {freq:.4}, probability {p:.4}"))
                })
                .collect();
            assert!(off.is_empty(), "{case} size {size}:\n{}", off.join("\n"));
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} samplers checked");
}

#[test]
fn every_engine_vjp_matches_finite_differences_in_f64() {
    let cx = Context::default();
    let mut stable = vec![0usize; engines().len()];
    every_case(|e, o, size, seed| {
        let case = format!("{} size {size} seed {seed}", name(e, o));
        let s = scores(e, 2, size, 1.0, seed);
        let ls = e.sizes(s.shape(), None).unwrap();
        let g = scores(e, 2, size, 1.0, seed + 7);
        let d = scores(e, 2, size, 1.0, seed + 13);
        let eps = 1e-6;
        let at = |t: f64| &s + &d.mapv(|x| x * t);
        // ⟨J^T g, d⟩ against ⟨g, (f(s + εd) − f(s − εd)) / 2ε⟩.
        let marg = |x: &ArrayD<f64>| e.marginals(&cx, o, x, &ls).unwrap().1;
        let vjp = e.marginals_vjp(&cx, o, &s, &ls, &g, None).unwrap();
        let fd = inner(&g, &(&marg(&at(eps)) - &marg(&at(-eps)))) / (2.0 * eps);
        let an = inner(&vjp, &d);
        assert!(
            (an - fd).abs() < 1e-6 * an.abs().max(1.0),
            "{case}: marginals {an} vs {fd}"
        );

        // SparseMAP is piecewise affine: differences hold where no face
        // changes between s − εd and s + εd (second difference zero).
        let sm = |x: &ArrayD<f64>| e.sparsemap(&cx, o, x, &ls, 500, None).unwrap().0;
        let (p, m, c) = (sm(&at(eps)), sm(&at(-eps)), sm(&s));
        let kink = (&p + &m - &c.mapv(|x| 2.0 * x))
            .iter()
            .fold(0.0f64, |a, x| a.max(x.abs()));
        if kink < 1e-10 {
            let vjp = e.sparsemap_vjp(&cx, o, &s, &ls, &g, 500, None).unwrap();
            let fd = inner(&g, &(&p - &m)) / (2.0 * eps);
            let an = inner(&vjp, &d);
            assert!(
                (an - fd).abs() < 1e-6 * an.abs().max(1.0),
                "{case}: sparsemap {an} vs {fd}"
            );
            let i = engines().iter().position(|x| std::ptr::eq(*x, e)).unwrap();
            stable[i] += 1;
        }
    });
    for (e, n) in engines().iter().zip(stable) {
        assert!(
            n >= 4,
            "{}: only {n} cases had a stable face",
            e.descriptor().name
        );
    }
}

#[test]
fn sparsemap_vjp_over_the_forwards_saved_solution_equals_solving_again() {
    let cx = Context::default();
    every_case(|e, o, size, seed| {
        let s = scores(e, 2, size, 1.0, seed);
        let ls = e.sizes(s.shape(), None).unwrap();
        let g = scores(e, 2, size, 1.0, seed + 3);
        for max_iter in [2, 500] {
            let (value, state) = e.sparsemap(&cx, o, &s, &ls, max_iter, None).unwrap();
            let at = Saved {
                value: &value,
                state: state.as_ref(),
            };
            let reused = e
                .sparsemap_vjp(&cx, o, &s, &ls, &g, max_iter, Some(at))
                .unwrap();
            let solved = e
                .sparsemap_vjp(&cx, o, &s, &ls, &g, max_iter, None)
                .unwrap();
            assert_eq!(
                reused,
                solved,
                "{} size {size} max_iter {max_iter}",
                name(e, o)
            );
        }
    });
}

#[test]
fn marginals_vjp_over_the_forwards_saved_state_equals_computing_it_again() {
    // Two threads, so that the batch is split into lane groups on both.
    let cx = Context::cpu(2);
    every_case(|e, o, size, seed| {
        let s = scores(e, 3, size, 1.0, seed);
        let full = e.sizes(s.shape(), None).unwrap();
        // Unequal lengths (padding in the lanes) where the layout allows.
        let ls: Vec<usize> = full
            .iter()
            .enumerate()
            .map(|(b, &n)| n.saturating_sub(b % 2))
            .collect();
        let ls = if e.sizes(s.shape(), Some(&ls)).is_ok() {
            ls
        } else {
            full
        };
        let g = scores(e, 3, size, 1.0, seed + 3);
        let (value, state) = e.marginals_saved(&cx, o, &s, &ls).unwrap();
        // The non-projective trees keep their factored groups (the other
        // engines have nothing worth keeping yet).
        let keeps = e.descriptor().name == "nonprojective";
        assert_eq!(state.is_some(), keeps, "{}", name(e, o));
        assert_eq!(
            value,
            e.marginals(&cx, o, &s, &ls).unwrap().1,
            "{}",
            name(e, o)
        );
        let at = Saved {
            value: &value,
            state: state.as_ref(),
        };
        let reused = e.marginals_vjp(&cx, o, &s, &ls, &g, Some(at)).unwrap();
        let again = e.marginals_vjp(&cx, o, &s, &ls, &g, None).unwrap();
        assert_eq!(reused, again, "{} size {size}", name(e, o));
    });
}

#[test]
fn keep_parts_keeps_exactly_the_entries_some_structure_uses() {
    for &e in engines() {
        for o in OPTIONS {
            let size = *e.reference_sizes().end();
            let mut g = scores(e, 1, size, 1.0, 5).mapv(|_| 1.0);
            e.keep_parts(&mut g, None);
            let used: Vec<f64> = e
                .enumerate(o, size)
                .iter()
                .fold(vec![0.0; g.len()], |acc, y| {
                    acc.iter()
                        .zip(y)
                        .map(|(a, x)| f64::max(*a, x.abs()))
                        .collect()
                });
            let used: Vec<f64> = used.iter().map(|&u| f64::from(u8::from(u > 0.0))).collect();
            assert_eq!(item(&g, 0), used, "{}", name(e, o));
        }
    }
}

#[test]
fn part_ranges_name_what_keep_parts_keeps_at_every_length() {
    // Padded items: each length below the scores' own size, and the full one.
    for &e in engines() {
        let full = *e.reference_sizes().end();
        let g = scores(e, 1, full, 1.0, 5);
        let shape = &g.shape()[1..];
        for size in 0..=full {
            let mut kept = g.mapv(|_| 1.0);
            e.keep_parts(&mut kept, Some(&[size]));
            let mut ranged = vec![0.0; kept.len()];
            for r in e.part_ranges(shape, size) {
                ranged[r].iter_mut().for_each(|v| *v += 1.0);
            }
            assert_eq!(item(&kept, 0), ranged, "{} of {full}", size);
        }
    }
}

#[test]
fn engines_with_statistics_decode_distinct_structures_apart_and_report_their_names() {
    for &e in engines() {
        let listed = e.descriptor().statistics;
        let o = OPTIONS[1];
        let size = *e.reference_sizes().end();
        let all = e.enumerate(o, size);
        let shape = e.descriptor().scores.shape(all.len(), size);
        let batch = ArrayD::from_shape_vec(IxDyn(&shape), all.concat()).unwrap();
        let decoded = e.decode(&batch, &vec![size; all.len()]);
        match e.statistics() {
            None => {
                assert!(
                    listed.is_empty(),
                    "{} lists statistics",
                    e.descriptor().name
                );
                assert_eq!(decoded, None);
            }
            Some(mut stats) => {
                let items = decoded.expect("a structure with statistics decodes");
                let mut distinct = items.clone();
                distinct.sort();
                distinct.dedup();
                assert_eq!(distinct.len(), all.len(), "{}", e.descriptor().name);
                items.iter().for_each(|i| stats.add(i));
                let names: Vec<&str> = stats.report().iter().map(|r| r.0).collect();
                assert_eq!(names, listed);
                assert!(stats.report().iter().all(|r| r.1.is_finite()));
            }
        }
    }
}

#[test]
fn every_structure_selects_the_number_of_parts_its_engine_says() {
    every_case(|e, o, size, _| {
        let k = e.parts_per_structure(o, size) as f64;
        for y in e.enumerate(o, size) {
            assert_eq!(y.iter().sum::<f64>(), k, "{} size {size}", name(e, o));
        }
    });
}

mod extreme_scores {
    //! Scores scaled up to 1e4 and offset by any constant up to ±1e300:
    //! through [`Structure`] (which shifts each item's parts) every op stays
    //! finite and equals the engine's own answer on the same scores with
    //! the offset taken off exactly — the marginals a convex combination of
    //! structures, each selecting its number of parts.

    use super::*;
    use crate::latent::structure::Structure;
    use proptest::prelude::*;

    /// Largest size per structure: the engines' reference sizes and
    /// beyond, where the brute force no longer reaches.
    const SIZES: std::ops::RangeInclusive<usize> = 1..=9;

    fn check(e: &dyn Engine<f64>, o: Options, size: usize, seed: u64, scale: f64, offset: f64) {
        let cx = Context::default();
        let case = format!(
            "{} size {size} seed {seed} scale {scale:e} offset {offset:e}",
            name(e, o)
        );
        let st = Structure::new(e.descriptor(), o.single_root);
        let s = scores(e, 2, size, scale, seed).mapv(|x| x + offset);
        // The same scores without the offset: exact, as both are close.
        let r = s.mapv(|x| x - offset);
        let ls = e.sizes(s.shape(), None).unwrap();
        let k = e.parts_per_structure(o, size) as f64;

        let mu = st.marginals(&cx, &s, None).unwrap().1;
        let (_, want) = e.marginals(&cx, o, &r, &ls).unwrap();
        for (b, m) in mu.axis_iter(Axis(0)).enumerate() {
            assert!(m.iter().all(|x| x.is_finite()), "{case}: {m}");
            let total: f64 = m.iter().sum();
            assert!(
                (total - k).abs() < 1e-6 * k,
                "{case}: item {b} sums {total}"
            );
        }
        for (a, w) in mu.iter().zip(want.iter()) {
            assert!((a - w).abs() < 1e-6, "{case}: marginal {a} vs {w}");
        }
        assert_eq!(
            st.map(&cx, &s, None).unwrap(),
            e.map(&cx, o, &r, &ls).unwrap(),
            "{case}"
        );
        let sm = st.sparsemap(&cx, &s, None).unwrap();
        let (want, _) = e.sparsemap(&cx, o, &r, &ls, 500, None).unwrap();
        for (a, w) in sm.iter().zip(want.iter()) {
            assert!(
                a.is_finite() && (a - w).abs() < 1e-6,
                "{case}: SparseMAP {a} vs {w}"
            );
        }
        let g = scores(e, 2, size, 1.0, seed + 7);
        let vjp = st.marginals_vjp(&cx, &s, None, &g).unwrap();
        let want = e.marginals_vjp(&cx, o, &r, &ls, &g, None).unwrap();
        for (a, w) in vjp.iter().zip(want.iter()) {
            assert!(
                a.is_finite() && (a - w).abs() < 1e-6 * scale.max(1.0),
                "{case}: VJP {a} vs {w}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn offsets_up_to_1e300_and_scales_up_to_1e4_change_no_answer(
            which in 0usize..64,
            single_root in any::<bool>(),
            size in SIZES,
            seed in 0u64..1000,
            scale_exp in -3.0f64..4.0,
            offset_exp in 0.0f64..300.0,
            negative in any::<bool>(),
        ) {
            let e = engines()[which % engines().len()];
            let offset = if negative { -1.0 } else { 1.0 } * 10f64.powf(offset_exp);
            check(e, Options { single_root }, size, seed, 10f64.powf(scale_exp), offset);
        }
    }

    #[test]
    fn the_reported_worst_cases_are_answered_or_refused_with_the_reason() {
        let cx = Context::default();
        for &e in engines() {
            for o in OPTIONS {
                // All scores 1e300: every structure equally likely.
                check(e, o, 3, 1, 0.0, 1e300);
                check(e, o, 3, 1, 1e4, 1e12);
                // A spread no f64 sum of parts can hold is refused.
                let st = Structure::new(e.descriptor(), o.single_root);
                let s = scores(e, 1, 3, 1.0, 2).mapv(|x| x * 1e307);
                let err = st.marginals(&cx, &s, None).unwrap_err();
                assert!(matches!(err, StructureError::Range(_)), "{err}");
                assert!(err.to_string().contains("item 0"), "{err}");
                assert!(st.map(&cx, &s, None).is_err());
            }
        }
    }
}
