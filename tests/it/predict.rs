//! `lsmc eval` and `lsmc predict` on a trained tree model: the run is
//! reloaded from its directory (relative data paths included, from any
//! working directory), scores the same as training measured, and shows
//! trees that are valid CoNLL-U and SVG.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn lsmc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lsmc"))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lsmc-predict-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A tiny tree model trained once for every test: its spec names the data
/// by a path relative to the spec, and it was trained from the spec's own
/// directory.
fn trained() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = scratch("run");
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny_sst");
        let up = "../".repeat(dir.components().count() - 1);
        let rel = format!("{up}{}", data.display().to_string().trim_start_matches('/'));
        std::fs::write(
            dir.join("tiny.lsm"),
            format!(
                "model tiny_trees\n\
                 data sst(path = \"{rel}\", labels = binary, embeddings = random(dim = 6))\n\
                 encoder {{\n  e = embed(tokens, embeddings)\n  h = bilstm(e, 8)\n  s = arc_scores(h, 8)\n}}\n\
                 latent z : dependency_tree(projective) = argmax(s) via spigot(eta = 1.0)\n\
                 decoder {{\n  r = concat(h, heads(z, h))\n  y_hat = linear(attention_pool(r), 2)\n}}\n\
                 loss cross_entropy(y_hat, y)\n\
                 train {{\n  optimizer adamw(lr = 0.05)\n  batch 4\n  epochs 12\n  evaluate every 3 epochs on valid, test\n  metric accuracy(y_hat, y)\n}}\n"
            ),
        )
        .unwrap();
        let o = lsmc()
            .current_dir(&dir)
            .args(["train", "tiny.lsm", "--out", "run", "--threads", "1"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        dir.join("run")
    })
}

/// Runs lsmc from the filesystem root, far from the spec and its data.
fn from_elsewhere(args: &[&str]) -> Output {
    lsmc().current_dir("/").args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn eval_reproduces_the_best_and_final_evaluations_of_training() {
    let run = trained().to_str().unwrap();
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(trained().join("summary.json")).unwrap())
            .unwrap();
    for at in ["best", "final"] {
        let v: Value = serde_json::from_str(&stdout(&from_elsewhere(&[
            "eval", run, "--at", at, "--json",
        ])))
        .unwrap();
        assert_eq!(v["step"], summary[at]["step"], "{at}");
        for split in ["valid", "test"] {
            for metric in ["accuracy", "loss", "tree_depth", "flat_trees", "arc_length"] {
                let (got, want) = (
                    v["results"][split][metric].as_f64().unwrap(),
                    summary[at][split][metric].as_f64().unwrap(),
                );
                assert!(
                    (got - want).abs() < 1e-12,
                    "{at} {split} {metric}: {got} vs {want}"
                );
            }
        }
    }
    // `lsmc report` tabulates the tree statistics like any metric.
    let o = from_elsewhere(&[
        "report",
        run,
        "--metrics",
        "tree_depth,flat_trees,arc_length",
        "--format",
        "json",
    ]);
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    for metric in ["tree_depth", "flat_trees", "arc_length"] {
        let got = r["rows"][0]["metrics"][metric]["median"].as_f64().unwrap();
        let want = summary["best"]["test"][metric].as_f64().unwrap();
        assert!((got - want).abs() < 1e-12, "{metric}: {got} vs {want}");
    }
    // Any split, as a table.
    let table = stdout(&from_elsewhere(&["eval", run, "--split", "train"]));
    assert!(
        table.contains("train") && table.contains("accuracy"),
        "{table}"
    );
}

#[test]
fn predict_draws_the_tree_of_a_typed_sentence_in_the_terminal() {
    let input = scratch("typed").join("in.txt");
    std::fs::write(&input, "so awful ( really ) .\n").unwrap();
    let out = stdout(&from_elsewhere(&[
        "predict",
        trained().to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]));
    assert!(out.starts_with("#1 "), "{out}");
    assert!(out.contains("root") && out.contains('▼'), "{out}");
    // One arrowhead per word: every word has exactly one head.
    let arrows: usize = out.matches('▼').count();
    assert_eq!(arrows, 6, "{out}");
    assert!(out.contains("so awful ( really ) ."), "{out}");
}

/// An independent reading of CoNLL-U: ten tab-separated columns, ids
/// 1..n, heads within the sentence, one root, no cycles.
fn assert_valid_conllu(text: &str) -> usize {
    assert!(text.ends_with("\n\n"), "sentences end with a blank line");
    let mut sentences = 0;
    for block in text.split("\n\n").filter(|b| !b.is_empty()) {
        let mut heads = Vec::new();
        for line in block.lines() {
            if line.starts_with('#') {
                assert!(line.contains(" = "), "comment `{line}`");
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 10, "`{line}`");
            assert_eq!(
                cols[0].parse::<usize>().unwrap(),
                heads.len() + 1,
                "ids run 1..n"
            );
            assert!(!cols[1].is_empty() && !cols[1].contains('\t'));
            let head: usize = cols[6].parse().unwrap();
            assert_eq!(cols[7] == "root", head == 0, "`{line}`");
            heads.push(head);
        }
        let n = heads.len();
        assert!(n > 0);
        assert!(heads.iter().all(|&h| h <= n));
        assert_eq!(
            heads.iter().filter(|&&h| h == 0).count(),
            1,
            "one root:\n{block}"
        );
        for start in 1..=n {
            let (mut at, mut steps) = (start, 0);
            while at != 0 {
                at = heads[at - 1];
                steps += 1;
                assert!(steps <= n, "cycle through word {start}:\n{block}");
            }
        }
        sentences += 1;
    }
    sentences
}

#[test]
fn predict_writes_valid_conllu_for_a_split() {
    let out = stdout(&from_elsewhere(&[
        "predict",
        trained().to_str().unwrap(),
        "--split",
        "test",
        "--format",
        "conllu",
    ]));
    // tests/data/tiny_sst/test.txt: 3 lines, the neutral one dropped.
    assert_eq!(assert_valid_conllu(&out), 2, "{out}");
    assert!(out.contains("# gold = "), "{out}");
}

#[test]
fn predict_draws_an_svg_with_one_arc_per_word() {
    let dir = scratch("svg");
    let file = dir.join("trees.svg");
    let input = dir.join("in.txt");
    // A bracketed line gives its gold label; a plain one does not.
    std::fs::write(&input, "(4 (3 (2 I) (4 loved)) (2 it))\nawful film\n").unwrap();
    stdout(&from_elsewhere(&[
        "predict",
        trained().to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--format",
        "svg",
        "--out",
        file.to_str().unwrap(),
    ]));
    let svg = std::fs::read_to_string(&file).unwrap();
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches(r#"class="word""#).count(), 5);
    // Two sentences, each with one root line; the other words get a curve:
    // one arc into every word.
    assert_eq!(svg.matches(r#"class="arc""#).count(), 5);
    assert_eq!(svg.matches("<line ").count(), 2);
    assert!(svg.contains("gold positive"), "the bracketed line's label");
    let json = stdout(&from_elsewhere(&[
        "predict",
        trained().to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--format",
        "json",
    ]));
    let lines: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["heads"].as_array().unwrap().len(), 3);
    let p: f64 = lines[1]["probabilities"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((p - 1.0).abs() < 1e-6);
}

#[test]
fn broken_runs_and_inputs_are_refused_with_the_file_named() {
    let dir = scratch("broken");
    // Not a run directory.
    let o = from_elsewhere(&["eval", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("run.json"));
    // A corrupt best.bin in a copy of the run.
    let copy = dir.join("run");
    std::fs::create_dir_all(&copy).unwrap();
    for f in ["run.json", "spec.lsm", "best.bin", "checkpoint.bin"] {
        std::fs::copy(trained().join(f), copy.join(f)).unwrap();
    }
    let mut bytes = std::fs::read(copy.join("best.bin")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(copy.join("best.bin"), bytes).unwrap();
    let o = from_elsewhere(&["predict", copy.to_str().unwrap(), "--split", "test"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("best.bin") && err.contains("checksum"),
        "{err}"
    );
    // The final parameters are still usable.
    stdout(&from_elsewhere(&[
        "predict",
        copy.to_str().unwrap(),
        "--split",
        "test",
        "--at",
        "final",
    ]));
    // A malformed bracketed line is located.
    let input = dir.join("bad.txt");
    std::fs::write(&input, "good film\n(3 (2 a) (3 b)\n").unwrap();
    let o = from_elsewhere(&[
        "predict",
        trained().to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]);
    // Malformed input is a diagnostic (status 1), a missing file an I/O
    // error (status 2), as for `lsmc infer`.
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.txt:2:"), "{err}");
    let missing = dir.join("missing.txt");
    let o = from_elsewhere(&[
        "predict",
        trained().to_str().unwrap(),
        "--input",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.txt"));
}
