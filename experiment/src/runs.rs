//! Run directories as data: what `lsmc train` leaves behind, read back by
//! `lsmc sweep` (which runs are done) and `lsmc report` (what they measured).
//!
//! A run directory holds `run.json` (spec, model, overrides, seed: written
//! by `lsmc train` before the first step), `metrics.jsonl` (one line per
//! evaluation and split), `checkpoint.bin` and, once finished,
//! `summary.json`.

use lsmc_runtime::records::{self, MetricsLine, Summary};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use lsmc_runtime::records::{Evaluation, RunInfo};

/// How far a run got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Nothing to resume from.
    Fresh,
    /// A checkpoint but no summary: killed or failed part-way.
    Partial,
    /// `summary.json` written: finished.
    Complete,
}

pub fn state(dir: &Path) -> State {
    if dir.join(records::SUMMARY).is_file() {
        State::Complete
    } else if dir.join(records::CHECKPOINT).is_file() {
        State::Partial
    } else {
        State::Fresh
    }
}

/// A run read back from its directory.
#[derive(Clone, Debug)]
pub struct Run {
    pub dir: PathBuf,
    pub info: RunInfo,
    pub state: State,
    /// Step → the evaluation at that step, in step order.
    pub evaluations: BTreeMap<u64, Evaluation>,
}

/// Reads `dir/run.json`; `Err` says what is wrong with it.
pub fn read_info(dir: &Path) -> Result<RunInfo, String> {
    RunInfo::read(dir)
}

/// Reads the run in `dir`; `Err` says what is wrong with which file.
pub fn read(dir: &Path) -> Result<Run, String> {
    let info = read_info(dir)?;
    let mut evaluations: BTreeMap<u64, Evaluation> = BTreeMap::new();
    for line in records::read_metrics(&dir.join(records::METRICS))? {
        let MetricsLine {
            step,
            split,
            values,
            ..
        } = line;
        // `log every N steps` lines are the training loss, not evaluations.
        if split == records::LOG_SPLIT {
            continue;
        }
        evaluations.entry(step).or_default().insert(split, values);
    }
    let state = state(dir);
    if state == State::Complete {
        check_against_summary(dir, &evaluations)?;
    }
    Ok(Run {
        dir: dir.to_path_buf(),
        info,
        state,
        evaluations,
    })
}

/// A finished run's metrics must hold the evaluations its summary names
/// (the best and the final one): a metrics file cut short, or missing,
/// would otherwise change a report without a word.
fn check_against_summary(
    dir: &Path,
    evaluations: &BTreeMap<u64, Evaluation>,
) -> Result<(), String> {
    let summary: Summary =
        records::read_json(&dir.join(records::SUMMARY), "a run summary (summary.json)")?;
    let metrics = dir.join(records::METRICS);
    for (which, step) in [("final", summary.last.step), ("best", summary.best.step)] {
        if !evaluations.contains_key(&step) {
            let held = match evaluations.keys().next_back() {
                Some(last) => format!("its evaluations end at step {last}"),
                None if metrics.exists() => "it holds no evaluation".to_string(),
                None => "it is missing".to_string(),
            };
            return Err(format!(
                "{}: {held}, but summary.json records the {which} evaluation at step {step} of {}: the file is truncated or was replaced",
                metrics.display(),
                summary.steps
            ));
        }
    }
    Ok(())
}

/// Every run directory (one holding `run.json`) under `root`, sorted.
pub fn find(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        if d.join(records::RUN).is_file() {
            found.push(d);
            continue;
        }
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
                }
            }
        }
    }
    found.sort();
    found
}
