//! Sweeps on Slurm: the runs a sweep plans, handed to the scheduler as one
//! job array whose task `i` trains run `i` of a plan file, exactly as a
//! local sweep's child would ([`sweep::run_one`]: resume from a
//! checkpoint, wait for a live writer, a log per run). Nothing here
//! schedules: Slurm does. What lives in `DIR/slurm/`:
//!
//! - `plan-K.json`: submission K's runs, in task order, with the flags each
//!   `lsmc train` gets;
//! - `task.sh`: the array's batch script (`lsmc sweep-task PLAN $SLURM_ARRAY_TASK_ID`);
//! - `jobs.json`: every submission: its array job, plan and report job;
//! - `JOB_TASK.out`: what each task printed (Slurm's `--output`).
//!
//! A rerun submits only the runs neither finished nor pending or running
//! under a job of an earlier submission (`squeue`), so it is idempotent
//! like a local sweep; each run resumes from its checkpoint.

use crate::runs::{self, State};
use crate::sweep::{self, Child, Planned};
use lsmc_runtime::records;
use lsmc_runtime::run_lock::RunLock;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where a sweep keeps its Slurm files, under its directory.
pub const SLURM_DIR: &str = "slurm";
const JOBS: &str = "jobs.json";
const TASK_SCRIPT: &str = "task.sh";

/// The options `sbatch` gets, beyond the array itself (with the `clap`
/// feature, `lsmc sweep`'s flags for them).
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct Submit {
    /// Slurm partition.
    #[cfg_attr(feature = "clap", arg(long))]
    pub partition: Option<String>,
    /// Slurm time limit per run (`HH:MM:SS`); a run stopped by it resumes
    /// from its checkpoint when the sweep is submitted again.
    #[cfg_attr(feature = "clap", arg(long))]
    pub time: Option<String>,
    /// Slurm memory per run (`--mem`, e.g. `8G`).
    #[cfg_attr(feature = "clap", arg(long))]
    pub mem: Option<String>,
    /// Slurm generic resources per run (`gpu:1`).
    #[cfg_attr(feature = "clap", arg(long))]
    pub gres: Option<String>,
    /// Slurm account.
    #[cfg_attr(feature = "clap", arg(long))]
    pub account: Option<String>,
    /// Any other `sbatch` argument, as given (`--sbatch-arg=--qos=long`). Repeatable.
    #[cfg_attr(
        feature = "clap",
        arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)
    )]
    pub extra: Vec<String>,
    /// At most this many tasks at once (`--array=…%M`; `lsmc sweep --jobs`).
    #[cfg_attr(feature = "clap", arg(skip))]
    pub at_once: Option<usize>,
}

impl Submit {
    /// Whether any `sbatch` option was given.
    pub fn any(&self) -> bool {
        [
            &self.partition,
            &self.time,
            &self.mem,
            &self.gres,
            &self.account,
        ]
        .iter()
        .any(|o| o.is_some())
            || !self.extra.is_empty()
    }
}

/// A submission's plan: task `i` trains `runs[i]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub runs: Vec<Planned>,
    pub threads: usize,
    pub max_words: Option<usize>,
}

/// One `sbatch` of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// The array's job id.
    pub job: String,
    /// The plan file, under `DIR/slurm/`.
    pub plan: String,
    /// The report job that waits for the array, if one was asked for.
    pub report_job: Option<String>,
}

/// The submissions of a sweep so far, oldest first.
pub fn submissions(out: &Path) -> Result<Vec<Submission>, String> {
    let path = out.join(SLURM_DIR).join(JOBS);
    if !path.exists() {
        return Ok(Vec::new());
    }
    records::read_json(&path, "the sweep's Slurm submissions")
}

/// The submissions of a sweep with their plans, oldest first. A plan that
/// cannot be read is an error: without it, its runs' tasks are unknown.
pub fn submitted(out: &Path) -> Result<Vec<(Submission, Plan)>, String> {
    submissions(out)?
        .into_iter()
        .map(|s| {
            let plan = records::read_json(&out.join(SLURM_DIR).join(&s.plan), "a Slurm plan")?;
            Ok((s, plan))
        })
        .collect()
}

/// A task Slurm still knows as pending or running: its state and reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Live {
    /// `JOB_TASK`.
    pub task: String,
    /// `PENDING`, `RUNNING`, `COMPLETING`, …
    pub state: String,
    pub reason: String,
}

fn run_tool(cmd: &mut Command, what: &str) -> Result<String, String> {
    let o = cmd.output().map_err(|e| {
        format!(
            "cannot run {what}: {e} (is Slurm installed, and SLURM_CONF set for a local cluster?)"
        )
    })?;
    if !o.status.success() {
        return Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Which of the sweep's runs are pending or running under one of its
/// arrays, by run directory.
pub fn live(subs: &[(Submission, Plan)]) -> Result<BTreeMap<PathBuf, Live>, String> {
    let mut found = BTreeMap::new();
    if subs.is_empty() {
        return Ok(found);
    }
    // Every task of this user, one line each (`-r` expands pending ranges);
    // jobs Slurm no longer knows are simply absent.
    let text = run_tool(
        Command::new("squeue")
            .args(["-h", "-r", "-o", "%F|%K|%T|%r", "-u"])
            .arg(user()),
        "squeue",
    )?;
    let plans: BTreeMap<&str, &Plan> = subs.iter().map(|(s, p)| (s.job.as_str(), p)).collect();
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').collect();
        let [job, task, state, reason] = f[..] else {
            continue;
        };
        let (Some(plan), Ok(i)) = (plans.get(job), task.parse::<usize>()) else {
            continue;
        };
        if let Some(r) = plan.runs.get(i) {
            found.insert(
                r.dir.clone(),
                Live {
                    task: format!("{job}_{i}"),
                    state: state.to_string(),
                    reason: reason.to_string(),
                },
            );
        }
    }
    Ok(found)
}

fn user() -> String {
    std::env::var("USER")
        .ok()
        .or_else(|| {
            let o = Command::new("id").arg("-un").output().ok()?;
            Some(String::from_utf8_lossy(&o.stdout).trim().to_string())
        })
        .unwrap_or_else(|| "root".into())
}

/// `'text'` for a POSIX shell.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Submits `todo` as one job array (and, with `report`, a `lsmc report`
/// job that runs once every task succeeded). Returns the submission, also
/// recorded in `DIR/slurm/jobs.json`.
pub fn submit(
    out: &Path,
    exe: &Path,
    todo: &[&Planned],
    child: Child,
    opts: &Submit,
    report: Option<&[String]>,
) -> Result<Submission, String> {
    let dir = out.join(SLURM_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut subs = submissions(out)?;
    let plan_name = format!("plan-{}.json", subs.len() + 1);
    let plan = Plan {
        runs: todo.iter().map(|p| (*p).clone()).collect(),
        threads: child.threads,
        max_words: child.max_words,
    };
    let plan_path = dir.join(&plan_name);
    records::write_json(&plan_path, &plan)
        .map_err(|e| format!("cannot write {}: {e}", plan_path.display()))?;
    let script = dir.join(TASK_SCRIPT);
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n# One task of an lsmc sweep's job array: trains run $SLURM_ARRAY_TASK_ID of the plan.\nexec {} sweep-task \"$1\" \"$SLURM_ARRAY_TASK_ID\"\n",
            quoted(&exe.display().to_string())
        ),
    )
    .map_err(|e| format!("cannot write {}: {e}", script.display()))?;
    let last = todo.len().saturating_sub(1);
    let array = match opts.at_once {
        Some(m) => format!("--array=0-{last}%{m}"),
        None => format!("--array=0-{last}"),
    };
    let mut cmd = sbatch("lsmc-sweep", opts, true)?;
    cmd.arg(&array)
        .arg(format!("--cpus-per-task={}", child.threads))
        .arg(format!("--output={}/%A_%a.out", dir.display()))
        .arg(&script)
        .arg(&plan_path);
    let job = job_id(&run_tool(&mut cmd, "sbatch")?)?;
    let report_job = match report {
        Some(args) => {
            let line = std::iter::once(quoted(&exe.display().to_string()))
                .chain(["report".to_string(), quoted(&out.display().to_string())])
                .chain(args.iter().map(|a| quoted(a)))
                .collect::<Vec<_>>()
                .join(" ");
            let mut cmd = sbatch("lsmc-report", opts, false)?;
            cmd.arg(format!("--dependency=afterok:{job}"))
                .arg(format!("--output={}/report.txt", out.display()))
                .arg(format!("--error={}/report.err", dir.display()));
            cmd.arg(format!("--wrap=exec {line}"));
            Some(job_id(&run_tool(&mut cmd, "sbatch (the report job)")?)?)
        }
        None => None,
    };
    let s = Submission {
        job,
        plan: plan_name,
        report_job,
    };
    subs.push(s.clone());
    let jobs = dir.join(JOBS);
    records::write_json(&jobs, &subs)
        .map_err(|e| format!("cannot write {}: {e}", jobs.display()))?;
    Ok(s)
}

/// `sbatch --parsable` for a job named `name`, started in this directory,
/// with the partition and account of `opts`, and (`per_run`) the rest of
/// them: time, memory, resources and free-form arguments.
fn sbatch(name: &str, opts: &Submit, per_run: bool) -> Result<Command, String> {
    let here =
        std::env::current_dir().map_err(|e| format!("cannot read the working directory: {e}"))?;
    let mut cmd = Command::new("sbatch");
    cmd.arg("--parsable")
        .arg(format!("--job-name={name}"))
        .arg(format!("--chdir={}", here.display()));
    let mut flags = vec![
        ("--partition", &opts.partition),
        ("--account", &opts.account),
    ];
    if per_run {
        flags.extend([
            ("--time", &opts.time),
            ("--mem", &opts.mem),
            ("--gres", &opts.gres),
        ]);
    }
    for (flag, value) in flags {
        if let Some(v) = value {
            cmd.arg(format!("{flag}={v}"));
        }
    }
    if per_run {
        cmd.args(&opts.extra);
    }
    Ok(cmd)
}

/// The job id `sbatch --parsable` printed (`123` or `123;cluster`).
fn job_id(printed: &str) -> Result<String, String> {
    let id = printed.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("sbatch printed no job id: `{}`", printed.trim()));
    }
    Ok(id)
}

/// Task `index` of the plan at `plan`: trains its run as a local sweep's
/// child would. Success, and a line for the task's output.
pub fn task(exe: &Path, plan: &Path, index: usize) -> Result<(bool, String), String> {
    let p: Plan = records::read_json(plan, "a Slurm plan")?;
    let run = p.runs.get(index).ok_or_else(|| {
        format!(
            "{} has {} runs: no task {index}",
            plan.display(),
            p.runs.len()
        )
    })?;
    let child = Child {
        threads: p.threads,
        max_words: p.max_words,
    };
    Ok(sweep::run_one(exe, run, child))
}

/// Where one run of a Slurm sweep stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    Finished,
    /// Its writer holds the run's lock, or Slurm says it runs.
    Running(String),
    Pending(String),
    /// Submitted, not live, not finished: Slurm's word if it still has one,
    /// and the end of the run's log.
    Failed {
        slurm: String,
        log: String,
    },
}

/// Every run of the sweep's submissions, with where it stands.
pub fn status(out: &Path) -> Result<Vec<(PathBuf, Standing)>, String> {
    let subs = submitted(out)?;
    if subs.is_empty() {
        return Err(format!(
            "{} holds no Slurm submission ({}/{JOBS} is missing): was it run with --on slurm?",
            out.display(),
            SLURM_DIR
        ));
    }
    let live = live(&subs)?;
    let mut rows: Vec<(PathBuf, Standing)> = Vec::new();
    for (s, plan) in &subs {
        for (i, r) in plan.runs.iter().enumerate() {
            let standing = if runs::state(&r.dir) == State::Complete {
                Standing::Finished
            } else if let Some(l) = live.get(&r.dir) {
                if l.state == "PENDING" {
                    Standing::Pending(format!("{} ({})", l.task, l.reason))
                } else {
                    Standing::Running(l.task.clone())
                }
            } else if matches!(RunLock::holder(&r.dir), Ok(Some(_))) {
                Standing::Running("its writer holds the run".into())
            } else {
                Standing::Failed {
                    slurm: slurm_end(&format!("{}_{i}", s.job)),
                    log: log_tail(&r.dir.join("train.log")),
                }
            };
            // A later submission of the same run speaks for it.
            rows.retain(|(d, _)| d != &r.dir);
            rows.push((r.dir.clone(), standing));
        }
    }
    Ok(rows)
}

/// How Slurm says a task ended (`FAILED, exit 1:0`), while it remembers.
fn slurm_end(task: &str) -> String {
    let Ok(text) = run_tool(
        Command::new("scontrol").args(["-o", "show", "job", task]),
        "scontrol",
    ) else {
        return format!("task {task}: Slurm no longer remembers it");
    };
    let field = |k: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .unwrap_or("?")
            .to_string()
    };
    format!(
        "task {task}: {}, exit {}, reason {}",
        field("JobState="),
        field("ExitCode="),
        field("Reason=")
    )
}

/// The last lines of a run's log that say something.
fn log_tail(path: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return format!("no log at {}", path.display());
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_quotes_and_spaces() {
        assert_eq!(quoted("a b"), "'a b'");
        assert_eq!(quoted("it's"), r"'it'\''s'");
    }

    #[test]
    fn job_ids_come_from_sbatch_parsable_output() {
        assert_eq!(job_id("123\n").unwrap(), "123");
        assert_eq!(job_id("45;cluster\n").unwrap(), "45");
        assert!(job_id("Submitted batch job 9").is_err());
    }
}
