//! One writer per run directory: a second `lsmc train` or `lsmc sweep` on
//! a directory another process writes is refused at once, naming that
//! process; the lock dies with its holder (`kill -9` included); and a
//! sweep rerun while an orphaned child of an earlier one still trains
//! waits for it instead of training the run a second time.

use lsmc_runtime::run_lock::RunLock;
use std::collections::HashSet;
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
    let d = std::env::temp_dir().join(format!("lsmc-writers-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn train(out: &Path, steps: &str) -> Command {
    let mut c = lsmc();
    c.args(["train", SMALL, "--threads", "1", "--color", "never"])
        .args(["--set", &format!("train.steps={steps}")])
        .arg("--out")
        .arg(out);
    c
}

fn start(mut c: Command) -> Child {
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("lsmc starts")
}

/// Waits until `dir`'s lock file names a holder (the writer is past its
/// lock and about to write).
fn wait_for_holder(dir: &Path, child: &mut Child) -> u32 {
    let start = Instant::now();
    loop {
        let note = std::fs::read_to_string(dir.join("writer.lock")).unwrap_or_default();
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&note) {
            return v["pid"].as_u64().expect("a pid") as u32;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the writer ended early"
        );
        assert!(start.elapsed() < Duration::from_secs(60), "no holder");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_second_train_on_a_run_directory_is_refused_naming_the_first() {
    let out = scratch("train");
    let mut first = start(train(&out, "1000000"));
    let pid = wait_for_holder(&out, &mut first);
    assert_eq!(pid, first.id());
    let o = train(&out, "1000000").output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("is being written by process {pid} (`")),
        "{err}"
    );
    // The refused writer touched nothing: the first's files are its own.
    let info = std::fs::read_to_string(out.join("run.json")).unwrap();
    assert!(info.contains("\"seed\": 1"), "{info}");

    // A holder killed outright leaves no lock behind.
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(RunLock::holder(&out).unwrap().is_none());
    RunLock::acquire(&out).expect("free again");
}

#[test]
fn a_second_sweep_on_a_sweep_directory_is_refused() {
    let out = scratch("sweep");
    let sweep = |steps: &str| {
        let mut c = lsmc();
        c.args(["sweep", SMALL, "--color", "never", "--jobs", "1"])
            .args(["--set", &format!("train.steps={steps}"), "--out"])
            .arg(&out);
        c
    };
    // Its own process group, so one kill reaches the sweep and its child.
    use std::os::unix::process::CommandExt;
    let mut first = sweep("1000000");
    first.process_group(0);
    let mut first = start(first);
    let pid = wait_for_holder(&out, &mut first);
    let o = sweep("1000000").output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("process {pid}")), "{err}");
    let group = format!("-{}", first.id());
    let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    first.wait().unwrap();
}

#[test]
fn a_rerun_sweep_waits_for_an_orphaned_child_instead_of_training_its_run_again() {
    let out = scratch("orphan");
    // The child a killed sweep left behind: `lsmc train` on the sweep's
    // own run directory, with the sweep's flags.
    let run = out.join("small_softmax/default/seed-1");
    let mut orphan = lsmc();
    orphan
        .args(["train", SMALL, "--out"])
        .arg(&run)
        .args(["--seed", "1", "--threads", "1", "--color", "never"])
        .args(["--set", "train.steps=6000"]);
    let mut orphan = start(orphan);
    wait_for_holder(&run, &mut orphan);
    let o = lsmc()
        .args([
            "sweep",
            SMALL,
            "--set",
            "train.steps=6000",
            "--color",
            "never",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(orphan.wait().unwrap().success());
    assert!(
        err.contains("waited") && err.contains("it finished the run"),
        "{err}"
    );
    // Every step's metrics once: nobody trained the run twice.
    assert_each_step_once(&run, 6000);
}

#[test]
fn seeds_that_would_share_a_directory_or_do_not_exist_are_refused() {
    for (flags, says) in [
        (&["--seed-list", "1,2,1"][..], "seed 1 twice"),
        (&["--seeds", "0"][..], "at least 1"),
    ] {
        let out = scratch("seeds");
        let o = lsmc()
            .args(["sweep", SMALL, "--out"])
            .arg(&out)
            .args(flags)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{flags:?}");
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
        assert!(!out.exists(), "{flags:?}: nothing is written");
    }
}

fn sweep(out: &Path, steps: &str, jobs: &str) -> Command {
    let mut c = lsmc();
    c.args([
        "sweep",
        SMALL,
        "--grid",
        "K=3,4",
        "--threads",
        "1",
        "--jobs",
        jobs,
    ])
    .args(["--set", &format!("train.steps={steps}"), "--color", "never"])
    .arg("--out")
    .arg(out);
    c
}

/// Each step's evaluations appear once in `run`'s metrics, and all of them.
fn assert_each_step_once(run: &Path, steps: usize) {
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let lines: Vec<(u64, String)> = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .map(|v| (v["step"].as_u64().unwrap(), v["split"].to_string()))
        .collect();
    let unique: HashSet<_> = lines.iter().collect();
    assert_eq!(lines.len(), unique.len(), "{}: {metrics}", run.display());
    assert_eq!(lines.len(), 2 * steps / 20, "{}", run.display());
}

#[test]
fn killing_a_sweep_alone_leaves_its_runs_training_and_the_rerun_waits_for_them() {
    let out = scratch("kill-parent");
    let mut parent = start(sweep(&out, "2000", "2"));
    let runs = ["K=3", "K=4"].map(|k| out.join(format!("small_softmax/{k}/seed-1")));
    let children = runs.clone().map(|r| wait_for_holder(&r, &mut parent));
    // kill -9 of the sweep alone: its two runs are orphaned, still training.
    parent.kill().unwrap();
    parent.wait().unwrap();
    for pid in children {
        let alive = Command::new("kill")
            .args(["-0", &pid.to_string()])
            .status()
            .unwrap();
        assert!(alive.success(), "run {pid} died with its sweep");
    }
    let o = sweep(&out, "2000", "2").output().unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("it finished the run").count(), 2, "{err}");
    for r in &runs {
        assert_each_step_once(r, 2000);
    }
}

#[test]
fn a_run_killed_inside_a_sweep_fails_alone_and_the_rerun_resumes_it_to_the_same_numbers() {
    let out = scratch("kill-child");
    let mut parent = start(sweep(&out, "2000", "1"));
    let first = out.join("small_softmax/K=3/seed-1");
    let pid = wait_for_holder(&first, &mut parent);
    let start = Instant::now();
    while !first.join("checkpoint.bin").exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    // The sweep goes on to the other run and says which one failed.
    let status = parent.wait().unwrap();
    assert!(!status.success());
    assert!(out.join("small_softmax/K=4/seed-1/summary.json").is_file());
    assert!(!first.join("summary.json").exists());
    let o = sweep(&out, "2000", "1").output().unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("2 runs (1 finished, 1 to resume, 0 to start)"),
        "{err}"
    );
    assert!(err.contains("K=3/seed-1: resumed, done"), "{err}");
    assert_each_step_once(&first, 2000);
    // Resumed from its last checkpoint, it ends where an uninterrupted run does.
    let whole = scratch("kill-child-whole");
    let mut t = train(&whole, "2000");
    assert!(t
        .args(["--set", "K=3", "--seed", "1"])
        .output()
        .unwrap()
        .status
        .success());
    let summary = |d: &Path| {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("summary.json")).unwrap())
                .unwrap();
        (v["best"].clone(), v["final"].clone())
    };
    assert_eq!(summary(&first), summary(&whole));
}
