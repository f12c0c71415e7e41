//! Run records: every file a run directory and a sweep directory hold, as
//! types shared by the code that writes them and the code that reads them
//! back. Nobody reads these files by string keys.
//!
//! A run directory (`lsmc train --out DIR`):
//! - `run.json` — [`RunInfo`]: what the run is (spec, model, overrides,
//!   seed, precision), written before the first step;
//! - `spec.lsm` — the resolved spec;
//! - `metrics.jsonl` — one [`MetricsLine`] per evaluation and split;
//! - `checkpoint.bin` (the last evaluation) and `best.bin` (the best one) —
//!   safetensors files whose metadata is a [`CheckpointHeader`]
//!   (`crate::checkpoint` reads and writes them);
//! - `summary.json` — [`Summary`], once the run has finished.
//!
//! A sweep directory (`lsmc sweep --out DIR`) holds run directories and
//! `sweep.json` — [`SweepRecord`].
//!
//! Every `f64` reads back bit-identically (serde_json's `float_roundtrip`);
//! JSON has no NaN or infinity, so those are written as the strings `"NaN"`,
//! `"inf"` and `"-inf"` and read back as what they were, never as `null`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const RUN: &str = "run.json";
pub const SUMMARY: &str = "summary.json";
pub const METRICS: &str = "metrics.jsonl";
pub const CHECKPOINT: &str = "checkpoint.bin";
/// The parameters of the best evaluation (by the first metric on the
/// validation split).
pub const BEST: &str = "best.bin";
pub const SWEEP: &str = "sweep.json";

/// Metric → value, for one split.
pub type Metrics = BTreeMap<String, f64>;
/// Split → metric → value: one evaluation.
pub type Evaluation = BTreeMap<String, Metrics>;

/// `run.json`: what identifies a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub spec: String,
    pub model: String,
    /// `--set` flags as given, `PATH=VALUE`.
    pub overrides: Vec<String>,
    pub seed: u64,
    /// Runs written before `--precision` existed are f32.
    #[serde(default = "f32_name")]
    pub precision: String,
    /// The spec's absolute path when it was trained: relative data paths
    /// in the run's `spec.lsm` resolve against its directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_path: Option<String>,
    /// The data root relative data paths resolved against (`--data-root`
    /// or `LSMC_DATA_ROOT`, absolute), if any: used again by `lsmc eval`,
    /// `lsmc predict` and `lsmc train --resume RUN_DIR` when none is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_root: Option<String>,
}

fn f32_name() -> String {
    "f32".into()
}

impl RunInfo {
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

    /// Writes `dir/run.json`, creating `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        write_json(&dir.join(RUN), self)
    }

    /// Reads `dir/run.json`; `Err` names the file and what is wrong with it.
    pub fn read(dir: &Path) -> Result<RunInfo, String> {
        read_json(
            &dir.join(RUN),
            "a run description (spec, model, overrides, seed)",
        )
    }
}

/// One line of `metrics.jsonl`: one split of one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsLine {
    pub step: u64,
    pub epoch: u64,
    pub split: String,
    /// The loss and the spec's metrics, beside `step`, `epoch` and `split`.
    #[serde(flatten, with = "num_map")]
    pub values: Metrics,
}

/// Reads `metrics.jsonl` (no file: no lines); `Err` names the file and line.
pub fn read_metrics(path: &Path) -> Result<Vec<MetricsLine>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {}", path.display(), io_reason(&e))),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| format!("{}:{}: not a metrics line ({e})", path.display(), i + 1))
        })
        .collect()
}

/// An evaluation and where training was when it ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluated {
    pub step: u64,
    pub epoch: u64,
    /// Split → metric → value, beside `step` and `epoch`.
    #[serde(flatten, with = "num_splits")]
    pub splits: Evaluation,
}

/// `summary.json`: a finished run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub model: String,
    pub seed: u64,
    pub steps: u64,
    pub epochs: u64,
    #[serde(with = "num")]
    pub seconds: f64,
    pub dtype: String,
    /// The best evaluation by the first metric on the validation split.
    pub best: Evaluated,
    /// The last evaluation.
    #[serde(rename = "final")]
    pub last: Evaluated,
    /// Why training ended before its planned steps (early stopping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
}

/// The `split` of the `metrics.jsonl` lines that `log every N steps`
/// writes: the mean training loss since the previous such line, the
/// learning rate and the gradient's norm — not an evaluation.
pub const LOG_SPLIT: &str = "log";

/// The typed metadata of a checkpoint: everything besides the tensors that
/// a run needs to continue bit-identically.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointHeader {
    /// Identifies the spec, overrides, seed and element type that made it.
    pub fingerprint: String,
    pub dtype: String,
    pub step: u64,
    pub epoch: u64,
    /// Position in the current epoch's example order.
    pub position: usize,
    pub order: Vec<u32>,
    /// The training generator's position (ChaCha word position, decimal:
    /// a u128 is more than JSON numbers are trusted with).
    pub rng_word_pos: String,
    pub optimizer_steps: u64,
    /// The surrogates' state across steps (moving-average baselines).
    #[serde(with = "num_map")]
    pub surrogate_state: BTreeMap<String, f64>,
    /// The best evaluation so far, and the score it was chosen by.
    pub best: Option<Evaluated>,
    #[serde(with = "num_opt")]
    pub best_score: Option<f64>,
    /// Training time so far, across resumptions.
    #[serde(with = "num")]
    pub seconds: f64,
    /// The tensors' names, in order: parameters (`param.W`), then the
    /// optimiser's first (`m.W`) and second (`v.W`) moments.
    pub tensors: Vec<String>,
    /// Evaluations in a row since the best one (early stopping's count).
    #[serde(default)]
    pub stale_evaluations: u64,
    /// The training losses summed since the last `log every` line, and
    /// how many steps they are.
    #[serde(default, with = "num")]
    pub log_loss_sum: f64,
    #[serde(default)]
    pub log_steps: u64,
}

/// `sweep.json`: every invocation of `lsmc sweep` on a directory, and the
/// runs they planned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepRecord {
    pub invocations: Vec<Invocation>,
    pub runs: Vec<SweepRun>,
}

/// One `lsmc sweep` command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    pub specs: Vec<String>,
    /// Grid axes: path → values.
    pub grid: BTreeMap<String, Vec<String>>,
    pub set: Vec<String>,
    pub seeds: Vec<u64>,
    /// Spec → the axes it has no path for.
    pub skipped_axes: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub argv: Vec<String>,
}

/// A planned run: its directory relative to the sweep's, and what it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepRun {
    pub dir: String,
    #[serde(flatten)]
    pub info: RunInfo,
}

impl SweepRecord {
    /// Reads `dir/sweep.json`; `Ok(None)` when there is none.
    pub fn read(dir: &Path) -> Result<Option<SweepRecord>, String> {
        let path = dir.join(SWEEP);
        if !path.exists() {
            return Ok(None);
        }
        read_json(&path, "a sweep description (invocations, runs)").map(Some)
    }
}

/// Plain words for the I/O errors users meet.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

/// Reads a JSON record; `Err` names the file and says it is not `what`.
pub fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: {}", path.display(), io_reason(&e)))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not {what} ({e})", path.display()))
}

/// Writes a JSON record through a temporary file and a rename, so a reader
/// (or a process killed mid-write) never sees half of it.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)? + "\n";
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// An f64 as JSON: a number when finite, else `"NaN"`, `"inf"` or `"-inf"`.
struct Num(f64);

impl Serialize for Num {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        if x.is_finite() {
            s.serialize_f64(x)
        } else if x.is_nan() {
            s.serialize_str("NaN")
        } else if x > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Num, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, or \"NaN\", \"inf\" or \"-inf\"")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Num, E> {
                Ok(Num(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Num, E> {
                match v {
                    "NaN" => Ok(Num(f64::NAN)),
                    "inf" => Ok(Num(f64::INFINITY)),
                    "-inf" => Ok(Num(f64::NEG_INFINITY)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

mod num {
    use super::Num;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        Num(*x).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Num::deserialize(d).map(|n| n.0)
    }
}

mod num_opt {
    use super::Num;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        x.map(Num).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Option::<Num>::deserialize(d).map(|n| n.map(|n| n.0))
    }
}

mod num_map {
    use super::Num;
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(m: &BTreeMap<String, f64>, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(m.len()))?;
        for (k, v) in m {
            map.serialize_entry(k, &Num(*v))?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
        BTreeMap::<String, Num>::deserialize(d)
            .map(|m| m.into_iter().map(|(k, v)| (k, v.0)).collect())
    }
}

mod num_splits {
    use super::{Evaluation, Num};
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;

    struct Split<'a>(&'a BTreeMap<String, f64>);

    impl serde::Serialize for Split<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            super::num_map::serialize(self.0, s)
        }
    }

    pub fn serialize<S: Serializer>(e: &Evaluation, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(e.len()))?;
        for (k, v) in e {
            map.serialize_entry(k, &Split(v))?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Evaluation, D::Error> {
        BTreeMap::<String, BTreeMap<String, Num>>::deserialize(d).map(|e| {
            e.into_iter()
                .map(|(k, m)| (k, m.into_iter().map(|(n, v)| (n, v.0)).collect()))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f64s that a shortest-representation writer and a fast reader can
    /// disagree on by one unit in the last place, or lose a sign or a
    /// subnormal.
    fn awkward() -> Vec<f64> {
        vec![
            0.1 + 0.2,
            1.0 / 3.0,
            2.0f64.sqrt(),
            0.30000000000000004,
            9007199254740993.0,
            1.2345678901234567e-5,
            8.41e21,
            2.2250738585072014e-308,
            2.225073858507201e-308,
            1e-308,
            5e-324,
            -5e-324,
            f64::MAX,
            1.7976931348623157e308,
            f64::MIN_POSITIVE,
            -0.0,
            0.0,
            f64::EPSILON,
            std::f64::consts::PI * 1e100,
            (0.7f64).ln() * 1e-300,
        ]
    }

    fn bits(m: &BTreeMap<String, f64>) -> BTreeMap<String, u64> {
        m.iter().map(|(k, v)| (k.clone(), v.to_bits())).collect()
    }

    fn values(xs: &[f64]) -> Metrics {
        xs.iter()
            .enumerate()
            .map(|(i, &x)| (format!("m{i:02}"), x))
            .collect()
    }

    #[test]
    fn awkward_f64s_survive_every_record_bit_for_bit() {
        let xs = awkward();
        let line = MetricsLine {
            step: 3,
            epoch: 1,
            split: "valid".into(),
            values: values(&xs),
        };
        let back: MetricsLine =
            serde_json::from_str(&serde_json::to_string(&line).unwrap()).unwrap();
        assert_eq!(bits(&back.values), bits(&line.values));

        let evaluated = Evaluated {
            step: 3,
            epoch: 1,
            splits: [("valid".to_string(), values(&xs))].into(),
        };
        let summary = Summary {
            model: "m".into(),
            seed: 1,
            steps: 3,
            epochs: 1,
            seconds: 0.1 + 0.2,
            dtype: "f64".into(),
            best: evaluated.clone(),
            last: evaluated.clone(),
            stopped_early: None,
        };
        let text = serde_json::to_string_pretty(&summary).unwrap();
        let back: Summary = serde_json::from_str(&text).unwrap();
        assert_eq!(back.seconds.to_bits(), summary.seconds.to_bits());
        assert_eq!(bits(&back.last.splits["valid"]), bits(&values(&xs)));

        for (i, &x) in xs.iter().enumerate() {
            let header = CheckpointHeader {
                fingerprint: "f".into(),
                dtype: "f64".into(),
                step: 1,
                epoch: 0,
                position: 0,
                order: vec![],
                rng_word_pos: "0".into(),
                optimizer_steps: 1,
                surrogate_state: values(&xs),
                best: Some(evaluated.clone()),
                best_score: Some(x),
                seconds: x,
                tensors: vec![],
                stale_evaluations: 2,
                log_loss_sum: x,
                log_steps: 3,
            };
            let back: CheckpointHeader =
                serde_json::from_str(&serde_json::to_string(&header).unwrap()).unwrap();
            assert_eq!(back.best_score.unwrap().to_bits(), x.to_bits(), "#{i}");
            assert_eq!(back.log_loss_sum.to_bits(), x.to_bits(), "#{i}");
            assert_eq!(back.seconds.to_bits(), x.to_bits(), "#{i}");
            assert_eq!(bits(&back.surrogate_state), bits(&header.surrogate_state));
        }
    }

    #[test]
    fn nan_and_infinities_are_written_as_named_strings_and_read_back_as_themselves() {
        let line = MetricsLine {
            step: 1,
            epoch: 0,
            split: "test".into(),
            values: values(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.5]),
        };
        let text = serde_json::to_string(&line).unwrap();
        assert_eq!(
            text,
            r#"{"step":1,"epoch":0,"split":"test","m00":"NaN","m01":"inf","m02":"-inf","m03":1.5}"#
        );
        let back: MetricsLine = serde_json::from_str(&text).unwrap();
        assert!(back.values["m00"].is_nan());
        assert_eq!(back.values["m01"], f64::INFINITY);
        assert_eq!(back.values["m02"], f64::NEG_INFINITY);
        // What serde_json would have made of a NaN is refused, not guessed at.
        let null = r#"{"step":1,"epoch":0,"split":"test","loss":null}"#;
        assert!(serde_json::from_str::<MetricsLine>(null).is_err());
        let word = r#"{"step":1,"epoch":0,"split":"test","loss":"nan"}"#;
        assert!(serde_json::from_str::<MetricsLine>(word).is_err());
    }

    #[test]
    fn records_written_before_this_module_still_read() {
        // As the json!-built writers left them: keys sorted, no precision.
        let info: RunInfo =
            serde_json::from_str(r#"{"model":"m","overrides":["K=3"],"seed":2,"spec":"a.lsm"}"#)
                .unwrap();
        assert_eq!(info.precision, "f32");
        assert_eq!(info.spec_path, None);
        let line: MetricsLine = serde_json::from_str(
            r#"{"accuracy":0.5,"epoch":3,"loss":0.6931471805599453,"split":"valid","step":40,"v_measure":0}"#,
        )
        .unwrap();
        assert_eq!(line.step, 40);
        assert_eq!(line.values.len(), 3);
        assert_eq!(line.values["loss"], std::f64::consts::LN_2);
        let summary: Summary = serde_json::from_str(
            r#"{"best":{"epoch":1,"step":20,"test":{"loss":1.0},"valid":{"loss":2.0}},
                "dtype":"f32","epochs":2,"final":{"epoch":2,"step":40,"valid":{"loss":3.0}},
                "model":"m","seconds":1.5,"seed":1,"steps":40}"#,
        )
        .unwrap();
        assert_eq!(summary.best.splits["test"]["loss"], 1.0);
        assert_eq!(summary.last.step, 40);
        let sweep: SweepRecord = serde_json::from_str(
            r#"{"invocations":[{"grid":{"K":["3","4"]},"seeds":[1],"set":[],"skipped_axes":{},"specs":["a.lsm"]}],
                "runs":[{"dir":"m/K=3/seed-1","model":"m","overrides":["K=3"],"precision":"f32","seed":1,"spec":"a.lsm"}]}"#,
        )
        .unwrap();
        assert_eq!(sweep.runs[0].info.settings(), [("K".into(), "3".into())]);
        assert!(sweep.invocations[0].argv.is_empty());
    }

    #[test]
    fn run_info_round_trips_through_its_file() {
        let dir = std::env::temp_dir().join(format!("lsmc-records-{}", std::process::id()));
        let info = RunInfo {
            spec: "models/synthetic/spigot.lsm".into(),
            model: "synthetic_spigot".into(),
            overrides: vec!["K=3".into(), "z.eta = 1".into()],
            seed: 4,
            precision: "f32".into(),
            spec_path: Some("/work/models/a.lsm".into()),
            data_root: Some("/data".into()),
        };
        info.write(&dir).unwrap();
        assert_eq!(RunInfo::read(&dir).unwrap(), info);
        assert_eq!(
            info.settings(),
            vec![("K".into(), "3".into()), ("z.eta".into(), "1".into())]
        );
        std::fs::write(dir.join(RUN), "{\"spec\": 3").unwrap();
        let err = RunInfo::read(&dir).unwrap_err();
        assert!(
            err.contains("run.json") && err.contains("not a run description"),
            "{err}"
        );
        std::fs::write(
            dir.join(METRICS),
            "{\"step\":1,\"epoch\":0,\"split\":\"v\"}\n{oops\n",
        )
        .unwrap();
        let err = read_metrics(&dir.join(METRICS)).unwrap_err();
        assert!(err.contains("metrics.jsonl:2:"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
