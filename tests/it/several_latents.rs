//! Several latents in one model: each line its own structure, mapping and
//! surrogate; a surrogate's `grad(µ)` moves only its own latent; each
//! latent's running state is its own, in checkpoints too; a latent line is
//! overridable with `--set NAME=…` and sweepable with `--grid NAME=…`.

use crate::graph_gradients::matches_finite_differences;
use crate::inspect::{close, m, softmax, sparsemax, zip, M};
use crate::train::resumes_bit_identically;
use lsmc_compiler::model::Forward;
use lsmc_compiler::{check_text, Origin};
use lsmc_runtime::latent::registry::catalog;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TWO_LATENTS: &str = "tests/lsm/ok/two_latents.lsm";
const TWO_SFE: &str = "tests/lsm/train/two_latents_sfe.lsm";

fn lsmc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .args(["--color", "never"])
        .output()
        .expect("lsmc runs")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lsmc-latents-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Two relaxed latents over different scores, both read by the decoder
/// (alone and multiplied together).
const TWO_RELAXED: &str = "
data synthetic_mixture(clusters = 3, features = 6, train = 12, valid = 4, test = 4, seed = 9)
encoder { h = tanh(linear(x, 5)); s1 = linear(h, 3); s2 = linear(concat(h, x), 3) / 2 }
latent z1 : categorical(3) = marg(s1)
latent z2 : categorical(3) = sparsemap(s2)
decoder { y_hat = bilinear(z1, x, 2) + bilinear(z2, x, 2) + linear(z1 * z2, 2) }
loss cross_entropy(y_hat, y)
train { optimizer adam(lr = 1e-3)  batch full  steps 1 }
";

#[test]
fn two_relaxed_latents_give_the_whole_graph_gradient_of_finite_differences() {
    assert!(matches_finite_differences(TWO_RELAXED) > 100);
}

#[test]
fn each_latent_line_is_checked_and_lowered_to_its_own_node() {
    let r = check_text("t.lsm", TWO_RELAXED, Origin::CommandLine, &[], catalog());
    let model = r.model.expect("checks");
    let names: Vec<&str> = model.latents.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["z1", "z2"]);
    assert_eq!(model.latents[1].forward, Forward::SparseMap);
    let program = lsmc_compiler::lower::lower(&model).expect("lowers");
    assert_eq!(program.graph.latents.len(), 2);
    assert_eq!(
        program.graph.latent_named("z2"),
        Some(program.graph.latents[1])
    );
    let summary = r.summary.expect("a summary").to_string();
    assert!(
        summary.contains("latent   z1") && summary.contains("latent   z2"),
        "{summary}"
    );
}

fn inspect(latent: &str) -> Value {
    let o = lsmc(&["inspect", TWO_LATENTS, "--latent", latent, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("JSON")
}

#[test]
fn spigot_on_one_latent_follows_the_gradient_with_the_other_latent_held() {
    let z1 = inspect("z1");
    let z2 = m(&inspect("z2")["forward"]);
    let b = z1["batch"].as_f64().expect("a batch size");
    let (z, g) = (m(&z1["forward"]), m(&z1["surrogate_grad"]));
    let its = z1["iterates"].as_array().expect("iterates");
    let (mus, grads): (Vec<M>, Vec<M>) = its.iter().map(|i| (m(&i["mu"]), m(&i["grad"]))).unzip();
    assert_eq!(mus.len(), 2, "two SPIGOT steps");
    // ∇_z1 L = (softmax(z1 + 3 z2) − e_y) / B: the gold labels come out of
    // the first (free) gradient, and are one-hot.
    let decoded = |mu: &M| softmax(&zip(mu, &z2, |a, c| a + 3.0 * c));
    let gold = zip(&decoded(&z), &grads[0], |p, g| p - b * g);
    assert!(gold
        .iter()
        .flatten()
        .all(|e| e.abs() < 1e-9 || (e - 1.0).abs() < 1e-9));
    let grad_at = |mu: &M| zip(&decoded(mu), &gold, |p, e| (p - e) / b);
    let mut mu = z.clone();
    for k in 0..2 {
        close(&mus[k], &mu);
        close(&grads[k], &grad_at(&mu));
        mu = sparsemax(&zip(&mu, &grads[k], |a, g| a - 0.5 * g));
    }
    close(&g, &zip(&z, &mu, |a, b| a - b));
    assert_eq!(z1["decoder_calls"], 1);
    assert_eq!(z1["latent"], "z1");
}

#[test]
fn inspect_refuses_an_unknown_latent_and_lists_the_latents() {
    let o = lsmc(&["inspect", TWO_LATENTS, "--latent", "z3"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("has no latent `z3`; its latents are `z1`, `z2`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn two_latents_train_and_resume_bit_identically_with_a_baseline_each() {
    let cut = resumes_bit_identically(TWO_SFE);
    let ck = lsmc_runtime::checkpoint::load::<f32>(&cut.join("checkpoint.bin"))
        .expect("the checkpoint is intact");
    let keys: Vec<&String> = ck.header.surrogate_state.keys().collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys[0].starts_with("z1/score_function@"), "{keys:?}");
    assert!(keys[1].starts_with("z2/score_function@"), "{keys:?}");
}

#[test]
fn one_flag_sets_every_latent_with_its_own_scores() {
    let flags = ["latents=argmax(scores + gumbel()) via ste_identity(eta = 0.5)".to_string()];
    let text = std::fs::read_to_string(TWO_LATENTS).expect("the spec");
    let r = check_text(TWO_LATENTS, &text, Origin::CommandLine, &flags, catalog());
    assert!(!r.has_errors(), "{:?}", r.diagnostics);
    let resolved = r.resolved_text(&flags);
    for (z, s) in [("z1", "s1"), ("z2", "s2")] {
        let line = format!(
            "latent {z} : categorical(2) = argmax({s} + gumbel()) via ste_identity(eta = 0.5)\n"
        );
        assert!(resolved.contains(&line), "{resolved}");
    }
    let model = r.model.expect("checks");
    for z in ["z1", "z2"] {
        let l = model.latent(z).expect("a latent");
        assert_eq!(l.forward, Forward::Argmax);
        assert_eq!(
            l.surrogate.as_ref().expect("a surrogate").name,
            "ste_identity"
        );
    }
    // A mistake in the flag is reported as each latent reads it.
    let bad = ["latents=marg(scorez)".to_string()];
    let r = check_text(TWO_LATENTS, &text, Origin::CommandLine, &bad, catalog());
    let undefined: Vec<_> = r
        .diagnostics
        .iter()
        .filter(|d| d.code == "lsm::check::undefined_name")
        .collect();
    assert_eq!(undefined.len(), 2, "{:?}", r.diagnostics);
}

#[test]
fn a_latent_line_is_replaced_by_an_override() {
    let flags = ["z1=marg(s1)".to_string()];
    let text = std::fs::read_to_string(TWO_LATENTS).expect("the spec");
    let r = check_text(
        TWO_LATENTS,
        &text,
        Origin::File(PathBuf::from(TWO_LATENTS)),
        &flags,
        catalog(),
    );
    assert!(!r.has_errors(), "{:?}", r.diagnostics);
    let resolved = r.resolved_text(&flags);
    let model = r.model.expect("checks");
    let z1 = model.latent("z1").expect("z1");
    assert_eq!((z1.forward, z1.surrogate.is_none()), (Forward::Marg, true));
    assert!(
        resolved.contains("latent z1 : categorical(2) = marg(s1)\n"),
        "{resolved}"
    );

    let flags = ["z2=categorical(2) = argmax(s2) via spigot_ce(eta = 0.25)".to_string()];
    let r = check_text(TWO_LATENTS, &text, Origin::CommandLine, &flags, catalog());
    let model = r.model.expect("checks");
    let z2 = model.latent("z2").expect("z2");
    let via = z2.surrogate.as_ref().expect("a surrogate");
    assert_eq!(
        (z2.forward, via.name.as_str()),
        (Forward::Argmax, "spigot_ce")
    );
    assert_eq!(via.args[0], ("eta".to_string(), 0.25));
}

#[test]
fn an_override_of_an_unknown_latent_suggests_the_closest() {
    let o = lsmc(&["check", TWO_LATENTS, "--set", "z3=argmax(s1) via spigot"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("lsm::set::unknown_path"), "{err}");
    assert!(err.contains("did you mean `z"), "{err}");
    // A malformed right side points into the flag.
    let o = lsmc(&["check", TWO_LATENTS, "--set", "z1=argmax(s1) via"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--set"), "{}", stderr(&o));
}

#[test]
fn a_sweep_takes_a_latent_line_as_a_grid_axis() {
    let out = scratch("sweep");
    let o = lsmc(&[
        "sweep",
        TWO_LATENTS,
        "--grid",
        "z1=marg(s1), argmax(s1) via spigot(eta = 0.5, steps = 1)",
        "--set",
        "train.steps=5",
        "--out",
        out.to_str().expect("UTF-8"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let runs: Vec<PathBuf> = std::fs::read_dir(out.join("two_latents"))
        .expect("the model's runs")
        .map(|e| e.expect("an entry").path())
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for run in runs {
        let info: Value = serde_json::from_str(
            &std::fs::read_to_string(run.join("seed-1/run.json")).expect("run.json"),
        )
        .expect("JSON");
        let set = info["overrides"][1].as_str().expect("the axis' flag");
        assert!(set.starts_with("z1="), "{set}");
        let spec = std::fs::read_to_string(run.join("seed-1/spec.lsm")).expect("the spec");
        let line = &set["z1=".len()..];
        assert!(
            spec.contains(&format!("latent z1 : categorical(2) = {line}")),
            "{spec}"
        );
        assert!(Path::new(&run.join("seed-1/summary.json")).is_file());
    }
}
