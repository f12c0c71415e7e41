//! The synthetic mixture of the paper's §7.1, generated deterministically
//! from a seed:
//!
//! - cluster centres `m_z ~ N(0, I)` and per-cluster linear models `w_z ~ N(0, I)`;
//! - `z ~ Categorical(1/K)`, `x ~ N(m_z, σ²I)` (σ = `noise`, 0.1 in the paper);
//! - `y = 1[w_zᵀx − b_z > 0]`, with `b_z` the mean of `w_zᵀx` over the
//!   cluster's train and valid examples (so labels are balanced per cluster);
//! - the test split is drawn afresh from the same centres, models and thresholds.

use super::{Dataset, Split};
use crate::real::Real;
use ndarray::{Array1, Array2, ArrayD};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::collections::HashMap;
use std::sync::Arc;

/// The generator's settings: the `synthetic_mixture(…)` data line.
pub type Config = lsmc_ir::data::Mixture;

/// Raw draws in f64: `(x, y, z)`.
pub struct Draw {
    pub x: Array2<f64>,
    pub y: Array1<usize>,
    pub z: Array1<usize>,
}

fn normal(rng: &mut ChaCha8Rng, rows: usize, cols: usize) -> Array2<f64> {
    Array2::from_shape_simple_fn((rows, cols), || rng.sample(StandardNormal))
}

fn draw(
    rng: &mut ChaCha8Rng,
    n: usize,
    centers: &Array2<f64>,
    noise: f64,
) -> (Array2<f64>, Array1<usize>) {
    let (k, d) = centers.dim();
    let z = Array1::from_shape_simple_fn(n, || rng.random_range(0..k));
    let eps = normal(rng, n, d);
    let x = Array2::from_shape_fn((n, d), |(i, j)| centers[[z[i], j]] + noise * eps[[i, j]]);
    (x, z)
}

fn scores(x: &Array2<f64>, z: &Array1<usize>, w: &Array2<f64>) -> Array1<f64> {
    Array1::from_shape_fn(z.len(), |i| x.row(i).dot(&w.row(z[i])))
}

/// Train+valid (sharing thresholds) and test draws.
pub fn draws(c: &Config) -> (Draw, Draw) {
    let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
    let centers = normal(&mut rng, c.clusters, c.features);
    let w = normal(&mut rng, c.clusters, c.features);
    let (x, z) = draw(&mut rng, c.train + c.valid, &centers, c.noise);
    let sc = scores(&x, &z, &w);
    let mut b = vec![0.0; c.clusters];
    for (k, bk) in b.iter_mut().enumerate() {
        let members: Vec<f64> = sc
            .iter()
            .zip(z.iter())
            .filter(|(_, &zz)| zz == k)
            .map(|(s, _)| *s)
            .collect();
        if !members.is_empty() {
            *bk = members.iter().sum::<f64>() / members.len() as f64;
        }
    }
    let label = |s: &Array1<f64>, z: &Array1<usize>| {
        Array1::from_shape_fn(z.len(), |i| usize::from(s[i] - b[z[i]] > 0.0))
    };
    let y = label(&sc, &z);
    let (xt, zt) = draw(&mut rng, c.test, &centers, c.noise);
    let yt = label(&scores(&xt, &zt, &w), &zt);
    (
        Draw { x, y, z },
        Draw {
            x: xt,
            y: yt,
            z: zt,
        },
    )
}

fn split<T: Real>(x: Array2<f64>, y: Array1<usize>, z: Array1<usize>) -> Split<T> {
    let len = y.len();
    let to = |a: ArrayD<f64>| a.mapv(T::of);
    let mut inputs = HashMap::new();
    inputs.insert("x".to_string(), Arc::new(to(x.into_dyn())));
    inputs.insert(
        "y".to_string(),
        Arc::new(to(y.mapv(|v| v as f64).into_dyn())),
    );
    inputs.insert(
        "z_gold".to_string(),
        Arc::new(to(z.mapv(|v| v as f64).into_dyn())),
    );
    Split::new(inputs, len)
}

pub fn generate<T: Real>(c: &Config) -> Dataset<T> {
    let (tv, test) = draws(c);
    let n = c.train;
    let take = |d: &Draw, r: std::ops::Range<usize>| {
        (
            d.x.slice(ndarray::s![r.clone(), ..]).to_owned(),
            d.y.slice(ndarray::s![r.clone()]).to_owned(),
            d.z.slice(ndarray::s![r]).to_owned(),
        )
    };
    let (xa, ya, za) = take(&tv, 0..n);
    let (xb, yb, zb) = take(&tv, n..n + c.valid);
    Dataset {
        train: split(xa, ya, za),
        valid: split(xb, yb, zb),
        test: split(test.x, test.y, test.z),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64) -> Config {
        Config {
            clusters: 3,
            features: 20,
            train: 3000,
            valid: 500,
            test: 500,
            noise: 0.1,
            seed,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_data_and_another_seed_other_data() {
        let a: Dataset<f64> = generate(&config(1));
        let b: Dataset<f64> = generate(&config(1));
        let c: Dataset<f64> = generate(&config(2));
        assert_eq!(a.train.inputs["x"], b.train.inputs["x"]);
        assert_eq!(a.test.inputs["y"], b.test.inputs["y"]);
        assert_ne!(a.train.inputs["x"], c.train.inputs["x"]);
    }

    #[test]
    fn clusters_are_uniform_labels_balanced_and_points_near_their_centre() {
        let c = config(3);
        let (tv, test) = draws(&c);
        for d in [&tv, &test] {
            let n = d.z.len() as f64;
            for k in 0..c.clusters {
                let share = d.z.iter().filter(|&&z| z == k).count() as f64 / n;
                assert!(
                    (share - 1.0 / 3.0).abs() < 0.05,
                    "cluster {k} share {share}"
                );
                let pos =
                    d.z.iter()
                        .zip(d.y.iter())
                        .filter(|(&z, &y)| z == k && y == 1)
                        .count() as f64;
                let all = d.z.iter().filter(|&&z| z == k).count() as f64;
                assert!(
                    (pos / all - 0.5).abs() < 0.08,
                    "cluster {k}: {pos}/{all} positive"
                );
            }
        }
        // Points of one cluster are far closer to each other (σ = 0.1) than
        // centres are (unit normal in 20 dimensions).
        let same: Vec<usize> = (0..tv.z.len())
            .filter(|&i| tv.z[i] == tv.z[0])
            .take(2)
            .collect();
        let dist = (&tv.x.row(same[0]) - &tv.x.row(same[1]))
            .mapv(|v| v * v)
            .sum()
            .sqrt();
        assert!(dist < 1.0, "{dist}");
    }

    #[test]
    fn a_linear_rule_per_cluster_separates_the_labels() {
        // y is a deterministic linear function of x within a cluster: the
        // generating rule, recomputed from the same seed, reproduces it.
        let c = config(4);
        let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
        let _centers = normal(&mut rng, c.clusters, c.features);
        let w = normal(&mut rng, c.clusters, c.features);
        let (tv, _) = draws(&c);
        let sc = scores(&tv.x, &tv.z, &w);
        for k in 0..c.clusters {
            let pos_min = (0..sc.len())
                .filter(|&i| tv.z[i] == k && tv.y[i] == 1)
                .map(|i| sc[i])
                .fold(f64::INFINITY, f64::min);
            let neg_max = (0..sc.len())
                .filter(|&i| tv.z[i] == k && tv.y[i] == 0)
                .map(|i| sc[i])
                .fold(f64::NEG_INFINITY, f64::max);
            assert!(pos_min > neg_max, "cluster {k}");
        }
    }
}
