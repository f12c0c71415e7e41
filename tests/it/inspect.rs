//! `lsmc inspect --json` on every built-in surrogate of the synthetic
//! experiment: what it reports is consistent with the paper's closed forms
//! (Eq. 9, 15, 16–17, 20–22 and the softmax VJP), computed here
//! independently from the reported scores and inner gradients, and the
//! decoder calls follow Algorithm 1.

use serde_json::Value;
use std::process::Command;

pub(crate) type M = Vec<Vec<f64>>;

fn inspect(spec: &str, set: &[&str]) -> Value {
    let mut args = vec!["inspect", spec, "--set", "K=4", "--batch", "6", "--json"];
    for s in set {
        args.extend(["--set", s]);
    }
    let o = Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(&args)
        .output()
        .expect("lsmc runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("JSON")
}

pub(crate) fn m(v: &Value) -> M {
    v.as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_f64().expect("number"))
                .collect()
        })
        .collect()
}

pub(crate) fn zip(a: &M, b: &M, f: impl Fn(f64, f64) -> f64) -> M {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.iter().zip(y).map(|(p, q)| f(*p, *q)).collect())
        .collect()
}

pub(crate) fn softmax(a: &M) -> M {
    a.iter()
        .map(|r| {
            let mx = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = r.iter().map(|x| (x - mx).exp()).collect();
            let t: f64 = e.iter().sum();
            e.iter().map(|x| x / t).collect()
        })
        .collect()
}

/// The Euclidean projection onto the simplex, by bisection on its threshold.
pub(crate) fn sparsemax(a: &M) -> M {
    a.iter()
        .map(|r| {
            let (mut lo, mut hi) = (-1e3f64, 1e3f64);
            for _ in 0..200 {
                let tau = (lo + hi) / 2.0;
                let sum: f64 = r.iter().map(|v| (v - tau).max(0.0)).sum();
                if sum > 1.0 {
                    lo = tau
                } else {
                    hi = tau
                }
            }
            r.iter().map(|v| (v - lo).max(0.0)).collect()
        })
        .collect()
}

pub(crate) fn close(a: &M, b: &M) {
    assert!(
        b.iter().flatten().any(|x| x.abs() > 1e-6),
        "nothing to compare"
    );
    for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
        assert!((x - y).abs() < 1e-9, "{a:?}\nvs\n{b:?}");
    }
}

fn scale(a: &M, c: f64) -> M {
    a.iter()
        .map(|r| r.iter().map(|x| c * x).collect())
        .collect()
}

struct Trace {
    s: M,
    z: M,
    mus: Vec<M>,
    grads: Vec<M>,
    g: M,
    calls: u64,
}

fn trace(spec: &str, set: &[&str]) -> Trace {
    let v = inspect(spec, set);
    let its = v["iterates"].as_array().expect("iterates");
    Trace {
        s: m(&v["scores"]),
        z: m(&v["forward"]),
        mus: its.iter().map(|i| m(&i["mu"])).collect(),
        grads: its.iter().map(|i| m(&i["grad"])).collect(),
        g: m(&v["surrogate_grad"]),
        calls: v["decoder_calls"].as_u64().expect("count"),
    }
}

#[test]
fn ste_identity_returns_eta_times_the_gradient_at_z() {
    let t = trace("models/synthetic/ste_i.lsm", &["z.eta=0.6"]);
    close(&t.mus[0], &t.z);
    close(&t.g, &scale(&t.grads[0], 0.6));
    assert_eq!(t.calls, 0);
}

#[test]
fn spigot_returns_z_minus_the_projection_of_the_pulled_back_point() {
    let t = trace("models/synthetic/spigot.lsm", &["z.eta=0.8"]);
    let pulled = zip(&t.z, &t.grads[0], |z, g| z - 0.8 * g);
    close(&t.g, &zip(&t.z, &sparsemax(&pulled), |a, b| a - b));
    assert_eq!(t.calls, 0);
}

#[test]
fn k_step_spigot_equals_the_hand_unrolled_loop() {
    let t = trace("models/synthetic/spigot.lsm", &["z.eta=0.8", "z.steps=3"]);
    let mut mu = t.z.clone();
    for k in 0..3 {
        close(&t.mus[k], &mu);
        mu = sparsemax(&zip(&mu, &t.grads[k], |m, g| m - 0.8 * g));
    }
    close(&t.g, &zip(&t.z, &mu, |a, b| a - b));
    assert_eq!(t.calls, 2, "k steps: the first grad(z) is free");
}

#[test]
fn spigot_ce_starts_from_the_marginals() {
    let t = trace("models/synthetic/spigot_ce.lsm", &["z.eta=0.8"]);
    let mu0 = softmax(&t.s);
    close(&t.mus[0], &mu0);
    let pulled = zip(&mu0, &t.grads[0], |m, g| m - 0.8 * g);
    close(&t.g, &zip(&mu0, &sparsemax(&pulled), |a, b| a - b));
    assert_eq!(t.calls, 1);
}

#[test]
fn spigot_eg_is_a_mirror_step_on_the_scores() {
    let t = trace("models/synthetic/spigot_eg.lsm", &["z.eta=0.8"]);
    let mu0 = softmax(&t.s);
    close(&t.mus[0], &mu0);
    let moved = zip(&t.s, &t.grads[0], |s, g| s - 0.8 * g);
    close(&t.g, &zip(&mu0, &softmax(&moved), |a, b| a - b));
    assert_eq!(t.calls, 1);
}

#[test]
fn ste_marg_and_the_relaxed_softmax_return_the_softmax_vjp() {
    for spec in ["models/synthetic/ste_s.lsm", "models/synthetic/softmax.lsm"] {
        let t = trace(spec, &[]);
        let p = softmax(&t.s);
        let g = &t.grads[0];
        let want: M = p
            .iter()
            .zip(g)
            .map(|(pr, gr)| {
                let dot: f64 = pr.iter().zip(gr).map(|(a, b)| a * b).sum();
                pr.iter().zip(gr).map(|(a, b)| a * (b - dot)).collect()
            })
            .collect();
        close(&t.g, &want);
        assert_eq!(t.calls, 0, "{spec}");
    }
}

#[test]
fn the_summary_names_the_surrogate_and_its_calls() {
    let o = Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "inspect",
            "models/synthetic/spigot_ce.lsm",
            "--set",
            "K=3",
            "--batch",
            "4",
        ])
        .output()
        .expect("lsmc runs");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("latent z : categorical(3) = argmax via spigot_ce(eta = 0.1, steps = 1, max_iter = 500)"),
        "{text}"
    );
    assert!(text.contains("decoder calls: 1"), "{text}");
}
