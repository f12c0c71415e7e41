//! What a researcher expects of a training loop, end to end through
//! `lsmc train`: learning-rate schedules (the logged rates follow the
//! formula), gradient clipping, early stopping, `log every N steps`,
//! TensorBoard event files (read back with TensorBoard's own reader),
//! Ctrl-C (a real SIGINT: checkpoint, the step, how to resume) and
//! `lsmc train --resume RUN_DIR` with nothing else.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SMALL: &str = "tests/lsm/train/small_softmax.lsm";

fn lsmc() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lsmc"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lsmc-controls-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// `lsmc train SMALL --out OUT --set S…` on one thread.
fn train_command(out: &Path, set: &[&str]) -> Command {
    let mut c = lsmc();
    c.args([
        "train",
        SMALL,
        "--threads",
        "1",
        "--color",
        "never",
        "--out",
    ])
    .arg(out);
    for s in set {
        c.args(["--set", s]);
    }
    c
}

fn train(out: &Path, set: &[&str]) -> Output {
    let o = train_command(out, set).output().expect("lsmc runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

fn lines(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .expect("metrics")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The `log every` lines: (step, loss, lr, grad_norm).
fn logged(dir: &Path) -> Vec<(u64, f64, f64, f64)> {
    lines(dir)
        .iter()
        .filter(|l| l["split"] == "log")
        .map(|l| {
            (
                l["step"].as_u64().unwrap(),
                l["loss"].as_f64().unwrap(),
                l["lr"].as_f64().unwrap(),
                l["grad_norm"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary"))
        .expect("JSON")
}

#[test]
fn logged_learning_rates_follow_each_schedules_formula() {
    // Written out here, apart from the runtime's own code: t updates
    // taken, T = 40 steps, w warm-up steps, base rate 1e-2.
    let total = 40.0;
    type Formula = Box<dyn Fn(f64) -> f64>;
    let cases: [(&str, Formula); 3] = [
        (
            "cosine(warmup = 10)",
            Box::new(move |t: f64| {
                if t < 10.0 {
                    t / 10.0
                } else {
                    0.5 * (1.0 + (std::f64::consts::PI * (t - 10.0) / (total - 10.0)).cos())
                }
            }),
        ),
        (
            "linear_decay(warmup = 4)",
            Box::new(move |t: f64| {
                if t < 4.0 {
                    t / 4.0
                } else {
                    (total - t) / (total - 4.0)
                }
            }),
        ),
        (
            "step_decay(every = 7, gamma = 0.5)",
            Box::new(|t: f64| 0.5f64.powi((t / 7.0).floor() as i32)),
        ),
    ];
    for (i, (schedule, formula)) in cases.iter().enumerate() {
        let out = scratch(&format!("schedule-{i}"));
        train(
            &out,
            &[
                "train.steps=40",
                &format!("train.schedule={schedule}"),
                "train.log_every=1",
            ],
        );
        let log = logged(&out);
        assert_eq!(log.len(), 40, "{schedule}: one line per step");
        for (step, _, lr, _) in log {
            let want = 1e-2 * formula((step - 1) as f64);
            assert!(
                (lr - want).abs() <= 1e-15,
                "{schedule}: step {step} lr {lr}, formula {want}"
            );
        }
    }
}

#[test]
fn the_logged_loss_is_the_mean_over_the_window_and_evaluations_are_unchanged() {
    let every_step = scratch("log-1");
    train(&every_step, &["train.steps=40", "train.log_every=1"]);
    let windows = scratch("log-10");
    train(&windows, &["train.steps=40", "train.log_every=10"]);
    let one = logged(&every_step);
    let ten = logged(&windows);
    assert_eq!(
        ten.iter().map(|l| l.0).collect::<Vec<_>>(),
        [10, 20, 30, 40]
    );
    for (k, (_, loss, _, norm)) in ten.iter().enumerate() {
        let mean = one[10 * k..10 * k + 10].iter().map(|l| l.1).sum::<f64>() / 10.0;
        assert!((loss - mean).abs() < 1e-12, "window {k}: {loss} vs {mean}");
        assert_eq!(*norm, one[10 * k + 9].3, "the window's last step's norm");
    }
    // Logging only adds lines: the evaluations are those of a run without it.
    let plain = scratch("log-none");
    train(&plain, &["train.steps=40"]);
    let evaluations = |d: &Path| -> Vec<serde_json::Value> {
        lines(d)
            .into_iter()
            .filter(|l| l["split"] != "log")
            .collect()
    };
    assert_eq!(evaluations(&plain), evaluations(&windows));
    assert_eq!(summary(&plain)["final"], summary(&windows)["final"]);
}

#[test]
fn clipping_bounds_each_update_by_the_max_norm() {
    // SGD moves the parameters by lr · g · min(1, c/‖g‖): with c = 1e-7 the
    // loss stays put; without clipping it falls.
    let set = |clip: Option<&'static str>| {
        let mut s: Vec<&'static str> = vec![
            "train.steps=20",
            "train.optimizer=sgd(lr = 0.5)",
            "train.log_every=1",
        ];
        s.extend(clip);
        s
    };
    let free = scratch("clip-free");
    train(&free, &set(None));
    let clipped = scratch("clip-tight");
    train(&clipped, &set(Some("train.clip_norm=1e-7")));
    let (f, c) = (logged(&free), logged(&clipped));
    // The logged norm is the gradient's before clipping: equal at step 1.
    assert_eq!(f[0].3, c[0].3);
    assert!(f[0].3 > 1e-3, "a gradient worth clipping: {}", f[0].3);
    assert!(f[19].1 < f[0].1 - 1e-3, "unclipped SGD learns: {f:?}");
    for (_, loss, _, _) in &c {
        assert!((loss - c[0].1).abs() < 1e-5, "clipped: {c:?}");
    }
}

#[test]
fn early_stopping_stops_after_patience_evaluations_without_improvement() {
    let out = scratch("patience");
    // A rate too small to change a prediction: no evaluation after the
    // first improves on it.
    train(
        &out,
        &[
            "train.steps=400",
            "train.optimizer.lr=1e-12",
            "train.patience=3",
        ],
    );
    let s = summary(&out);
    // Evaluations every 20 steps: the best at 20, then 40, 60, 80 stale.
    assert_eq!(s["steps"], 80, "{s}");
    assert_eq!(s["best"]["step"], 20);
    let why = s["stopped_early"].as_str().expect("said why");
    assert!(why.contains("3 evaluations without improvement"), "{why}");
    // The rule, checked on the metrics: each later valid accuracy is no
    // better than the best before it.
    let valid: Vec<f64> = lines(&out)
        .iter()
        .filter(|l| l["split"] == "valid")
        .map(|l| l["accuracy"].as_f64().unwrap())
        .collect();
    assert_eq!(valid.len(), 4);
    assert!(valid[1..].iter().all(|&v| v <= valid[0]), "{valid:?}");
}

#[test]
fn patience_without_evaluations_on_valid_is_a_check_error() {
    let o = lsmc()
        .args(["check", SMALL, "--color", "never"])
        .args(["--set", "train.patience=2"])
        .output()
        .unwrap();
    // The spec evaluates every 20 steps on valid: fine.
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let spec = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(SMALL))
        .unwrap()
        .replace(
            "evaluate every 20 steps on valid, test",
            "evaluate every 20 steps on test",
        );
    let dir = scratch("patience-check");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("no_valid.lsm");
    std::fs::write(&path, spec).unwrap();
    let o = lsmc()
        .args(["check", "--color", "never"])
        .arg(&path)
        .args(["--set", "train.patience=2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("lsm::check::patience_without_evaluation"),
        "{err}"
    );
    assert_eq!(
        err.matches("× ").count(),
        1,
        "one mistake, one diagnostic: {err}"
    );
}

/// Python with TensorBoard importable: the cache `.ci/run` installs it in
/// (`LSMC_TENSORBOARD`), else the system's.
fn tensorboard_python() -> Option<Command> {
    let mut c = Command::new("python3");
    if let Some(dir) = std::env::var_os("LSMC_TENSORBOARD") {
        c.env("PYTHONPATH", dir);
    }
    let probe = Command::new("python3")
        .envs(c.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .args([
            "-c",
            "import tensorboard.backend.event_processing.event_accumulator",
        ])
        .output()
        .ok()?;
    probe.status.success().then_some(c)
}

#[test]
fn tensorboards_own_reader_reads_every_metrics_line_from_the_event_file() {
    let Some(mut python) = tensorboard_python() else {
        assert!(
            std::env::var_os("LSMC_REQUIRE_TENSORBOARD").is_none(),
            "LSMC_REQUIRE_TENSORBOARD is set, but python3 cannot import tensorboard"
        );
        eprintln!("SKIPPED tensorboards_own_reader_reads_every_metrics_line_from_the_event_file: no tensorboard for python3 (.ci/run installs it)");
        return;
    };
    let out = scratch("tensorboard");
    train(&out, &["train.steps=60", "train.log_every=10"]);
    let script = r#"
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
print(json.dumps({t: [[e.step, e.value] for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}))
"#;
    let o = python.args(["-c", script]).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    // Every value of every metrics line, under SPLIT/NAME (the log's as
    // training/NAME), at its step, as the f32 TensorBoard stores.
    let mut expected = 0;
    for line in lines(&out) {
        let split = match line["split"].as_str().unwrap() {
            "log" => "training",
            s => s,
        };
        let step = line["step"].as_u64().unwrap();
        for (name, v) in line.as_object().unwrap() {
            if ["step", "epoch", "split"].contains(&name.as_str()) {
                continue;
            }
            let tag = format!("{split}/{name}");
            let points = read[&tag]
                .as_array()
                .unwrap_or_else(|| panic!("no tag {tag}: {read}"));
            let at = points
                .iter()
                .find(|p| p[0].as_u64() == Some(step))
                .unwrap_or_else(|| panic!("{tag} has no step {step}"));
            assert_eq!(
                at[1].as_f64().unwrap() as f32,
                v.as_f64().unwrap() as f32,
                "{tag}@{step}"
            );
            expected += 1;
        }
    }
    let total: usize = read
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len())
        .sum();
    assert_eq!(total, expected, "nothing more, nothing twice");
    assert!(read.get("training/lr").is_some() && read.get("valid/accuracy").is_some());
}

/// Starts a run whose stderr is read line by line.
fn spawn_train(out: &Path, set: &[&str]) -> Child {
    train_command(out, set)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lsmc starts")
}

fn sigint(child: &Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(ok.success());
}

/// Reads the child's stderr until a line contains `what`; returns all of it read so far.
fn read_until(lines: &mut impl Iterator<Item = String>, what: &str, seen: &mut String) {
    let start = Instant::now();
    for line in lines.by_ref() {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(what) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{seen}");
    }
    panic!("stderr ended before {what:?}: {seen}");
}

#[test]
fn ctrl_c_checkpoints_says_how_to_resume_and_resume_alone_ends_as_an_uninterrupted_run() {
    let whole = scratch("sigint-whole");
    train(&whole, &[]);
    let cut = scratch("sigint-cut");
    let mut child = spawn_train(&cut, &[]);
    let mut err = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let mut seen = String::new();
    // The first evaluation is printed at step 20 of 400: interrupt then.
    read_until(&mut err, "step 20/400", &mut seen);
    sigint(&child);
    seen.extend(err.map(|l| l + "\n"));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}");
    let resume = format!("resume with: lsmc train --resume {}", cut.display());
    assert!(seen.contains(&resume), "{seen}");
    let stopped = seen
        .lines()
        .find_map(|l| l.strip_prefix("stopped after step "))
        .unwrap_or_else(|| panic!("{seen}"));
    let step: u64 = stopped.split(';').next().unwrap().parse().unwrap();
    assert!((20..400).contains(&step), "{seen}");
    assert!(!cut.join("summary.json").exists());
    // The checkpoint is at the step said, not only at the last evaluation.
    let ck: lsmc_runtime::checkpoint::Checkpoint<f32> =
        lsmc_runtime::checkpoint::load(&cut.join("checkpoint.bin")).expect("a checkpoint");
    assert_eq!(ck.header.step, step);

    // Nothing but the directory: spec, overrides, seed and precision come from the run.
    let o = lsmc()
        .args(["train", "--threads", "1", "--resume"])
        .arg(&cut)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |d: &Path| {
        let s = summary(d);
        (
            s["best"].clone(),
            s["final"].clone(),
            std::fs::read_to_string(d.join("metrics.jsonl")).unwrap(),
        )
    };
    assert_eq!(read(&whole), read(&cut), "the resumed run differs");
}

#[test]
fn a_second_ctrl_c_stops_at_once() {
    let out = scratch("sigint-twice");
    // Full-batch steps over 300,000 examples: long enough that the second
    // signal comes while the first step is still under way.
    let mut child = spawn_train(&out, &["data.train=300000", "train.steps=1000"]);
    let mut err = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let mut seen = String::new();
    read_until(&mut err, "config:", &mut seen);
    std::thread::sleep(Duration::from_millis(300));
    sigint(&child);
    read_until(&mut err, "interrupted: stopping after this step", &mut seen);
    sigint(&child);
    seen.extend(err.map(|l| l + "\n"));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}");
    assert!(seen.contains("interrupted again: stopping now"), "{seen}");
}

#[test]
fn resume_with_a_conflicting_flag_names_both_values() {
    let out = scratch("conflict");
    train(&out, &["train.steps=20"]);
    let run = |extra: &[&str]| {
        let o = lsmc()
            .args(["train", "--resume"])
            .arg(&out)
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = run(&["--seed", "9"]);
    assert!(
        e.contains("--seed 9 conflicts with the run's seed 1"),
        "{e}"
    );
    let e = run(&["--precision", "f64"]);
    assert!(
        e.contains("--precision f64 conflicts with the run's precision f32"),
        "{e}"
    );
    let e = run(&["--set", "train.steps=30"]);
    assert!(
        e.contains("--set train.steps=30 conflicts with the run's overrides --set train.steps=20"),
        "{e}"
    );
    let o = lsmc()
        .args(["train", "--resume"])
        .arg(out.join("nothing-here"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(e.contains("is not a run directory"), "{e}");
}

/// `lsmc bench`'s `threads` without `--threads`: the default it chose.
fn default_threads(spec: &str) -> String {
    let o = lsmc()
        .args([
            "bench",
            spec,
            "--steps",
            "1",
            "--repeats",
            "1",
            "--warmup",
            "0",
        ])
        .env_remove("MATMUL_NUM_THREADS")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    v["threads"].as_str().expect("a label").to_string()
}

#[test]
fn the_default_threads_follow_the_work_one_without_trees_every_core_with_them() {
    assert_eq!(
        default_threads(SMALL),
        "auto (1 workers, 1 for products)",
        "no tree latent: one thread"
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(
        default_threads("models/sst/spigot.lsm"),
        format!("auto ({cores} workers, 1 for products)"),
        "a tree latent: a worker per core"
    );
}
