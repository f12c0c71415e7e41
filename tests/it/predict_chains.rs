//! `lsmc predict` on tiny SST models with a sequence latent and with a
//! constituency latent (both relaxed, `marg`): tags sit under their words
//! in the terminal and agree across JSON, CoNLL-U (XPOS) and SVG; a
//! bracketing is a binary tree over the words whose bracketed string,
//! span list, drawing, `# tree =` comment and SVG brackets all agree, and
//! whose span weights are marginals.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The sentence every test classifies: six words, brackets among them.
const SENTENCE: &str = "so awful ( really ) .";
const WORDS: [&str; 6] = ["so", "awful", "(", "really", ")", "."];

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
    let d = std::env::temp_dir().join(format!("lsmc-predict-chains-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch directory");
    d
}

/// A run of a small model over tests/data/tiny_sst whose encoder ends in
/// `scores` and whose latent line is `latent`, trained for two steps.
fn train(name: &str, scores: &str, latent: &str, decoded: &str) -> PathBuf {
    let dir = scratch(name);
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny_sst");
    let spec = format!(
        "model {name}\n\
         data sst(path = \"{}\", labels = binary, embeddings = random(dim = 6))\n\
         encoder {{\n  e = embed(tokens, embeddings)\n  h = bilstm(e, 8)\n  s = {scores}\n}}\n\
         latent z : {latent}\n\
         decoder {{\n  y_hat = linear(attention_pool(concat(h, {decoded})), 2)\n}}\n\
         loss cross_entropy(y_hat, y)\n\
         train {{\n  optimizer adamw(lr = 0.05)\n  batch 4\n  epochs 2\n  evaluate every 1 epochs on valid\n  metric accuracy(y_hat, y)\n}}\n",
        data.display()
    );
    std::fs::write(dir.join("spec.lsm"), spec).unwrap();
    let (spec, run) = (dir.join("spec.lsm"), dir.join("run"));
    stdout(&lsmc(&[
        "train",
        spec.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--threads",
        "1",
        "--set",
        "train.steps=2",
    ]));
    run
}

fn tagged() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        train(
            "tags",
            "chain_scores(h, 3)",
            "sequence(3) = marg(s)",
            "tags(z)",
        )
    })
}

fn bracketed() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        train(
            "spans",
            "matmul(linear(h, 4), transpose(linear(h, 4)))",
            "constituency_tree() = marg(s)",
            "matmul(z, h)",
        )
    })
}

/// `lsmc predict RUN` on [`SENTENCE`] in `format`.
fn predict(run: &Path, format: &str) -> String {
    // Each run and format has its own files: the tests run in parallel.
    let model = run.parent().unwrap().file_name().unwrap().to_string_lossy();
    let dir = scratch(&format!("{model}-in-{format}"));
    let input = dir.join("in.txt");
    std::fs::write(&input, format!("{SENTENCE}\n")).unwrap();
    let svg = dir.join("out.svg");
    let mut args = vec![
        "predict",
        run.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--threads",
        "1",
        "--format",
        format,
    ];
    if format == "svg" {
        args.extend(["--out", svg.to_str().unwrap()]);
        stdout(&lsmc(&args));
        return std::fs::read_to_string(svg).unwrap();
    }
    stdout(&lsmc(&args))
}

fn json(run: &Path) -> Value {
    let out = predict(run, "json");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    serde_json::from_str(lines[0]).unwrap()
}

/// The word lines of CoNLL-U output, split into their ten columns.
fn conllu_words(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<String> = l.split('\t').map(str::to_string).collect();
            assert_eq!(cols.len(), 10, "`{l}`");
            cols
        })
        .collect()
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn indices(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// The character columns at which each whitespace-separated cell of a
/// line starts.
fn cell_starts(line: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cell: Option<(usize, String)> = None;
    for (col, ch) in line.chars().enumerate() {
        if ch == ' ' {
            out.extend(cell.take());
        } else {
            cell.get_or_insert((col, String::new())).1.push(ch);
        }
    }
    out.extend(cell);
    out
}

#[test]
fn tags_agree_across_json_conllu_svg_and_sit_under_their_words() {
    let run = tagged();
    let v = json(run);
    let z = &v["tags"]["z"];
    let tags = indices(&z["tags"]);
    let weights = numbers(&z["weights"]);
    let table: Vec<Vec<f64>> = z["tag_weights"]
        .as_array()
        .expect("a relaxed latent gives every tag's weight")
        .iter()
        .map(numbers)
        .collect();
    assert_eq!((tags.len(), weights.len(), table.len()), (6, 6, 6), "{v}");
    for (i, row) in table.iter().enumerate() {
        // Tag marginals: three tags, a distribution per word, and the
        // shown tag's weight is its entry.
        assert_eq!(row.len(), 3);
        assert!(
            row.iter().all(|&w| (0.0..=1.0 + 1e-6).contains(&w)),
            "{row:?}"
        );
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{row:?}");
        assert_eq!(weights[i], row[tags[i]]);
    }
    assert!(v["heads"].is_null() && v["brackets"].is_null());

    // The terminal: the words, then each tag starting where its word does,
    // then each weight as a percentage likewise.
    let text = predict(run, "text");
    let lines: Vec<&str> = text.lines().collect();
    // The text itself comes first; the table's words are the last line of them.
    let at = lines
        .iter()
        .rposition(|l| cell_starts(l).iter().map(|c| c.1.as_str()).eq(WORDS))
        .unwrap_or_else(|| panic!("a line of the words in columns:\n{text}"));
    let words = cell_starts(lines[at]);
    let tag_cells = cell_starts(lines[at + 1]);
    let percent_cells = cell_starts(lines[at + 2]);
    for i in 0..6 {
        assert_eq!(
            tag_cells[i],
            (words[i].0, format!("t{}", tags[i])),
            "{text}"
        );
        let shown = format!("{:.0}%", weights[i] * 100.0);
        assert_eq!(percent_cells[i], (words[i].0, shown), "{text}");
    }
    assert!(text.contains("--format json"), "{text}");

    // CoNLL-U: the tag in XPOS, its weight in MISC when below 1.
    let conllu = predict(run, "conllu");
    let rows = conllu_words(&conllu);
    assert_eq!(rows.len(), 6, "{conllu}");
    for (i, cols) in rows.iter().enumerate() {
        assert_eq!(cols[1], WORDS[i]);
        assert_eq!(cols[4], format!("t{}", tags[i]), "{conllu}");
        if weights[i] < 0.995 {
            assert_eq!(cols[9], format!("TagWeight={:.4}", weights[i]));
        }
    }

    // SVG: a tag under every word.
    let svg = predict(run, "svg");
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches(r#"class="word""#).count(), 6);
    assert_eq!(svg.matches(r#"class="tag""#).count(), 6);
    for t in &tags {
        assert!(svg.contains(&format!(">t{t}</text>")), "{svg}");
    }
}

/// The spans of a bracketed string, read independently of lsmc: each
/// parenthesised group and each word, as `(first word, last word)`.
fn spans_of_bracketed(s: &str) -> BTreeSet<(usize, usize)> {
    let (mut spans, mut open, mut word) = (BTreeSet::new(), Vec::new(), 0);
    for token in s.split(' ') {
        let opens = token.chars().take_while(|&c| c == '(').count();
        let closes = token.chars().rev().take_while(|&c| c == ')').count();
        open.extend(std::iter::repeat_n(word, opens));
        spans.insert((word, word));
        for _ in 0..closes {
            spans.insert((open.pop().expect("balanced brackets"), word));
        }
        word += 1;
    }
    assert!(open.is_empty(), "balanced brackets: {s}");
    spans
}

#[test]
fn a_bracketing_agrees_across_its_string_spans_drawing_conllu_and_svg() {
    let run = bracketed();
    let v = json(run);
    let z = &v["brackets"]["z"];
    let bracketed = z["bracketed"].as_str().unwrap().to_string();
    let spans: Vec<(usize, usize)> = z["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let p = indices(p);
            (p[0], p[1])
        })
        .collect();
    let weights = numbers(&z["weights"]);
    let n = WORDS.len();
    assert_eq!((spans.len(), weights.len()), (2 * n - 1, 2 * n - 1), "{v}");
    // A binary tree: the whole and every word are spans, and every span of
    // two or more words splits into exactly one pair of spans.
    let set: BTreeSet<(usize, usize)> = spans.iter().copied().collect();
    assert_eq!(set.len(), spans.len(), "no span twice: {spans:?}");
    assert!(set.contains(&(0, n - 1)) && (0..n).all(|i| set.contains(&(i, i))));
    for &(i, j) in set.iter().filter(|(i, j)| i < j) {
        let splits = (i..j)
            .filter(|&k| set.contains(&(i, k)) && set.contains(&(k + 1, j)))
            .count();
        assert_eq!(splits, 1, "span {i}..={j} of {spans:?}");
    }
    // The string names the same spans, brackets in words escaped.
    assert_eq!(spans_of_bracketed(&bracketed), set, "{bracketed}");
    assert!(bracketed.contains("-LRB-") && bracketed.contains("-RRB-"));
    // Marginals: every tree holds the whole and each word, so those
    // weigh 1; every weight is a probability.
    for (&(i, j), &w) in spans.iter().zip(&weights) {
        assert!((-1e-6..=1.0 + 1e-6).contains(&w), "{w}");
        if i == j || (i, j) == (0, n - 1) {
            assert!((w - 1.0).abs() < 1e-4, "span {i}..={j} weighs {w}");
        }
    }

    // The terminal: the bracketed string, the words, and one `└…┬…┘` per
    // span of two or more words.
    let text = predict(run, "text");
    assert!(text.contains(&format!("  {bracketed}\n")), "{text}");
    assert!(text.contains(&format!("  {}\n", WORDS.join(" "))), "{text}");
    for glyph in ['└', '┬', '┘'] {
        assert_eq!(text.matches(glyph).count(), n - 1, "{glyph}:\n{text}");
    }

    // CoNLL-U: the bracketing as a comment over a flat sentence.
    let conllu = predict(run, "conllu");
    assert!(
        conllu.contains(&format!("# tree = {bracketed}\n")),
        "{conllu}"
    );
    assert_eq!(conllu_words(&conllu).len(), n);

    // SVG: one bracket per span of two or more words.
    let svg = predict(run, "svg");
    assert_eq!(svg.matches(r#"class="bracket""#).count(), n - 1, "{svg}");
    assert_eq!(svg.matches(r#"class="word""#).count(), n);
}
