//! `data table(…)` end to end: records with two texts become two inputs
//! with their own lengths (`index[B, N]` and `index[B, M]`), a model over
//! both trains, SNLI's original training-file format needs nothing but
//! the file's name, and a bad record stops training at its file and line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lsmc-pairs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch directory");
    d
}

const WORDS: [&str; 8] = ["a", "dog", "man", "runs", "sleeps", "the", "park", "isn't"];
const LABELS: [&str; 3] = ["entailment", "neutral", "contradiction"];

/// `n` records in SNLI 1.0's own training-file format (`sentence1`,
/// `sentence2`, `gold_label`, and fields the reader ignores), texts of
/// different lengths, every seventh record without a majority label (`-`).
pub fn snli_format(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let text = |len: usize, shift: usize| {
            (0..len)
                .map(|j| WORDS[(i * 3 + j * 5 + shift) % WORDS.len()])
                .collect::<Vec<_>>()
                .join(" ")
        };
        let label = if i % 7 == 6 { "-" } else { LABELS[i % 3] };
        out.push_str(&format!(
            "{{\"annotator_labels\": [\"{label}\"], \"captionID\": \"{i}.jpg#0\", \"gold_label\": \"{label}\", \
             \"pairID\": \"{i}r1n\", \"sentence1\": \"{}.\", \"sentence1_binary_parse\": \"( x )\", \
             \"sentence2\": \"{}\", \"sentence2_parse\": \"(ROOT x)\"}}\n",
            text(3 + i % 5, 0),
            text(1 + i % 3, 1)
        ));
    }
    out
}

/// A bag-of-words model over both texts of a pair.
fn spec(dir: &Path, data: &str) -> PathBuf {
    let text = format!(
        "model pairs\n\
         data {data}\n\
         encoder {{\n  a = sum_pool(embed(premise, embeddings))\n  b = sum_pool(embed(hypothesis, embeddings))\n}}\n\
         decoder {{\n  y_hat = linear(concat(a, b), 3)\n}}\n\
         loss cross_entropy(y_hat, y)\n\
         train {{\n  optimizer adam(lr = 1e-2)\n  batch 4\n  epochs 1\n  evaluate every 1 epochs on valid, test\n  metric accuracy(y_hat, y)\n}}\n"
    );
    let path = dir.join("pairs.lsm");
    std::fs::write(&path, text).expect("spec written");
    path
}

fn lsmc(args: &[&str], spec: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .args(&args[..1])
        .arg(spec)
        .args(&args[1..])
        .output()
        .expect("lsmc runs")
}

pub fn snli_data(files: &str) -> String {
    format!(
        "table(file = \"train.jsonl\", split = {files},\n\
         texts = [\"premise\", \"hypothesis\"], columns = [\"sentence1\", \"sentence2\"],\n\
         label = \"gold_label\", classes = [\"entailment\", \"neutral\", \"contradiction\"], skip = [\"-\"],\n\
         embeddings = random(dim = 4))"
    )
}

#[test]
fn the_texts_of_a_pair_are_inputs_with_lengths_of_their_own() {
    let dir = scratch("check");
    std::fs::write(dir.join("train.jsonl"), snli_format(30)).unwrap();
    let spec = spec(
        &dir,
        &snli_data("holdout(0.2, seed = 3, test = \"train.jsonl\")"),
    );
    let o = lsmc(&["check"], &spec);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("premise      index[B, N]"), "{out}");
    assert!(out.contains("hypothesis   index[B, M]"), "{out}");
    assert!(out.contains("class(3)[B]"), "{out}");
}

#[test]
fn snlis_training_file_format_trains_given_only_the_file_names() {
    let dir = scratch("snli");
    for f in ["train", "dev", "test"] {
        std::fs::write(dir.join(format!("{f}.jsonl")), snli_format(40)).unwrap();
    }
    let spec = spec(
        &dir,
        &snli_data("files(valid = \"dev.jsonl\", test = \"test.jsonl\")"),
    );
    let out = dir.join("run");
    let o = lsmc(
        &["train", "--out", out.to_str().unwrap(), "--threads", "1"],
        &spec,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = std::fs::read_to_string(out.join("summary.json")).expect("a summary");
    // 40 records less the 5 without a majority label, batches of 4.
    assert!(summary.contains("\"steps\": 9"), "{summary}");
}

#[test]
fn a_bad_record_stops_training_at_its_file_and_line() {
    let dir = scratch("bad");
    let mut records = snli_format(12);
    records.push_str(
        "{\"sentence1\": \"a dog\", \"sentence2\": \"a man\", \"gold_label\": \"maybe\"}\n",
    );
    std::fs::write(dir.join("train.jsonl"), records).unwrap();
    let spec = spec(&dir, &snli_data("holdout(0.25, test = \"train.jsonl\")"));
    let o = lsmc(
        &["train", "--out", dir.join("run").to_str().unwrap()],
        &spec,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("train.jsonl:13"), "{err}");
    assert!(err.contains("maybe"), "{err}");
}

#[test]
fn table_arguments_no_file_can_satisfy_are_refused_at_check_time() {
    let dir = scratch("config");
    std::fs::write(dir.join("train.jsonl"), snli_format(10)).unwrap();
    for (data, says) in [
        (
            snli_data("holdout(0.2, test = \"train.jsonl\")").replace(
                "columns = [\"sentence1\", \"sentence2\"]",
                "columns = [\"sentence1\"]",
            ),
            "`columns` names 1 columns for 2 texts",
        ),
        (
            snli_data("holdout(0.2, test = \"train.jsonl\")").replace(
                "\"neutral\", \"contradiction\"",
                "\"neutral\", \"Entailment\"",
            ),
            "named twice",
        ),
    ] {
        let o = lsmc(&["check", "--color", "never"], &spec(&dir, &data));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("lsm::check::bad_data"), "{err}");
        assert!(err.contains(says), "{err}");
    }
}
