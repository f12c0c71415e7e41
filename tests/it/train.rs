//! `lsmc train` end to end: run directories, determinism, kill-and-resume,
//! divergence, and the paper's synthetic accuracy with the softmax model.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn lsmc() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lsmc"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lsmc-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn train(spec: &str, out: &Path, extra: &[&str]) -> Output {
    lsmc()
        .args(["train", spec, "--out"])
        .arg(out)
        .args(["--threads", "1", "--color", "never"])
        .args(extra)
        .output()
        .expect("lsmc runs")
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("valid JSON")
}

fn metrics_without_time(dir: &Path) -> (serde_json::Value, serde_json::Value, String) {
    let s = json(&dir.join("summary.json"));
    (
        s["best"].clone(),
        s["final"].clone(),
        std::fs::read_to_string(dir.join("metrics.jsonl")).expect("metrics"),
    )
}

#[test]
fn a_run_directory_holds_the_resolved_spec_metrics_summary_and_checkpoint() {
    let out = scratch("rundir");
    let o = train(
        "tests/lsm/train/small_softmax.lsm",
        &out,
        &["--set", "train.steps=60", "--set", "K=3"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "spec.lsm",
        "metrics.jsonl",
        "summary.json",
        "checkpoint.bin",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let spec = std::fs::read_to_string(out.join("spec.lsm")).unwrap();
    assert!(
        spec.contains("param K = 3"),
        "overrides are written into the spec:\n{spec}"
    );
    assert!(spec.contains("steps 60"), "{spec}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 6, "3 evaluations × valid and test");
    for l in &lines {
        for k in ["step", "epoch", "split", "loss", "accuracy", "v_measure"] {
            assert!(!l[k].is_null(), "{k} missing in {l}");
        }
        let acc = l["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
    }
    let s = json(&out.join("summary.json"));
    for k in ["model", "seed", "steps", "seconds", "best", "final"] {
        assert!(!s[k].is_null(), "{k} missing in summary");
    }
    assert_eq!(s["steps"], 60);
    assert!(
        s["best"]["valid"]["accuracy"].is_number() && s["best"]["test"]["accuracy"].is_number()
    );
    // The resolved spec checks clean and reproduces the run without flags.
    let again = scratch("rundir-again");
    let o = train(out.join("spec.lsm").to_str().unwrap(), &again, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(metrics_without_time(&out), metrics_without_time(&again));
    let o = train("tests/lsm/train/small_softmax.lsm", &out, &[]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "an existing run is not overwritten"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("--resume"));
}

/// The synthetic SFE-with-baseline spec, shortened (the baseline's running
/// mean is state a resumed run must carry over exactly).
fn short_sfe_baseline() -> PathBuf {
    let mut short = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/synthetic/sfe_baseline.lsm"),
    )
    .expect("the spec");
    for (from, to) in [
        (
            "train = 5000, valid = 1000, test = 1000",
            "train = 500, valid = 100, test = 100",
        ),
        ("steps 10000", "steps 1500"),
        ("evaluate every 500 steps", "evaluate every 100 steps"),
    ] {
        assert!(
            short.contains(from),
            "sfe_baseline.lsm no longer says `{from}`"
        );
        short = short.replace(from, to);
    }
    let spec = scratch("sfe_baseline.lsm");
    std::fs::write(&spec, short).unwrap();
    spec
}

#[test]
fn a_killed_run_resumes_to_the_same_result_as_an_uninterrupted_one() {
    let sfe = short_sfe_baseline();
    for spec in [
        "tests/lsm/train/small_softmax.lsm",
        "tests/lsm/train/minibatch_spigot.lsm",
        sfe.to_str().unwrap(),
    ] {
        let cut = resumes_bit_identically(spec);
        if spec == sfe.to_str().unwrap() {
            let ck = lsmc_runtime::checkpoint::load::<f32>(&cut.join("checkpoint.bin"))
                .expect("the checkpoint is intact");
            assert!(
                !ck.header.surrogate_state.is_empty(),
                "the baseline's running mean is in the checkpoint"
            );
        }
    }
}

/// Trains `spec` whole, and again killed (SIGKILL) at its first checkpoint
/// and resumed; asserts the two runs' metrics are identical and returns
/// the resumed run's directory.
pub(crate) fn resumes_bit_identically(spec: &str) -> PathBuf {
    // Tests run in parallel threads of one process: each spec gets its own directories.
    let stem = Path::new(spec)
        .file_stem()
        .expect("a file")
        .to_string_lossy();
    let whole = scratch(&format!("whole-{stem}"));
    let o = train(spec, &whole, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let cut = scratch(&format!("cut-{stem}"));
    let mut child = lsmc()
        .args(["train", spec, "--out"])
        .arg(&cut)
        .args(["--threads", "1"])
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("lsmc starts");
    // Kill it (SIGKILL, as `kill -9`) as soon as a checkpoint exists, mid-run.
    let start = Instant::now();
    while !cut.join("checkpoint.bin").exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("kill");
    child.wait().expect("reaped");
    assert!(
        !cut.join("summary.json").exists(),
        "{spec}: the run finished before it could be interrupted"
    );
    let o = train(spec, &cut, &["--resume"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        metrics_without_time(&whole),
        metrics_without_time(&cut),
        "{spec}: resumed run differs"
    );
    cut
}

#[test]
fn resuming_with_another_seed_or_spec_is_refused() {
    let out = scratch("refuse");
    let o = train(
        "tests/lsm/train/small_softmax.lsm",
        &out,
        &["--set", "train.steps=20"],
    );
    assert!(o.status.success());
    let o = train(
        "tests/lsm/train/small_softmax.lsm",
        &out,
        &["--set", "train.steps=20", "--seed", "9", "--resume"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    // The old form, `SPEC --out DIR --resume`, takes the run from the
    // command line: the checkpoint's fingerprint refuses another seed.
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("another spec, overrides, seed"), "{err}");
    // A spec edited since the run started changes its fingerprint.
    let spec = scratch("refuse-spec").with_extension("lsm");
    std::fs::copy("tests/lsm/train/small_softmax.lsm", &spec).unwrap();
    let edited = scratch("refuse-edited");
    let o = train(
        spec.to_str().unwrap(),
        &edited,
        &["--set", "train.steps=20"],
    );
    assert!(o.status.success());
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, text.replace("lr = 1e-2", "lr = 2e-2")).unwrap();
    let o = train(
        spec.to_str().unwrap(),
        &edited,
        &["--set", "train.steps=20", "--resume"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("another spec, overrides, seed"));
    std::fs::write(out.join("checkpoint.bin"), b"garbage").unwrap();
    let o = train(
        "tests/lsm/train/small_softmax.lsm",
        &out,
        &["--set", "train.steps=20", "--resume"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a usable checkpoint"));
}

#[test]
fn a_diverging_run_stops_with_a_diagnostic_and_keeps_its_last_checkpoint() {
    let out = scratch("diverge");
    let o = train("tests/lsm/train/diverges.lsm", &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("lsm::train::non_finite"), "{err}");
    assert!(err.contains("step 2"), "names the step: {err}");
    assert!(
        err.contains("diverges.lsm:14:7") && err.contains("`h`"),
        "names the node and its line: {err}"
    );
    assert!(err.contains("last good checkpoint (step 1)"), "{err}");
    let ck = lsmc_runtime::checkpoint::load::<f32>(&out.join("checkpoint.bin"))
        .expect("the checkpoint is intact");
    assert_eq!(ck.header.step, 1);
    assert!(ck.tensors.iter().all(|t| t.iter().all(|v| v.is_finite())));
    assert!(!out.join("summary.json").exists());
}

#[test]
fn graph_prints_sections_and_dot() {
    let o = lsmc()
        .args(["graph", "models/synthetic/spigot.lsm"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "encoder:",
        "latent:",
        "decoder:",
        "loss:",
        "latent z = argmax via spigot",
        "bilinear(",
        "3012 scalars",
    ] {
        assert!(text.contains(needle), "missing {needle:?}:\n{text}");
    }
    let o = lsmc()
        .args(["graph", "--dot", "models/synthetic/spigot.lsm"])
        .output()
        .unwrap();
    let dot = String::from_utf8_lossy(&o.stdout);
    assert!(
        dot.starts_with("digraph lsmc {")
            && dot.contains("cluster_latent")
            && dot.trim_end().ends_with('}')
    );
}

#[test]
fn arc_scores_lower_to_two_per_word_projections_and_a_pair_score() {
    // Eq. 23's Wᵀ[h_i; h_j] is rewritten as W₁ᵀh_i + W₂ᵀh_j: the graph has
    // two products of the (root-prefixed) words and one pairwise node.
    let o = lsmc()
        .args(["graph", "models/sst/spigot.lsm"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in\n{text}"))
            .to_string()
    };
    let root = line("prepend_root(");
    let id = root.split_whitespace().next().unwrap();
    let products: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(&format!("mat_mul({id},")))
        .collect();
    assert_eq!(products.len(), 2, "{text}");
    for p in &products {
        assert!(p.contains(": f32[B, N+1, 100]"), "{p}");
    }
    assert!(line("pair_score(").contains(": f32[B, N+1, N+1]  # s"));
    // The latent node reads the sentence lengths: padding never joins a tree.
    let lengths = line("= input lengths");
    let lid = lengths.split_whitespace().next().unwrap();
    assert!(line("latent z =").contains(&format!(", {lid})")), "{text}");
}

#[test]
fn a_tree_model_trains_end_to_end_on_sentences() {
    let spec = scratch("tiny-trees.lsm");
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny_sst");
    std::fs::write(
        &spec,
        format!(
            "model tiny_trees\n\
             data sst(path = \"{}\", labels = binary, embeddings = random(dim = 6))\n\
             encoder {{\n  e = embed(tokens, embeddings)\n  h = bilstm(e, 8)\n  s = arc_scores(h, 8)\n}}\n\
             latent z : dependency_tree(projective) = argmax(s) via spigot_ce(eta = 1.0)\n\
             decoder {{\n  r = concat(h, heads(z, h))\n  y_hat = linear(attention_pool(r), 2)\n}}\n\
             loss cross_entropy(y_hat, y)\n\
             train {{\n  optimizer adamw(lr = 0.05)\n  batch 4\n  epochs 30\n  evaluate every 10 epochs on valid, test\n  metric accuracy(y_hat, y)\n}}\n",
            data.display()
        ),
    )
    .unwrap();
    let out = scratch("tiny-trees");
    let o = train(spec.to_str().unwrap(), &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = json(&out.join("summary.json"));
    assert_eq!(s["epochs"], 30);
    // 11 training sentences in batches of 4: 3 steps an epoch.
    assert_eq!(s["steps"], 90);
    let valid_loss: Vec<f64> = std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["split"] == "valid")
        .map(|v| v["loss"].as_f64().unwrap())
        .collect();
    assert_eq!(valid_loss.len(), 3);
    assert!(valid_loss.iter().all(|l| l.is_finite()), "{valid_loss:?}");
}

/// The paper's Table 2 softmax row at the acceptance settings (10,000
/// full-batch steps, Adam lr 1e-3): test accuracy at least `floor`.
fn softmax_reaches(k: u32, floor: f64) {
    let out = scratch(&format!("softmax-k{k}"));
    let o = train(
        "models/synthetic/softmax.lsm",
        &out,
        &[
            "--set",
            &format!("K={k}"),
            "--set",
            "train.optimizer.lr=1e-3",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = json(&out.join("summary.json"));
    let acc = s["final"]["test"]["accuracy"].as_f64().unwrap();
    println!("K = {k}: final test accuracy {acc:.4}");
    assert!(acc >= floor, "K = {k}: test accuracy {acc} < {floor}");
}

/// The paper reports 93.15 for K = 3.
#[test]
fn the_softmax_model_reaches_090_test_accuracy_with_3_clusters() {
    softmax_reaches(3, 0.90);
}

/// The paper reports 86.45 for K = 10.
#[test]
fn the_softmax_model_reaches_082_test_accuracy_with_10_clusters() {
    softmax_reaches(10, 0.82);
}

#[test]
fn every_synthetic_spec_and_a_spec_with_its_own_surrogate_train_end_to_end() {
    let mut specs: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/synthetic"))
            .expect("models")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "lsm"))
            .collect();
    specs.sort();
    assert!(specs.len() >= 11, "every Table 2 row");
    specs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lsm/ok/custom_surrogate.lsm"));
    for spec in specs {
        let name = spec.file_stem().unwrap().to_string_lossy().into_owned();
        let out = scratch(&format!("all-{name}"));
        let o = train(
            spec.to_str().unwrap(),
            &out,
            &[
                "--set",
                "train.steps=3",
                "--set",
                "data.train=200",
                "--set",
                "data.valid=50",
                "--set",
                "data.test=50",
            ],
        );
        assert_eq!(
            o.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let summary = json(&out.join("summary.json"));
        assert_eq!(summary["steps"], 3, "{name}");
        let loss = summary["final"]["valid"]["loss"]
            .as_f64()
            .expect("a valid loss");
        assert!(loss.is_finite(), "{name}: {loss}");
        let _ = std::fs::remove_dir_all(&out);
    }
}
