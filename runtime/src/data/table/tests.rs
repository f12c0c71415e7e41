//! The table reader on the real SNLI and SICK files in ../shared/data
//! (beside the repository), on a file in the original snli_1.0 format, and
//! on one broken file per kind of error.

use super::*;
use crate::data::vectors::{read_glove, Vectors};
use lsmc_ir::data::{LabelField, TableFormat, Tokenize};
use std::path::PathBuf;

fn shared() -> PathBuf {
    // The runtime crate sits one folder below the repository root.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lsmc-table-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn nli_labels(column: &str, skip: &[&str]) -> LabelField {
    LabelField {
        column: column.into(),
        names: ["entailment", "neutral", "contradiction"]
            .map(String::from)
            .to_vec(),
        skip: skip.iter().map(|s| s.to_string()).collect(),
    }
}

fn texts(columns: [&str; 2]) -> Vec<TextField> {
    ["premise", "hypothesis"]
        .into_iter()
        .zip(columns)
        .map(|(name, column)| TextField {
            name: name.into(),
            column: column.into(),
        })
        .collect()
}

fn snli(embeddings: Embeddings) -> Table {
    let dir = shared().join("snli");
    Table {
        format: TableFormat::Jsonl,
        split: SplitRule::Holdout {
            file: dir.join("dev.jsonl"),
            fraction: 0.1,
            seed: 1,
            test: dir.join("test.jsonl"),
        },
        texts: texts(["premise", "hypothesis"]),
        label: nli_labels("label", &["-"]),
        tokenize: Tokenize { lowercase: true },
        embeddings,
    }
}

fn sick(embeddings: Embeddings) -> Table {
    Table {
        format: TableFormat::Tsv,
        split: SplitRule::Column {
            file: shared().join("sick/SICK.txt"),
            column: "SemEval_set".into(),
            train: "TRAIN".into(),
            valid: "TRIAL".into(),
            test: "TEST".into(),
        },
        texts: texts(["sentence_A", "sentence_B"]),
        label: nli_labels("entailment_label", &[]),
        tokenize: Tokenize { lowercase: true },
        embeddings,
    }
}

fn glove(name: &str) -> Embeddings {
    Embeddings::Glove {
        path: shared().join("glove").join(name),
        dim: 50,
    }
}

/// Examples per class.
fn label_counts(examples: &[Example]) -> [usize; 3] {
    let mut counts = [0; 3];
    for e in examples {
        counts[e.label] += 1;
    }
    counts
}

/// The share of tokens, and of distinct tokens, without a vector.
fn oov(examples: &[Example], vectors: &Vectors) -> (f64, f64) {
    let all: Vec<&str> = tokens(examples).collect();
    let types: std::collections::HashSet<&str> = all.iter().copied().collect();
    let missing = |t: &str| vectors.first_of(&lookup_forms(t)).is_none();
    let share = |n: usize, of: usize| n as f64 / of as f64;
    (
        share(all.iter().filter(|t| missing(t)).count(), all.len()),
        share(types.iter().filter(|t| missing(t)).count(), types.len()),
    )
}

/// Checks each split's OOV rates against `limit` and prints them.
fn check_coverage(name: &str, examples: &Examples, vectors: &Vectors, limit: f64) {
    for part in Part::ALL {
        let (tokens, types) = oov(examples.split(part), vectors);
        eprintln!(
            "{name} {part}: OOV {:.3}% of tokens, {:.2}% of types",
            100.0 * tokens,
            100.0 * types
        );
        assert!(tokens < limit, "{name} {part}: {tokens} of tokens OOV");
    }
}

#[test]
fn snli_dev_holds_out_a_tenth_for_valid_and_test_is_whole() {
    let table = snli(glove("glove.6B.50d.snli-devtest.txt.gz"));
    let examples = read_examples(&table).unwrap();
    let sizes = Part::ALL.map(|p| examples.split(p).len());
    assert_eq!(sizes, [8858, 984, 9824]);
    // The published per-label counts of SNLI 1.0 (gold `-` removed).
    assert_eq!(label_counts(&examples.test), [3368, 3219, 3237]);
    let dev = [label_counts(&examples.train), label_counts(&examples.valid)];
    assert_eq!([0, 1, 2].map(|k| dev[0][k] + dev[1][k]), [3329, 3235, 3278]);
    let first = &examples.test[0];
    assert_eq!(first.line, 1);
    assert_eq!(
        first.texts[1].join(" "),
        "the church has cracks in the ceiling ."
    );

    let vectors = read_glove(&shared().join("glove/glove.6B.50d.snli-devtest.txt.gz"), 50).unwrap();
    check_coverage("SNLI", &examples, &vectors, 0.002);
}

#[test]
fn sick_splits_by_its_semeval_column() {
    let table = sick(glove("glove.6B.50d.sick.txt.gz"));
    let data = load::<f32>(&table).unwrap();
    assert_eq!(Part::ALL.map(|p| data.split(p).len), [4439, 495, 4906]);
    let examples = read_examples(&table).unwrap();
    // SICK's own counts, entailment / neutral / contradiction.
    let counts = Part::ALL.map(|p| label_counts(examples.split(p)));
    assert_eq!(
        counts,
        [[1274, 2524, 641], [143, 281, 71], [1404, 2790, 712]]
    );
    assert_eq!(data.label_names, ["entailment", "neutral", "contradiction"]);
    assert_eq!(data.embeddings.shape(), [data.vocabulary.words.len(), 50]);

    let vectors = read_glove(&shared().join("glove/glove.6B.50d.sick.txt.gz"), 50).unwrap();
    // The SICK subset of GloVe lacks a few words the full set has (`n't`,
    // `'s`, `-`, `does`, `make`: the SNLI subset has them), hence the looser
    // bound: with both subsets SICK's OOV rate is below 0.1%.
    check_coverage("SICK", &examples, &vectors, 0.004);
}

/// Three records in the exact format of SNLI 1.0's own
/// `snli_1.0_{train,dev,test}.jsonl`, the second without a gold label.
const SNLI_1_0: &str = r#"{"annotator_labels": ["neutral"], "captionID": "3416050480.jpg#4", "gold_label": "neutral", "pairID": "3416050480.jpg#4r1n", "sentence1": "A person on a horse jumps over a broken down airplane.", "sentence1_binary_parse": "( ( ( A person ) ( on ( a horse ) ) ) ( ( jumps ( over ( a ( broken ( down airplane ) ) ) ) ) . ) )", "sentence1_parse": "(ROOT (S (NP (NP (DT A) (NN person)) (PP (IN on) (NP (DT a) (NN horse)))) (VP (VBZ jumps) (PP (IN over) (NP (DT a) (JJ broken) (JJ down) (NN airplane)))) (. .)))", "sentence2": "A person is training his horse for a competition.", "sentence2_binary_parse": "( ( A person ) ( ( is ( ( training ( his horse ) ) ( for ( a competition ) ) ) ) . ) )", "sentence2_parse": "(ROOT (S (NP (DT A) (NN person)) (VP (VBZ is) (VP (VBG training) (NP (PRP$ his) (NN horse)) (PP (IN for) (NP (DT a) (NN competition))))) (. .)))"}
{"annotator_labels": ["neutral", "contradiction", "entailment", "neutral", "contradiction"], "captionID": "3416050480.jpg#4", "gold_label": "-", "pairID": "3416050480.jpg#4r1c", "sentence1": "A person on a horse jumps over a broken down airplane.", "sentence1_binary_parse": "( ( ( A person ) ( on ( a horse ) ) ) ( ( jumps ( over ( a ( broken ( down airplane ) ) ) ) ) . ) )", "sentence1_parse": "(ROOT (S (NP (NP (DT A) (NN person)) (PP (IN on) (NP (DT a) (NN horse)))) (VP (VBZ jumps) (PP (IN over) (NP (DT a) (JJ broken) (JJ down) (NN airplane)))) (. .)))", "sentence2": "A person is at a diner, ordering an omelette.", "sentence2_binary_parse": "( ( A person ) ( ( ( ( is ( at ( a diner ) ) ) , ) ( ordering ( an omelette ) ) ) . ) )", "sentence2_parse": "(ROOT (S (NP (DT A) (NN person)) (VP (VBZ is) (PP (IN at) (NP (DT a) (NN diner))) (, ,) (S (VP (VBG ordering) (NP (DT an) (NN omelette))))) (. .)))"}
{"annotator_labels": ["entailment"], "captionID": "3416050480.jpg#4", "gold_label": "entailment", "pairID": "3416050480.jpg#4r1e", "sentence1": "A person on a horse jumps over a broken down airplane.", "sentence1_binary_parse": "( ( ( A person ) ( on ( a horse ) ) ) ( ( jumps ( over ( a ( broken ( down airplane ) ) ) ) ) . ) )", "sentence1_parse": "(ROOT (S (NP (NP (DT A) (NN person)) (PP (IN on) (NP (DT a) (NN horse)))) (VP (VBZ jumps) (PP (IN over) (NP (DT a) (JJ broken) (JJ down) (NN airplane)))) (. .)))", "sentence2": "A person is outdoors, on a horse.", "sentence2_binary_parse": "( ( A person ) ( ( ( ( is outdoors ) , ) ( on ( a horse ) ) ) . ) )", "sentence2_parse": "(ROOT (S (NP (DT A) (NN person)) (VP (VBZ is) (ADVP (RB outdoors)) (, ,) (PP (IN on) (NP (DT a) (NN horse)))) (. .)))"}
"#;

#[test]
fn the_original_snli_files_read_with_their_own_field_names() {
    let dir = scratch("snli-1.0");
    let file = |split: &str| {
        let path = dir.join(format!("snli_1.0_{split}.jsonl"));
        std::fs::write(&path, SNLI_1_0).unwrap();
        path
    };
    let table = Table {
        format: TableFormat::Jsonl,
        split: SplitRule::Files {
            train: file("train"),
            valid: file("dev"),
            test: file("test"),
        },
        texts: texts(["sentence1", "sentence2"]),
        label: nli_labels("gold_label", &["-"]),
        tokenize: Tokenize { lowercase: true },
        embeddings: Embeddings::Random { dim: 4 },
    };
    let examples = read_examples(&table).unwrap();
    // The `-` record (line 2) is dropped.
    assert_eq!(
        examples.train.iter().map(|e| e.line).collect::<Vec<_>>(),
        [1, 3]
    );
    assert_eq!(label_counts(&examples.valid), [1, 1, 0]);
    assert_eq!(
        examples.test[1].texts[1],
        ["a", "person", "is", "outdoors", ",", "on", "a", "horse", "."]
    );

    let data = load::<f64>(&table).unwrap();
    let premise = &data.train.texts[0];
    assert_eq!(premise.name, "premise");
    assert_eq!(premise.lengths, [12, 12]);
    let hypothesis = &data.train.texts[1];
    assert_eq!(hypothesis.lengths, [10, 9]);
    assert_eq!(hypothesis.tokens.shape(), [2, 10]);
    assert_eq!(hypothesis.tokens[[1, 9]], 0.0, "padding");
    let word = |id: f64| data.vocabulary.words[id as usize].as_str();
    assert_eq!(word(hypothesis.tokens[[1, 3]]), "outdoors");
    assert_eq!(data.train.labels.as_slice().unwrap(), [1.0, 0.0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn valid_and_test_words_without_vectors_are_unknown() {
    let dir = scratch("unk");
    let path = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    // Labels in any case, and as integers.
    let train = path(
        "train.jsonl",
        "{\"a\": \"Cats sleep\", \"y\": \"YES\"}\n\n{\"a\": \"dogs bark.\", \"y\": 0}\n",
    );
    let other = path(
        "other.jsonl",
        "{\"a\": \"cats bark loudly\", \"y\": \"yes\"}\n",
    );
    let table = Table {
        format: TableFormat::Jsonl,
        split: SplitRule::Files {
            train,
            valid: other.clone(),
            test: other,
        },
        texts: vec![TextField {
            name: "s".into(),
            column: "a".into(),
        }],
        label: LabelField {
            column: "y".into(),
            names: vec!["0".into(), "yes".into()],
            skip: vec![],
        },
        tokenize: Tokenize { lowercase: true },
        embeddings: Embeddings::Random { dim: 3 },
    };
    let data = load::<f32>(&table).unwrap();
    assert_eq!(
        data.vocabulary.words,
        ["<pad>", "<unk>", "cats", "sleep", "dogs", "bark", "."]
    );
    assert_eq!(data.train.labels.as_slice().unwrap(), [1.0, 0.0]);
    let ids: Vec<f32> = data.valid.texts[0].tokens.iter().copied().collect();
    assert_eq!(ids, [2.0, 5.0, 1.0], "`loudly` is unknown");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A one-file table, JSON Lines or TSV by the file's extension: texts
/// `s1`, `s2`; label `y`; split column `part` with values `tr`, `va`, `te`.
fn one_file(file: PathBuf, lowercase: bool) -> Table {
    let tsv = file.extension().is_some_and(|e| e == "tsv");
    Table {
        format: if tsv {
            TableFormat::Tsv
        } else {
            TableFormat::Jsonl
        },
        split: SplitRule::Column {
            file,
            column: "part".into(),
            train: "tr".into(),
            valid: "va".into(),
            test: "te".into(),
        },
        texts: texts(["s1", "s2"]),
        label: nli_labels("y", &["-"]),
        tokenize: Tokenize { lowercase },
        embeddings: Embeddings::Random { dim: 2 },
    }
}

/// The error, shown, of reading a [`one_file`] table whose file holds
/// `text`; `tsv` picks the format.
fn error_of(name: &str, text: &str, tsv: bool) -> String {
    let dir = scratch(name);
    let file = dir.join(if tsv { "data.tsv" } else { "data.jsonl" });
    std::fs::write(&file, text).unwrap();
    let message = read_examples(&one_file(file, true))
        .unwrap_err()
        .to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    message
}

const GOOD_JSON: &str = concat!(
    "{\"s1\": \"A b.\", \"s2\": \"C d\", \"y\": \"neutral\", \"part\": \"tr\"}\n",
    "{\"s1\": \"A b.\", \"s2\": \"C d\", \"y\": \"neutral\", \"part\": \"va\"}\n",
    "{\"s1\": \"A b.\", \"s2\": \"C d\", \"y\": \"neutral\", \"part\": \"te\"}\n",
);

/// `GOOD_JSON` with `line` added as its fourth line.
fn json_with(line: &str) -> String {
    format!("{GOOD_JSON}{line}\n")
}

/// The error of [`error_of`] for `GOOD_JSON` with a fourth line.
fn json_error(name: &str, fourth_line: &str) -> String {
    error_of(name, &json_with(fourth_line), false)
}

const TSV_HEADER: &str = "id\ts1\ts2\ty\tpart\n";

fn assert_says(message: &str, parts: &[&str]) {
    for p in parts {
        assert!(message.contains(p), "`{p}` missing from: {message}");
    }
}

#[test]
fn well_formed_files_read_in_both_formats() {
    let tsv = format!("{TSV_HEADER}1\tA b.\tC d\tNEUTRAL\tTR\n2\tA\tB\tneutral\tva\n3\tA\tB\t-\tte\n\r\n4\tA\tB\tcontradiction\tte\n");
    let dir = scratch("good");
    let file = dir.join("data.tsv");
    std::fs::write(&file, tsv).unwrap();
    let table = one_file(file, false);
    let examples = read_examples(&table).unwrap();
    assert_eq!(
        examples.train[0].texts,
        [vec!["A", "b", "."], vec!["C", "d"]]
    );
    assert_eq!(examples.test.len(), 1);
    assert_eq!((examples.test[0].line, examples.test[0].label), (6, 2));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_file_is_named() {
    let dir = scratch("missing");
    let mut table = snli(Embeddings::Random { dim: 2 });
    table.split = SplitRule::Files {
        train: dir.join("nope.jsonl"),
        valid: dir.join("nope.jsonl"),
        test: dir.join("nope.jsonl"),
    };
    let m = read_examples(&table).unwrap_err().to_string();
    assert_says(&m, &["nope.jsonl: cannot read the file"]);
}

#[test]
fn invalid_json_gives_the_line_and_column() {
    let m = json_error("json", r#"{"s1": "a", "s2" "b"}"#);
    assert_says(
        &m,
        &["data.jsonl:4: invalid JSON at column 18: expected `:`"],
    );
    let m = json_error("array", "[1, 2]");
    assert_says(
        &m,
        &["data.jsonl:4: a record must be a JSON object, not an array"],
    );
}

#[test]
fn a_missing_field_is_named() {
    let m = json_error("field", r#"{"s1": "a", "y": "neutral", "part": "tr"}"#);
    assert_says(&m, &["data.jsonl:4: field `s2`: missing from the record"]);
}

#[test]
fn a_field_of_the_wrong_type_is_named() {
    let m = json_error(
        "type",
        r#"{"s1": "a", "s2": 3, "y": "neutral", "part": "tr"}"#,
    );
    assert_says(
        &m,
        &["data.jsonl:4: field `s2`: expected a string, found an integer"],
    );
    let m = json_error(
        "label-type",
        r#"{"s1": "a", "s2": "b", "y": 1.5, "part": "tr"}"#,
    );
    assert_says(
        &m,
        &["field `y`: expected a string or an integer, found a fractional number"],
    );
}

#[test]
fn an_unknown_label_lists_the_known_ones() {
    let m = json_error(
        "label",
        r#"{"s1": "a", "s2": "b", "y": "maybe", "part": "tr"}"#,
    );
    assert_says(&m, &[
        "data.jsonl:4: field `y`: unknown label `maybe`; the known labels are entailment, neutral, contradiction (skipped: -)",
    ]);
}

#[test]
fn an_empty_sentence_is_refused_unless_its_label_is_skipped() {
    let m = json_error(
        "empty",
        r#"{"s1": "a", "s2": " ", "y": "neutral", "part": "tr"}"#,
    );
    assert_says(&m, &["data.jsonl:4: field `s2`: no tokens in the text ` `"]);
    let skipped = json_with(r#"{"s1": "a", "s2": "", "y": "-", "part": "tr"}"#);
    let m = error_of("empty-skipped", &format!("{skipped}{{}}"), false);
    assert_says(&m, &["data.jsonl:5: field `s1`: missing"]);
}

#[test]
fn a_ragged_tsv_row_is_refused() {
    let tsv = format!("{TSV_HEADER}1\ta\tb\tneutral\ttr\n2\ta\tb\tneutral\n");
    let m = error_of("ragged", &tsv, true);
    assert_says(
        &m,
        &["data.tsv:3: 4 tab-separated columns, but the header has 5"],
    );
}

#[test]
fn a_column_missing_from_the_header_is_named() {
    let m = error_of("header", "id\ts1\ty\tpart\n1\ta\tneutral\ttr\n", true);
    assert_says(
        &m,
        &["data.tsv:1: field `s2`: no such column; the header has id, s1, y, part"],
    );
}

#[test]
fn a_split_value_outside_the_three_is_refused() {
    let tsv = format!("{TSV_HEADER}1\ta\tb\tneutral\tdev\n");
    let m = error_of("split", &tsv, true);
    assert_says(&m, &[
        "data.tsv:2: field `part`: `dev` is none of the split values `tr` (train), `va` (valid), `te` (test)",
    ]);
}

#[test]
fn an_empty_split_is_refused() {
    let tsv = format!("{TSV_HEADER}1\ta\tb\tneutral\ttr\n2\ta\tb\tneutral\tte\n3\ta\tb\t-\tva\n");
    let m = error_of("no-valid", &tsv, true);
    assert_says(
        &m,
        &["data.tsv: field `part`: no valid records: no record with a class label has `va` here"],
    );
    // A holdout too small to hold anything out.
    let dir = scratch("holdout");
    let file = dir.join("two.jsonl");
    std::fs::write(
        &file,
        "{\"premise\": \"a\", \"hypothesis\": \"b\", \"label\": \"neutral\"}\n".repeat(2),
    )
    .unwrap();
    let mut table = snli(Embeddings::Random { dim: 2 });
    table.split = SplitRule::Holdout {
        file: file.clone(),
        fraction: 0.1,
        seed: 1,
        test: file,
    };
    let m = read_examples(&table).unwrap_err().to_string();
    assert_says(
        &m,
        &["two.jsonl: no valid records: round(0.1 × 2 records) = 0 held out"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_configuration_that_cannot_work_is_refused_before_reading() {
    let mut table = snli(Embeddings::Random { dim: 2 });
    table.label.names.push("Neutral".into());
    table.split = SplitRule::Holdout {
        file: "unread".into(),
        fraction: 1.0,
        seed: 1,
        test: "unread".into(),
    };
    let m = read_examples(&table).unwrap_err().to_string();
    assert_says(
        &m,
        &[
            "the label `neutral` is named twice",
            "strictly between 0 and 1",
        ],
    );
}

#[test]
fn text_that_is_not_utf8_gives_its_line() {
    let dir = scratch("utf8");
    let file = dir.join("bad.jsonl");
    std::fs::write(&file, b"{}\n{\"s1\": \"\xff\"}\n").unwrap();
    let mut table = snli(Embeddings::Random { dim: 2 });
    table.split = SplitRule::Files {
        train: file.clone(),
        valid: file.clone(),
        test: file,
    };
    let m = read_examples(&table).unwrap_err().to_string();
    assert_says(&m, &["bad.jsonl:2: not UTF-8 text"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// [`read_queries`] on a [`one_file`] table whose file holds `text`.
fn queries_of(name: &str, text: &str, tsv: bool) -> Result<Vec<Query>, String> {
    let dir = scratch(name);
    let file = dir.join(if tsv { "data.tsv" } else { "data.jsonl" });
    std::fs::write(&file, text).unwrap();
    let got = read_queries(&one_file(file.clone(), true), &file).map_err(|e| e.to_string());
    std::fs::remove_dir_all(&dir).unwrap();
    got
}

#[test]
fn records_to_classify_need_no_label_and_no_split() {
    // TSV without the label column: no gold classes, no split read.
    let q = queries_of("q-tsv", "s1\ts2\nA b.\tC\n", true).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].raw, ["A b.", "C"]);
    assert_eq!(q[0].texts, [vec!["a", "b", "."], vec!["c"]]);
    assert_eq!((q[0].line, q[0].gold), (2, None));
    // JSON: an absent or null label, a skipped one, a class.
    let json = "{\"s1\": \"a\", \"s2\": \"b\"}\n{\"s1\": \"a\", \"s2\": \"b\", \"y\": null}\n\
                {\"s1\": \"a\", \"s2\": \"b\", \"y\": \"-\"}\n{\"s1\": \"a\", \"s2\": \"b\", \"y\": \"Neutral\"}\n";
    let gold: Vec<_> = queries_of("q-json", json, false)
        .unwrap()
        .iter()
        .map(|q| q.gold)
        .collect();
    assert_eq!(gold, [None, None, None, Some(1)]);
}

#[test]
fn records_to_classify_are_checked_like_training_records() {
    let bad = [
        (
            "{\"s1\": \"a\", \"s2\": \"\"}",
            false,
            ["data.jsonl:1", "field `s2`", "no tokens"],
        ),
        (
            "{\"s1\": \"a\", \"s2\": \"b\", \"y\": \"maybe\"}",
            false,
            ["data.jsonl:1", "field `y`", "maybe"],
        ),
        (
            "{\"s1\": \"a\", \"s2\": \"b\", \"y\": 1.5}",
            false,
            ["data.jsonl:1", "field `y`", "fractional"],
        ),
        (
            "{\"s1\": \"a\"}",
            false,
            ["data.jsonl:1", "field `s2`", "missing"],
        ),
        (
            "s1\ts2\na\tb\tc",
            true,
            ["data.tsv:2", "3 tab-separated", "has 2"],
        ),
        (
            "s1\ty\na\tneutral",
            true,
            ["data.tsv:1", "field `s2`", "no such column"],
        ),
        ("", false, ["data.jsonl", "no records", ""]),
    ];
    for (i, (text, tsv, says)) in bad.into_iter().enumerate() {
        let message = queries_of(&format!("q-bad-{i}"), text, tsv).unwrap_err();
        assert_says(&message, &says);
    }
}
