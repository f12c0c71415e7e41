//! `lsmc inspect --json` on latent projective dependency trees: for every
//! built-in surrogate, what it reports agrees with the paper's closed forms
//! (Eq. 14, 15, 16–17, 20–22, and the marginals VJP for STE-S), computed here
//! by enumerating every tree of each (short) sentence, and the decoder calls
//! follow Algorithm 1. Sentences come from a toy treebank in tests/data, so
//! every tree can be enumerated; padding must stay out of every tree.

use lsmc_runtime::latent::{brute, sparsemap};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// A spec over the toy treebank with this latent line.
fn spec(name: &str, latent: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("tests/data/tiny_sst");
    let text = format!(
        "model tiny_{name}\n\
         data sst(path = \"{}\", labels = binary, embeddings = random(dim = 6))\n\
         encoder {{\n  e = embed(tokens, embeddings, frozen = true)\n  h = bilstm(e, 8)\n  s = arc_scores(h, 8)\n}}\n\
         latent z : dependency_tree(projective) = {latent}\n\
         decoder {{\n  r = concat(h, heads(z, h))\n  y_hat = linear(attention_pool(r), 2)\n}}\n\
         loss cross_entropy(y_hat, y)\n\
         train {{\n  optimizer adam(lr = 1e-2)\n  batch 3\n  epochs 2\n  evaluate every 1 epochs on valid, test\n  metric accuracy(y_hat, y)\n}}\n",
        data.display()
    );
    let dir = std::env::temp_dir().join(format!("lsmc-inspect-trees-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.lsm"));
    std::fs::write(&path, text).unwrap();
    path
}

fn inspect(name: &str, latent: &str) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .args(["inspect"])
        .arg(spec(name, latent))
        .args(["--batch", "20", "--seed", "3", "--json"])
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

/// One sentence's `(L+1)²` block of a `[B, N+1, N+1]` value, row-major.
fn block(v: &Value, b: usize, len: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for h in 0..=len {
        for m in 0..=len {
            out.push(v[b][h][m].as_f64().expect("number"));
        }
    }
    out
}

/// Everything outside the sentences' blocks, and the root column and the
/// diagonal inside them (parts no tree has), is zero.
fn assert_no_padding_in(v: &Value, lengths: &[usize], what: &str) {
    for (b, &len) in lengths.iter().enumerate() {
        let rows = v[b].as_array().unwrap();
        for (h, row) in rows.iter().enumerate() {
            for (m, x) in row.as_array().unwrap().iter().enumerate() {
                let inside = h <= len && m <= len && m != 0 && h != m;
                if !inside {
                    assert_eq!(x.as_f64(), Some(0.0), "{what}[{b}][{h}][{m}]");
                }
            }
        }
    }
}

struct Sentence {
    len: usize,
    trees: Vec<Vec<f64>>,
}

impl Sentence {
    fn new(len: usize) -> Sentence {
        let trees = brute::trees(len, true, true)
            .iter()
            .map(|t| brute::indicator(t))
            .collect();
        Sentence { len, trees }
    }

    fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn map(&self, s: &[f64]) -> Vec<f64> {
        self.trees
            .iter()
            .max_by(|a, b| Self::dot(a, s).total_cmp(&Self::dot(b, s)))
            .unwrap()
            .clone()
    }

    /// Marginals by enumeration: Σ_t softmax(⟨t, s⟩) t.
    fn marg(&self, s: &[f64]) -> Vec<f64> {
        let scores: Vec<f64> = self.trees.iter().map(|t| Self::dot(t, s)).collect();
        let mx = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = scores.iter().map(|x| (x - mx).exp()).sum();
        let mut mu = vec![0.0; s.len()];
        for (t, sc) in self.trees.iter().zip(&scores) {
            let p = (sc - mx).exp() / z;
            for (m, x) in mu.iter_mut().zip(t) {
                *m += p * x;
            }
        }
        mu
    }

    /// Π_M: the Euclidean projection onto the hull of the enumerated trees.
    fn project(&self, v: &[f64]) -> Vec<f64> {
        sparsemap::solve_active_set(v, &|w: &[f64]| self.map(w)).mu
    }
}

/// Zero on the parts no tree has (arcs into the root, self-loops): the
/// scores of those get no gradient.
fn parts_only(mut v: Vec<f64>, len: usize) -> Vec<f64> {
    let n1 = len + 1;
    for i in 0..n1 {
        v[i * n1] = 0.0;
        v[i * n1 + i] = 0.0;
    }
    v
}

fn close(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() < 1e-7,
            "{what}[{i}]: {x} vs {y}\n{a:?}\n{b:?}"
        );
    }
}

fn sub(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

fn axpy(a: &[f64], c: f64, b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x + c * y).collect()
}

/// Checks one inspection against `want(sentence, s, z, grads) → gradient`.
fn check(
    out: &Value,
    calls: usize,
    want: impl Fn(&Sentence, &[f64], &[f64], &[Vec<f64>], &[Vec<f64>]) -> Vec<f64>,
) {
    let lengths: Vec<usize> = out["lengths"]
        .as_array()
        .expect("tree latents report lengths")
        .iter()
        .map(|l| l.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(lengths.len(), 11, "the whole toy training split");
    assert!(
        lengths.iter().any(|&l| l < *lengths.iter().max().unwrap()),
        "the batch pads some sentence: {lengths:?}"
    );
    assert_eq!(out["decoder_calls"], calls);
    assert_no_padding_in(&out["forward"], &lengths, "forward");
    assert_no_padding_in(&out["surrogate_grad"], &lengths, "surrogate_grad");
    for (b, &len) in lengths.iter().enumerate() {
        let sent = Sentence::new(len);
        let s = block(&out["scores"], b, len);
        let z = block(&out["forward"], b, len);
        assert_eq!(z, sent.map(&s), "the forward value is the best tree");
        let iterates = out["iterates"].as_array().unwrap();
        let mus: Vec<Vec<f64>> = iterates.iter().map(|it| block(&it["mu"], b, len)).collect();
        let grads: Vec<Vec<f64>> = iterates
            .iter()
            .map(|it| block(&it["grad"], b, len))
            .collect();
        let got = block(&out["surrogate_grad"], b, len);
        close(&got, &want(&sent, &s, &z, &mus, &grads), "surrogate_grad");
    }
}

#[test]
fn ste_identity_on_trees_returns_eta_times_the_gradient_at_the_best_tree() {
    let out = inspect("ste_i", "argmax(s) via ste_identity(eta = 0.7, steps = 1)");
    check(&out, 0, |sent, _, z, mus, grads| {
        assert_eq!(mus[0], z);
        parts_only(grads[0].iter().map(|g| 0.7 * g).collect(), sent.len)
    });
}

#[test]
fn spigot_on_trees_projects_the_pulled_back_tree_onto_the_arborescence_polytope() {
    let out = inspect("spigot", "argmax(s) via spigot(eta = 2.0, steps = 1)");
    check(&out, 0, |sent, _, z, _, grads| {
        sub(z, &sent.project(&axpy(z, -2.0, &grads[0])))
    });
}

#[test]
fn two_step_spigot_on_trees_equals_the_hand_unrolled_loop() {
    let out = inspect("spigot2", "argmax(s) via spigot(eta = 2.0, steps = 2)");
    check(&out, 1, |sent, _, z, mus, grads| {
        let mu1 = sent.project(&axpy(z, -2.0, &grads[0]));
        close(&mus[1], &mu1, "µ⁽¹⁾");
        sub(z, &sent.project(&axpy(&mu1, -2.0, &grads[1])))
    });
}

#[test]
fn spigot_ce_on_trees_starts_from_the_marginals() {
    let out = inspect("spigot_ce", "argmax(s) via spigot_ce(eta = 2.0, steps = 1)");
    check(&out, 1, |sent, s, _, mus, grads| {
        let mu0 = sent.marg(s);
        close(&mus[0], &mu0, "µ⁽⁰⁾ = Marg(s)");
        sub(&mu0, &sent.project(&axpy(&mu0, -2.0, &grads[0])))
    });
}

#[test]
fn spigot_eg_on_trees_is_a_mirror_step_on_the_scores() {
    let out = inspect("spigot_eg", "argmax(s) via spigot_eg(eta = 2.0, steps = 1)");
    check(&out, 1, |sent, s, _, mus, grads| {
        let mu0 = sent.marg(s);
        close(&mus[0], &mu0, "µ⁽⁰⁾ = Marg(s)");
        sub(&mu0, &sent.marg(&axpy(s, -2.0, &grads[0])))
    });
}

#[test]
fn ste_marginals_on_trees_returns_the_marginals_vjp() {
    let out = inspect("ste_s", "argmax(s) via ste_marg");
    check(&out, 0, |sent, s, _, _, grads| {
        // The Jacobian of the marginals is the (symmetric) Hessian of log Z:
        // its product with g is a directional finite difference.
        let h = 1e-5;
        let plus = sent.marg(&axpy(s, h, &grads[0]));
        let minus = sent.marg(&axpy(s, -h, &grads[0]));
        let v: Vec<f64> = plus
            .iter()
            .zip(&minus)
            .map(|(a, b)| (a - b) / (2.0 * h))
            .collect();
        parts_only(v, sent.len)
    });
}

#[test]
fn inspect_writes_the_structure_as_the_spec_does_root_choice_included() {
    let path = spec("multi_root", "argmax(s) via spigot");
    let text = std::fs::read_to_string(&path).expect("written").replace(
        "dependency_tree(projective)",
        "dependency_tree(projective, root = multi)",
    );
    std::fs::write(&path, text).expect("writable");
    let o = Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .arg("inspect")
        .arg(&path)
        .args(["--batch", "4", "--json"])
        .output()
        .expect("lsmc runs");
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(
        v["structure"],
        "dependency_tree(projective, root = multi)",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        inspect("single_root", "argmax(s) via spigot")["structure"],
        "dependency_tree(projective)"
    );
}
