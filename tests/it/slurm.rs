//! `lsmc sweep --on slurm` against a real Slurm: `scripts/slurm-local.sh`
//! starts munged, slurmctld and slurmd from a temporary directory, and the
//! sweep goes through them as one job array — a task cancelled mid-run and
//! resubmitted resumes from its checkpoint, the dependent report job
//! writes a table identical to a local sweep's, and a task that fails
//! shows in `--status` with its reason. Needs Debian's `slurm-wlm`
//! (`.ci/run` installs it); without it the tests say they are skipped,
//! and under CI they fail instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SMALL: &str = "tests/lsm/train/small_softmax.lsm";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A local Slurm for one test, stopped when dropped.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
}

/// One cluster at a time: each test starts its own on free ports, but two
/// slurmd on one host would share the node's name.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

impl Cluster {
    /// A started cluster, or `None` (said on stderr) where Slurm is not
    /// installed and this is not CI.
    fn start(name: &str) -> Option<Cluster> {
        let installed = Command::new("sh")
            .args(["-c", "command -v slurmctld && command -v munged"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !installed {
            assert!(
                std::env::var_os("CI").is_none(),
                "Slurm is not installed: .ci/run installs slurm-wlm"
            );
            eprintln!("skipped: Slurm (slurm-wlm) is not installed");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("lsmc-slurm-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let o = Command::new(root().join("scripts/slurm-local.sh"))
            .arg("start")
            .arg(dir.join("cluster"))
            .arg("2")
            .output()
            .expect("the script runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        Some(Cluster {
            conf: dir.join("cluster/slurm.conf"),
            dir,
        })
    }

    fn lsmc(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_lsmc"))
            .current_dir(root())
            .env("SLURM_CONF", &self.conf)
            .args(args)
            .output()
            .expect("lsmc runs")
    }

    fn tool(&self, args: &[&str]) -> String {
        let o = Command::new(args[0])
            .args(&args[1..])
            .env("SLURM_CONF", &self.conf)
            .output()
            .expect("a Slurm client runs");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Waits until Slurm has no job left in the queue.
    fn drain(&self) {
        let start = Instant::now();
        while !self.tool(&["squeue", "-h"]).trim().is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(240),
                "Slurm jobs never ended"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/slurm-local.sh"))
            .arg("stop")
            .arg(self.dir.join("cluster"))
            .output();
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sweep_args<'a>(out: &'a str, steps: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "sweep", SMALL, "--grid", "K=3,4", "--seeds", "2", "--set", steps, "--color", "never",
        "--out", out,
    ];
    a.extend_from_slice(extra);
    a
}

#[test]
fn a_sweep_on_slurm_survives_a_cancelled_task_and_reports_what_a_local_sweep_reports() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(c) = Cluster::start("array") else {
        return;
    };
    let (on_slurm, local) = (c.dir.join("slurm-sweep"), c.dir.join("local-sweep"));
    let (s, l) = (on_slurm.to_str().unwrap(), local.to_str().unwrap());
    let slurm_flags = ["--on", "slurm", "--jobs", "2", "--report", "--by K"];

    let o = c.lsmc(&sweep_args(s, "train.steps=1000", &slurm_flags));
    assert!(o.status.success(), "{}", stderr(&o));
    let job = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(
        stderr(&o).contains("submitted 4 runs as Slurm job array")
            && stderr(&o).contains("report job")
    );
    // Submitted again at once: every run is pending or running under the
    // first array, so nothing is submitted twice.
    let o = c.lsmc(&sweep_args(s, "train.steps=1000", &slurm_flags));
    assert!(o.status.success(), "{}", stderr(&o));
    // (A run may have finished meanwhile: it is not submitted either.)
    assert!(
        stderr(&o).contains("is already under way"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("sweep: submitted"), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing to submit"), "{}", stderr(&o));

    // Cancel the first task once it has written a checkpoint.
    let first = on_slurm.join("small_softmax/K=3/seed-1");
    let start = Instant::now();
    while !first.join("checkpoint.bin").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "task 0 never checkpointed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    c.tool(&["scancel", &format!("{job}_0")]);
    c.drain();
    let o = c.lsmc(&["sweep", "--status", s]);
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{table}");
    assert!(
        stderr(&o).contains("4 runs: 3 finished, 0 running, 0 pending, 1 failed"),
        "{}",
        stderr(&o)
    );
    assert!(
        table.contains("failed    small_softmax/K=3/seed-1") && table.contains("CANCELLED"),
        "{table}"
    );
    // The report job waited for every task to succeed: it was cancelled.
    assert!(!on_slurm.join("report.txt").exists());

    // Submitted again: only the cancelled run, resumed from its checkpoint.
    let o = c.lsmc(&sweep_args(s, "train.steps=1000", &slurm_flags));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("4 runs (3 finished, 1 to resume, 0 to start)"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("submitted 1 runs"), "{}", stderr(&o));
    let again = String::from_utf8_lossy(&o.stdout).trim().to_string();
    c.drain();
    let said = std::fs::read_to_string(on_slurm.join(format!("slurm/{again}_0.out"))).unwrap();
    assert!(said.contains("resumed, done"), "{said}");
    let o = c.lsmc(&["sweep", "--status", s]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("4 finished"));

    // The same sweep here, and the same table, digit for digit.
    let o = c.lsmc(&sweep_args(l, "train.steps=1000", &[]));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = c.lsmc(&["report", l, "--by", "K"]);
    let want = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        std::fs::read_to_string(on_slurm.join("report.txt")).unwrap(),
        want
    );
}

#[test]
fn a_failing_task_shows_in_status_with_its_reason_and_the_others_finish() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(c) = Cluster::start("failing") else {
        return;
    };
    let out = c.dir.join("sweep");
    // A run left with a checkpoint that is not one: its task must resume
    // from it, and cannot.
    let broken = out.join("small_softmax/K=4/seed-2");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("checkpoint.bin"), b"not a checkpoint").unwrap();
    let o = c.lsmc(&sweep_args(
        out.to_str().unwrap(),
        "train.steps=100",
        &["--on", "slurm"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    c.drain();
    let o = c.lsmc(&["sweep", "--status", out.to_str().unwrap()]);
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("3 finished, 0 running, 0 pending, 1 failed"),
        "{}",
        stderr(&o)
    );
    let line = table
        .lines()
        .find(|l| l.contains("K=4/seed-2"))
        .expect("the failed run");
    assert!(
        line.starts_with("failed") && line.contains("FAILED") && line.contains("checkpoint.bin"),
        "{line}"
    );
}
