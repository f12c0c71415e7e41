//! Run directories as data: what `lsmc train` leaves behind, read back by
//! `lsmc sweep` (which runs are done) and `lsmc report` (what they measured).
//!
//! A run directory holds `run.json` (spec, model, overrides, seed: written
//! by `lsmc train` before the first step), `metrics.jsonl` (one line per
//! evaluation and split), `checkpoint.bin` and, once finished,
//! `summary.json`.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What identifies a run: `run.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    pub spec: String,
    pub model: String,
    /// `--set` flags as given, `PATH=VALUE`.
    pub overrides: Vec<String>,
    pub seed: u64,
    pub precision: String,
    /// The spec's absolute path when it was trained: relative data paths
    /// in the run's `spec.lsm` resolve against its directory.
    pub spec_path: Option<String>,
}

impl RunInfo {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "spec": self.spec,
            "model": self.model,
            "overrides": self.overrides,
            "seed": self.seed,
            "precision": self.precision,
        });
        if let Some(p) = &self.spec_path {
            v["spec_path"] = json!(p);
        }
        v
    }

    pub fn from_json(v: &Value) -> Option<RunInfo> {
        Some(RunInfo {
            spec: v["spec"].as_str()?.to_string(),
            model: v["model"].as_str()?.to_string(),
            overrides: v["overrides"]
                .as_array()?
                .iter()
                .map(|o| o.as_str().map(str::to_string))
                .collect::<Option<_>>()?,
            seed: v["seed"].as_u64()?,
            precision: v["precision"].as_str().unwrap_or("f32").to_string(),
            spec_path: v["spec_path"].as_str().map(str::to_string),
        })
    }

    /// The overrides as (path, value) pairs, paths without spaces.
    pub fn settings(&self) -> Vec<(String, String)> {
        self.overrides
            .iter()
            .filter_map(|o| {
                let (k, v) = o.split_once('=')?;
                Some((k.trim().to_string(), v.trim().to_string()))
            })
            .collect()
    }

    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("run.json"),
            serde_json::to_string_pretty(&self.to_json()).unwrap_or_default() + "\n",
        )
    }
}

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
    if dir.join("summary.json").is_file() {
        State::Complete
    } else if dir.join("checkpoint.bin").is_file() {
        State::Partial
    } else {
        State::Fresh
    }
}

/// Metrics of one evaluation: split → metric → value.
pub type Evaluation = BTreeMap<String, BTreeMap<String, f64>>;

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
    let info_path = dir.join("run.json");
    let text = std::fs::read_to_string(&info_path)
        .map_err(|e| format!("{}: {}", info_path.display(), crate::io_reason(&e)))?;
    serde_json::from_str::<Value>(&text)
        .ok()
        .as_ref()
        .and_then(RunInfo::from_json)
        .ok_or_else(|| {
            format!(
                "{}: not a run description (spec, model, overrides, seed)",
                info_path.display()
            )
        })
}

/// Reads the run in `dir`; `Err` says what is wrong with which file.
pub fn read(dir: &Path) -> Result<Run, String> {
    let info = read_info(dir)?;
    let metrics_path = dir.join("metrics.jsonl");
    let mut evaluations: BTreeMap<u64, Evaluation> = BTreeMap::new();
    if let Ok(text) = std::fs::read_to_string(&metrics_path) {
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = || format!("{}:{}: not a metrics line", metrics_path.display(), i + 1);
            let v: Value = serde_json::from_str(line).map_err(|_| bad())?;
            let (Some(step), Some(split)) = (v["step"].as_u64(), v["split"].as_str()) else {
                return Err(bad());
            };
            let values = v
                .as_object()
                .ok_or_else(bad)?
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "step" | "epoch" | "split"))
                .filter_map(|(k, x)| Some((k.clone(), x.as_f64()?)))
                .collect();
            evaluations
                .entry(step)
                .or_default()
                .insert(split.to_string(), values);
        }
    }
    Ok(Run {
        dir: dir.to_path_buf(),
        info,
        state: state(dir),
        evaluations,
    })
}

/// Every run directory (one holding `run.json`) under `root`, sorted.
pub fn find(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        if d.join("run.json").is_file() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_info_round_trips_through_json() {
        let info = RunInfo {
            spec: "models/synthetic/spigot.lsm".into(),
            model: "synthetic_spigot".into(),
            overrides: vec!["K=3".into(), "z.eta = 1".into()],
            seed: 4,
            precision: "f32".into(),
            spec_path: Some("/work/models/a.lsm".into()),
        };
        assert_eq!(RunInfo::from_json(&info.to_json()), Some(info.clone()));
        assert_eq!(
            info.settings(),
            vec![("K".into(), "3".into()), ("z.eta".into(), "1".into())]
        );
    }
}
