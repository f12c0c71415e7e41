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
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let lines: Vec<(u64, String)> = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .map(|v| (v["step"].as_u64().unwrap(), v["split"].to_string()))
        .collect();
    let unique: HashSet<_> = lines.iter().collect();
    assert_eq!(lines.len(), unique.len(), "{metrics}");
    assert_eq!(lines.len(), 2 * 6000 / 20);
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
