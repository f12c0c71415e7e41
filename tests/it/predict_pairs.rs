//! `lsmc predict` and `lsmc eval` on a sentence-pair model with a latent
//! tree per sentence and attention between them: every example shows both
//! trees, each over its own sentence, and the attention matrices with the
//! right words on each axis; the classes agree with `lsmc eval`; new pairs
//! come in the data's own format, the label optional; bad records are
//! refused at their file and line.

use crate::pair_data::{snli_data, snli_format};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn lsmc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .args(args)
        .output()
        .expect("lsmc runs")
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).expect("UTF-8")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lsmc-predict-pairs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch directory");
    d
}

/// A small decomposable-attention model with a tree on each sentence (one
/// relaxed, one MAP with SPIGOT), trained once for every test.
fn trained() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = scratch("run");
        std::fs::write(dir.join("train.jsonl"), snli_format(60)).unwrap();
        let data = snli_data("holdout(0.2, seed = 1, test = \"train.jsonl\")");
        let spec = format!(
            "model pair_trees\n\
             data {data}\n\
             encoder {{\n  layer F = feed_forward(hidden = 6)\n  fa = F(embed(premise, embeddings))\n  fb = F(embed(hypothesis, embeddings))\n  \
             layer P = arc_scores(hidden = 6)\n  sa = P(fa)\n  sb = P(fb)\n}}\n\
             latent za : dependency_tree(projective) = marg(sa)\n\
             latent zb : dependency_tree(nonprojective) = argmax(sb) via spigot(eta = 1)\n\
             decoder {{\n  ra = concat(fa, heads(za, fa))\n  rb = concat(fb, heads(zb, fb))\n  e = matmul(ra, transpose(rb))\n  \
             beta = attend(e, fb)\n  alpha = attend(transpose(e), fa)\n  \
             v = concat(sum_pool(concat(fa, beta)), sum_pool(concat(fb, alpha)))\n  y_hat = linear(v, 3)\n}}\n\
             loss cross_entropy(y_hat, y)\n\
             train {{\n  optimizer adam(lr = 1e-2)\n  batch 8\n  epochs 2\n  evaluate every 1 epochs on valid, test\n  metric accuracy(y_hat, y)\n}}\n"
        );
        std::fs::write(dir.join("pairs.lsm"), spec).unwrap();
        let run = dir.join("run");
        let spec = dir.join("pairs.lsm");
        stdout(&lsmc(&[
            "train",
            spec.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
            "--threads",
            "1",
        ]));
        run
    })
}

fn predict(args: &[&str]) -> Output {
    let run = trained().to_str().unwrap();
    lsmc(&[&["predict", run, "--threads", "1"], args].concat())
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect()
}

/// `heads` is a tree over `n` words: one head per word, exactly one word
/// on the root, and every word reaches the root without a cycle.
fn assert_tree(heads: &[usize], n: usize) {
    assert_eq!(heads.len(), n, "{heads:?}");
    assert_eq!(heads.iter().filter(|&&h| h == 0).count(), 1, "{heads:?}");
    for m in 1..=n {
        let mut at = m;
        for _ in 0..=n {
            if at == 0 {
                break;
            }
            at = heads[at - 1];
        }
        assert_eq!(at, 0, "word {m} never reaches the root: {heads:?}");
    }
}

#[test]
fn each_pair_shows_a_tree_over_each_sentence_and_attention_between_their_words() {
    let out = stdout(&predict(&["--split", "test", "--format", "json"]));
    let lines = json_lines(&out);
    assert!(lines.len() > 40, "{}", lines.len());
    for v in &lines {
        let words = |t: &str| v["texts"][t]["tokens"].as_array().unwrap().len();
        let (n, m) = (words("premise"), words("hypothesis"));
        for (latent, text, len) in [("za", "premise", n), ("zb", "hypothesis", m)] {
            let tree = &v["trees"][latent];
            assert_eq!(tree["text"], text, "{v}");
            let heads: Vec<usize> = serde_json::from_value(tree["heads"].clone()).unwrap();
            assert_tree(&heads, len);
        }
        // The MAP latent's arcs carry all the weight; the marginals' less.
        let w: Vec<f64> = serde_json::from_value(v["trees"]["zb"]["weights"].clone()).unwrap();
        assert!(w.iter().all(|&x| x == 1.0), "{w:?}");
        for (name, rows, cols) in [("beta", n, m), ("alpha", m, n)] {
            let a = &v["alignments"][name];
            let weights: Vec<Vec<f64>> = serde_json::from_value(a["weights"].clone()).unwrap();
            assert_eq!(weights.len(), rows, "{name}: {v}");
            for row in &weights {
                assert_eq!(row.len(), cols, "{name}: {v}");
                assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-5, "{row:?}");
            }
        }
        assert_eq!(v["alignments"]["beta"]["rows"], "premise");
        assert_eq!(v["alignments"]["alpha"]["rows"], "hypothesis");
        let p: f64 = v["probabilities"]
            .as_object()
            .unwrap()
            .values()
            .map(|x| x.as_f64().unwrap())
            .sum();
        assert!((p - 1.0).abs() < 1e-5, "{v}");
    }
}

#[test]
fn predictions_on_a_split_score_what_eval_scores() {
    let run = trained().to_str().unwrap();
    let lines = json_lines(&stdout(&predict(&["--split", "test", "--format", "json"])));
    let right = lines
        .iter()
        .filter(|v| v["prediction"] == v["gold"])
        .count();
    let eval: Value = serde_json::from_str(&stdout(&lsmc(&[
        "eval",
        run,
        "--split",
        "test",
        "--json",
        "--threads",
        "1",
    ])))
    .unwrap();
    let accuracy = eval["results"]["test"]["accuracy"].as_f64().unwrap();
    assert!(
        (right as f64 / lines.len() as f64 - accuracy).abs() < 1e-9,
        "predict: {right}/{}, eval: {accuracy}",
        lines.len()
    );
}

#[test]
fn new_pairs_come_in_the_datas_format_with_or_without_a_label() {
    let dir = scratch("input");
    let file = dir.join("new.jsonl");
    std::fs::write(
        &file,
        "{\"sentence1\": \"A dog runs in the park.\", \"sentence2\": \"The dog sleeps\"}\n\
         {\"sentence1\": \"A man sleeps.\", \"sentence2\": \"A man isn't awake\", \"gold_label\": \"Contradiction\"}\n\
         {\"sentence1\": \"The park.\", \"sentence2\": \"A park\", \"gold_label\": \"-\"}\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let lines = json_lines(&stdout(&predict(&["--input", f, "--format", "json"])));
    let gold: Vec<&Value> = lines.iter().map(|v| &v["gold"]).collect();
    assert_eq!(
        gold,
        [&Value::Null, &Value::from("contradiction"), &Value::Null]
    );
    assert_eq!(
        lines[0]["texts"]["premise"]["text"],
        "A dog runs in the park."
    );
    let tokens = &lines[1]["texts"]["hypothesis"]["tokens"];
    assert_eq!(
        tokens,
        &serde_json::json!(["a", "man", "is", "n't", "awake"])
    );

    // The terminal names each text and draws each tree and matrix.
    let text = stdout(&predict(&["--input", f, "--limit", "1"]));
    for line in [
        "  premise: A dog runs in the park.",
        "  hypothesis: The dog sleeps",
        "  za (premise):",
        "  zb (hypothesis):",
        "  beta: each premise word's attention over the hypothesis (rows sum to 1), in %:",
        "  alpha: each hypothesis word's attention over the premise (rows sum to 1), in %:",
    ] {
        assert!(text.lines().any(|l| l == line), "{line}\n{text}");
    }
    assert!(text.contains("a dog runs in the park ."), "{text}");

    // SVG: a tree per sentence and a matrix per attention, per pair; a
    // cell per pair of words.
    let svg = dir.join("pairs.svg");
    stdout(&predict(&[
        "--input",
        f,
        "--format",
        "svg",
        "--out",
        svg.to_str().unwrap(),
    ]));
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches(" · za (premise)").count(), 3, "{svg}");
    assert_eq!(svg.matches(" · beta: ").count(), 3);
    let cells = 2 * (7 * 3 + 4 * 5 + 3 * 2);
    assert_eq!(svg.matches("class=\"cell\"").count(), cells);

    // CoNLL-U: a sentence block per tree, named by example and latent.
    let conllu = stdout(&predict(&["--input", f, "--format", "conllu"]));
    assert_eq!(conllu.matches("# sent_id = ").count(), 6);
    assert!(conllu.contains("# sent_id = 2-zb\n# text = A man isn't awake\n# input = hypothesis\n"));
}

#[test]
fn a_bad_record_to_classify_is_refused_at_its_line_and_field() {
    let dir = scratch("bad");
    for (record, says) in [
        (
            "{\"sentence1\": \"A dog.\", \"sentence2\": \"  \"}",
            "field `sentence2`",
        ),
        (
            "{\"sentence1\": \"A dog.\", \"sentence2\": \"A cat\", \"gold_label\": \"maybe\"}",
            "maybe",
        ),
        ("{\"sentence2\": \"A cat\"}", "field `sentence1`"),
        ("[1, 2]", "must be a JSON object"),
    ] {
        let file = dir.join("bad.jsonl");
        std::fs::write(
            &file,
            format!("{{\"sentence1\": \"A dog.\", \"sentence2\": \"A cat\"}}\n{record}\n"),
        )
        .unwrap();
        let o = predict(&["--input", file.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{record}: {err}");
        assert!(err.contains("bad.jsonl:2"), "{record}: {err}");
        assert!(err.contains(says), "{record}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_pair_too_long_for_any_machine_is_refused_with_its_estimate() {
    let dir = scratch("long");
    let file = dir.join("long.jsonl");
    // 200,000 words: Eq. 23's pair activations alone need terabytes.
    let premise = vec!["dog"; 200_000].join(" ");
    std::fs::write(
        &file,
        format!("{{\"sentence1\": \"{premise}\", \"sentence2\": \"a man\"}}\n"),
    )
    .unwrap();
    // Past the length limit first; lifted, memory refuses it.
    let o = predict(&["--input", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("long.jsonl: example 1")
            && err.contains("200000 words under the tree latent `za`"),
        "{err}"
    );
    let o = predict(&["--input", file.to_str().unwrap(), "--max-words", "200000"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("needs about") && err.contains("N = 200000") && err.contains("available"),
        "{err}"
    );
}

#[test]
fn a_text_longer_than_max_words_is_refused_by_name_and_runs_once_allowed() {
    let dir = scratch("max-words");
    let file = dir.join("two.jsonl");
    std::fs::write(
        &file,
        "{\"sentence1\": \"a man plays\", \"sentence2\": \"a man\"}\n\
         {\"sentence1\": \"a dog runs\", \"sentence2\": \"the small brown dog runs fast\"}\n",
    )
    .unwrap();
    let o = predict(&[
        "--input",
        file.to_str().unwrap(),
        "--max-words",
        "5",
        "--format",
        "json",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("two.jsonl: example 2 (its `hypothesis`) has 6 words under the tree latent `zb`, more than the limit of 5")
            && err.contains("--max-words 6"),
        "{err}"
    );
    let o = predict(&[
        "--input",
        file.to_str().unwrap(),
        "--max-words",
        "6",
        "--format",
        "json",
    ]);
    assert_eq!(json_lines(&stdout(&o)).len(), 2);
    // `lsmc eval` holds the run's own splits to the same limit.
    let run = trained().to_str().unwrap();
    let o = lsmc(&["eval", run, "--threads", "1", "--max-words", "2"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("more than the limit of 2"), "{err}");
}
