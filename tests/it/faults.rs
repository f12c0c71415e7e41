//! Fault injection: every kind of file lsmc reads — SST treebank files,
//! GloVe vectors (plain and gzip), JSONL and TSV tables, checkpoints, a
//! run's `run.json`, `summary.json` and `metrics.jsonl`, a sweep's
//! `sweep.json` — corrupted at random (bytes flipped, the file cut short,
//! lines dropped or doubled, junk and invalid UTF-8 inserted, a stretch
//! zeroed). Each must give an answer or an error that names the file:
//! never a panic (proptest fails a case that panics, and shrinks it to the
//! fewest faults). A checkpoint whose bytes changed is never loaded, and
//! the command line refuses it without touching it.

use crate::pair_data::snli_format;
use lsmc_ir::data::{Embeddings, LabelField, SplitRule, Table, TableFormat, TextField, Tokenize};
use lsmc_runtime::data::sst::{read_split, Labels};
use lsmc_runtime::data::vectors::read_glove;
use lsmc_runtime::records::{self, RunInfo, SweepRecord};
use proptest::prelude::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

/// A fresh directory per case: proptest runs cases one after another in
/// a test, and tests run in parallel.
fn scratch(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("lsmc-faults-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One corruption, its place given as a fraction of the file's length.
#[derive(Clone, Debug)]
enum Fault {
    Flip { at: f64, mask: u8 },
    Cut { at: f64 },
    Insert { at: f64, junk: usize },
    DropLine { at: f64 },
    DoubleLine { at: f64 },
    Zero { at: f64, len: usize },
}

/// What corrupt files hold: invalid UTF-8, NUL, numbers too big for any
/// type, stray delimiters and line ends of every kind.
const JUNK: &[&[u8]] = &[
    b"\xff\xfe",
    b"\xc3",
    b"\0",
    b"1e999",
    b"-1",
    b"18446744073709551616",
    b"NaN",
    b"\n",
    b"\r",
    b"\r\n",
    b"\t",
    b" ",
    b"(",
    b")",
    b"\"",
    b"{",
    b"}",
    b"[",
    b",",
    b":",
];

fn fault() -> impl Strategy<Value = Fault> {
    let at = 0.0..1.0f64;
    prop_oneof![
        (at.clone(), 1..=255u8).prop_map(|(at, mask)| Fault::Flip { at, mask }),
        at.clone().prop_map(|at| Fault::Cut { at }),
        (at.clone(), 0..JUNK.len()).prop_map(|(at, junk)| Fault::Insert { at, junk }),
        at.clone().prop_map(|at| Fault::DropLine { at }),
        at.clone().prop_map(|at| Fault::DoubleLine { at }),
        (at, 1..64usize).prop_map(|(at, len)| Fault::Zero { at, len }),
    ]
}

fn faults() -> impl Strategy<Value = Vec<Fault>> {
    prop::collection::vec(fault(), 1..4)
}

/// The line around byte `i`: its start and the start of the next.
fn line_at(b: &[u8], i: usize) -> (usize, usize) {
    let start = b[..i]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |p| p + 1);
    let end = b[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| i + p + 1);
    (start, end)
}

fn apply(bytes: &[u8], faults: &[Fault]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for f in faults {
        let pos = |at: f64, len: usize| ((at * len as f64) as usize).min(len.saturating_sub(1));
        if b.is_empty() {
            break;
        }
        match *f {
            Fault::Flip { at, mask } => {
                let i = pos(at, b.len());
                b[i] ^= mask;
            }
            Fault::Cut { at } => b.truncate(pos(at, b.len())),
            Fault::Insert { at, junk } => {
                let i = pos(at, b.len());
                b.splice(i..i, JUNK[junk].iter().copied());
            }
            Fault::DropLine { at } => {
                let (s, e) = line_at(&b, pos(at, b.len()));
                b.drain(s..e);
            }
            Fault::DoubleLine { at } => {
                let (s, e) = line_at(&b, pos(at, b.len()));
                let line = b[s..e].to_vec();
                b.splice(e..e, line);
            }
            Fault::Zero { at, len } => {
                let i = pos(at, b.len());
                let e = (i + len).min(b.len());
                b[i..e].fill(0);
            }
        }
    }
    b
}

/// An error must say which file it is about: some path under `dir`.
fn names_a_file(message: &str, dir: &Path) -> bool {
    message.contains(dir.to_str().unwrap())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The first `lines` lines of a file in ../shared/data, gunzipped if need be.
fn head(path: &Path, lines: usize) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap();
    let text = if path.extension().is_some_and(|e| e == "gz") {
        let mut s = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut s)
            .unwrap();
        s
    } else {
        raw
    };
    let mut out = Vec::new();
    for line in text.split_inclusive(|&c| c == b'\n').take(lines) {
        out.extend_from_slice(line);
    }
    out
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn sst_head() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| head(&shared().join("sst/train.txt"), 25))
}

fn glove_head() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| head(&shared().join("glove/glove.6B.50d.sst.txt.gz"), 120))
}

/// SICK's header and its first 15 rows of each split.
fn sick_head() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| {
        let all = head(&shared().join("sick/SICK.txt"), usize::MAX);
        let lines: Vec<&[u8]> = all.split_inclusive(|&c| c == b'\n').collect();
        let mut out = lines[0].to_vec();
        for set in [&b"\tTRAIN"[..], b"\tTRIAL", b"\tTEST"] {
            let rows = lines.iter().filter(|l| l.trim_ascii_end().ends_with(set));
            rows.take(15).for_each(|l| out.extend_from_slice(l));
        }
        out
    })
}

fn nli_table(
    format: TableFormat,
    split: SplitRule,
    columns: [&str; 2],
    label: &str,
    vectors: &Path,
) -> Table {
    Table {
        format,
        split,
        texts: ["premise", "hypothesis"]
            .into_iter()
            .zip(columns)
            .map(|(name, column)| TextField {
                name: name.into(),
                column: column.into(),
            })
            .collect(),
        label: LabelField {
            column: label.into(),
            names: ["entailment", "neutral", "contradiction"]
                .map(String::from)
                .to_vec(),
            skip: vec!["-".into()],
        },
        tokenize: Tokenize { lowercase: true },
        embeddings: Embeddings::Glove {
            path: vectors.to_path_buf(),
            dim: 50,
        },
    }
}

/// Loads a table as training does: every split, vocabulary and vectors.
fn load_table(table: &Table) -> Result<(), String> {
    lsmc_runtime::data::table::load::<f32>(table)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A finished run and a sweep over it, trained once for every test here.
fn sweep_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = scratch("sweep");
        let o = Command::new(env!("CARGO_BIN_EXE_lsmc"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "sweep",
                "tests/lsm/train/small_softmax.lsm",
                "--set",
                "train.steps=40",
            ])
            .args(["--threads", "1", "--color", "never", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    })
}

fn run_dir() -> PathBuf {
    sweep_dir().join("small_softmax/default/seed-1")
}

/// `run_dir()` copied, with `file` replaced by `bytes`.
fn run_with(file: &str, bytes: &[u8]) -> PathBuf {
    let dir = scratch("run");
    for entry in std::fs::read_dir(run_dir()).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap();
        if name != "writer.lock" {
            std::fs::copy(&p, dir.join(name)).unwrap();
        }
    }
    std::fs::write(dir.join(file), bytes).unwrap();
    dir
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_corrupt_sst_file_is_read_or_refused_naming_it(f in faults()) {
        let dir = scratch("sst");
        let path = dir.join("train.txt");
        std::fs::write(&path, apply(sst_head(), &f)).unwrap();
        for labels in [Labels::Binary, Labels::Fine] {
            if let Err(e) = read_split(&path, labels) {
                prop_assert!(names_a_file(&e, &dir), "{e}");
            }
        }
    }

    #[test]
    fn corrupt_word_vectors_are_read_or_refused_naming_the_file(f in faults(), zipped in any::<bool>(), after in any::<bool>()) {
        let dir = scratch("glove");
        // Corrupt the text and then compress it, or corrupt the gzip stream itself.
        let (path, bytes) = match (zipped, after) {
            (false, _) => (dir.join("v.txt"), apply(glove_head(), &f)),
            (true, false) => (dir.join("v.txt.gz"), gzip(&apply(glove_head(), &f))),
            (true, true) => (dir.join("v.txt.gz"), apply(&gzip(glove_head()), &f)),
        };
        std::fs::write(&path, bytes).unwrap();
        match read_glove(&path, 50) {
            Ok(v) => prop_assert!(v.dim == 50),
            Err(e) => prop_assert!(names_a_file(&e, &dir), "{e}"),
        }
    }

    #[test]
    fn a_corrupt_jsonl_table_or_its_vectors_are_read_or_refused_naming_the_file(f in faults(), vectors in any::<bool>()) {
        let dir = scratch("jsonl");
        let (data, glove) = (dir.join("pairs.jsonl"), dir.join("v.txt"));
        let pairs = snli_format(40);
        let (d, g) = if vectors { (pairs.into_bytes(), apply(glove_head(), &f)) } else { (apply(pairs.as_bytes(), &f), glove_head().to_vec()) };
        std::fs::write(&data, d).unwrap();
        std::fs::write(&glove, g).unwrap();
        let split = SplitRule::Holdout { file: data.clone(), fraction: 0.2, seed: 1, test: data.clone() };
        let table = nli_table(TableFormat::Jsonl, split, ["sentence1", "sentence2"], "gold_label", &glove);
        if let Err(e) = load_table(&table) {
            prop_assert!(names_a_file(&e, &dir), "{e}");
        }
    }

    #[test]
    fn a_corrupt_tsv_table_is_read_or_refused_naming_the_file(f in faults()) {
        let dir = scratch("tsv");
        let (data, glove) = (dir.join("SICK.txt"), dir.join("v.txt"));
        std::fs::write(&data, apply(sick_head(), &f)).unwrap();
        std::fs::write(&glove, glove_head()).unwrap();
        let split = SplitRule::Column {
            file: data.clone(),
            column: "SemEval_set".into(),
            train: "TRAIN".into(),
            valid: "TRIAL".into(),
            test: "TEST".into(),
        };
        let table = nli_table(TableFormat::Tsv, split, ["sentence_A", "sentence_B"], "entailment_label", &glove);
        if let Err(e) = load_table(&table) {
            prop_assert!(names_a_file(&e, &dir), "{e}");
        }
    }

    #[test]
    fn a_checkpoint_whose_bytes_changed_is_never_loaded(f in faults()) {
        for name in [records::CHECKPOINT, records::BEST] {
            let good = std::fs::read(run_dir().join(name)).unwrap();
            let bad = apply(&good, &f);
            let dir = scratch("ckpt");
            let path = dir.join(name);
            std::fs::write(&path, &bad).unwrap();
            match lsmc_runtime::checkpoint::load::<f32>(&path) {
                Ok(_) => prop_assert!(bad == good, "a changed {name} loaded"),
                Err(e) => prop_assert!(names_a_file(&e, &dir), "{e}"),
            }
        }
    }

    #[test]
    fn corrupt_run_and_sweep_records_are_read_or_refused_naming_the_file(f in faults()) {
        let src = run_dir();
        for name in [records::RUN, records::SUMMARY, records::METRICS] {
            let dir = run_with(name, &apply(&std::fs::read(src.join(name)).unwrap(), &f));
            let read = match name {
                records::RUN => RunInfo::read(&dir).map(|_| ()),
                records::SUMMARY => records::read_json::<records::Summary>(&dir.join(name), "a summary").map(|_| ()),
                _ => records::read_metrics(&dir.join(name)).map(|_| ()),
            };
            if let Err(e) = read {
                prop_assert!(names_a_file(&e, &dir), "{e}");
            }
        }
        let dir = scratch("sweep-record");
        let bytes = std::fs::read(sweep_dir().join(records::SWEEP)).unwrap();
        std::fs::write(dir.join(records::SWEEP), apply(&bytes, &f)).unwrap();
        if let Err(e) = SweepRecord::read(&dir) {
            prop_assert!(names_a_file(&e, &dir), "{e}");
        }
    }
}

/// What `lsmc` did: its exit code (`None`: killed by a signal) and stderr.
fn lsmc(args: &[&str], dir: &Path) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .arg(dir)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn commands_on_a_run_with_a_corrupt_file_end_in_an_error_naming_it_and_touch_nothing() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
    for case in 0..6 {
        let f: Vec<Fault> = (0..1 + case % 3)
            .map(|k| {
                let at = rng.random::<f64>();
                match (case + k) % 4 {
                    0 => Fault::Flip {
                        at,
                        mask: rng.random_range(1..=255),
                    },
                    1 => Fault::Cut { at },
                    2 => Fault::Zero { at, len: 16 },
                    _ => Fault::Insert {
                        at,
                        junk: rng.random_range(0..JUNK.len()),
                    },
                }
            })
            .collect();
        let good = std::fs::read(run_dir().join(records::CHECKPOINT)).unwrap();
        let bad = apply(&good, &f);
        if bad == good {
            continue;
        }
        let dir = run_with(records::CHECKPOINT, &bad);
        for args in [
            vec!["eval", "--threads", "1", "--at", "final"],
            vec!["train", "--threads", "1", "--resume"],
        ] {
            let (code, err) = lsmc(&args, &dir);
            assert!(
                matches!(code, Some(1 | 2)),
                "{args:?} {f:?}: exit {code:?}: {err}"
            );
            assert!(
                err.contains("checkpoint.bin") && !err.contains("panicked"),
                "{args:?} {f:?}: {err}"
            );
            assert_eq!(
                std::fs::read(dir.join(records::CHECKPOINT)).unwrap(),
                bad,
                "{args:?} rewrote the checkpoint"
            );
        }
    }
    // A metrics file cut short: the report names it and fails (here with
    // no run left to report, a usage error), no panic.
    let metrics = std::fs::read(run_dir().join(records::METRICS)).unwrap();
    let dir = run_with(records::METRICS, &metrics[..metrics.len() / 2]);
    let (code, err) = lsmc(&["report"], &dir);
    assert!(matches!(code, Some(1 | 2)), "{err}");
    assert!(err.contains("metrics.jsonl"), "{err}");
}
