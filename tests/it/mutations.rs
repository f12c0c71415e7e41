//! Robustness: every spec in `models/` is mutated thousands of times
//! (tokens deleted, inserted or replaced, text truncated, lines duplicated,
//! junk `--set` flags added) and checked. The checker must never panic,
//! must always finish with a verdict (exit status 0 or 1), and every span
//! it reports must lie inside its file, on character boundaries, and render.
//!
//! `LSMC_MUTATION_CASES` sets the number of cases (default 4000).

use lsmc_compiler::{check_text, diag, Origin};
use lsmc_runtime::latent::registry::catalog;
use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Spec {
    path: PathBuf,
    text: String,
    /// Byte ranges of the spec's tokens (words, numbers, strings, punctuation, spaces).
    tokens: Vec<(usize, usize)>,
}

fn tokenize(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let class = |c: char| {
            if c.is_alphanumeric() || c == '_' || c == '.' {
                0
            } else if c.is_whitespace() {
                1
            } else {
                2
            }
        };
        let k = class(c);
        let mut end = i + c.len_utf8();
        if c == '"' {
            for (j, d) in chars.by_ref() {
                end = j + d.len_utf8();
                if d == '"' || d == '\n' {
                    break;
                }
            }
        } else if k != 2 {
            while let Some(&(j, d)) = chars.peek() {
                if class(d) != k {
                    break;
                }
                end = j + d.len_utf8();
                chars.next();
            }
        }
        out.push((i, end));
    }
    out
}

fn specs() -> &'static Vec<Spec> {
    static SPECS: OnceLock<Vec<Spec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
        let mut out = Vec::new();
        for dir in std::fs::read_dir(&root).expect("models/") {
            let dir = dir.expect("entry").path();
            if !dir.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&dir).expect("model dir") {
                let path = f.expect("entry").path();
                if path.extension().is_some_and(|e| e == "lsm") {
                    let text = std::fs::read_to_string(&path).expect("spec");
                    let tokens = tokenize(&text);
                    out.push(Spec { path, text, tokens });
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        assert!(!out.is_empty(), "no specs in models/");
        out
    })
}

/// Tokens to insert: every token the specs contain, plus junk that stresses
/// the lexer, the grammar and span arithmetic (multi-byte characters).
fn vocabulary() -> &'static Vec<String> {
    static VOCAB: OnceLock<Vec<String>> = OnceLock::new();
    VOCAB.get_or_init(|| {
        let mut v: Vec<String> = [
            "{",
            "}",
            "(",
            ")",
            "[",
            "]",
            "=",
            ",",
            ";",
            ":",
            "+",
            "-",
            "*",
            "/",
            "\"",
            "\"open",
            "1e",
            "1.",
            "0",
            "-1",
            "1e999",
            "0.0",
            "99999999999999999999",
            "é",
            "µ",
            "→",
            "😀",
            "\u{a0}",
            "@",
            "#",
            "\\",
            "via",
            "repeat",
            "return",
            "true",
            "false",
            "grad(z)",
            "project",
            "surrogate",
            "latent",
            "model",
            "data",
            "use \"x.lsm\"",
            "\n",
            "//",
            "argmax",
            "marg",
            "sample",
            "gumbel()",
            "steps",
            "epochs",
            "full",
            "heads(z, h)",
            "z",
            "s",
            "dependency_tree(nonprojective)",
            "categorical(0)",
            "repeat 3 {",
            "return s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for s in specs() {
            for &(a, b) in &s.tokens {
                let t = &s.text[a..b];
                if !v.iter().any(|x| x == t) {
                    v.push(t.to_string());
                }
            }
        }
        v
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Insert(usize, usize),
    Replace(usize, usize),
    Truncate(usize),
    DuplicateLine(usize),
}

fn apply(text: &str, m: &Mutation) -> String {
    let tokens = tokenize(text);
    if tokens.is_empty() {
        return text.to_string();
    }
    let vocab = vocabulary();
    match *m {
        Mutation::Delete(i) => {
            let (a, b) = tokens[i % tokens.len()];
            format!("{}{}", &text[..a], &text[b..])
        }
        Mutation::Insert(i, t) => {
            let (a, _) = tokens[i % tokens.len()];
            format!("{}{}{}", &text[..a], vocab[t % vocab.len()], &text[a..])
        }
        Mutation::Replace(i, t) => {
            let (a, b) = tokens[i % tokens.len()];
            format!("{}{}{}", &text[..a], vocab[t % vocab.len()], &text[b..])
        }
        Mutation::Truncate(i) => {
            let (a, _) = tokens[i % tokens.len()];
            text[..a].to_string()
        }
        Mutation::DuplicateLine(i) => {
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            let k = i % lines.len();
            let mut out: String = lines[..=k].concat();
            out.push_str(lines[k]);
            out.push_str(&lines[k + 1..].concat());
            out
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => any::<usize>().prop_map(Mutation::Delete),
        3 => (any::<usize>(), any::<usize>()).prop_map(|(i, t)| Mutation::Insert(i, t)),
        3 => (any::<usize>(), any::<usize>()).prop_map(|(i, t)| Mutation::Replace(i, t)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => any::<usize>().prop_map(Mutation::DuplicateLine),
    ]
}

const FLAGS: &[&str] = &[
    "K=3",
    "K=-1",
    "K=",
    "=3",
    "K",
    "z.eta=0.5",
    "z.eta=x",
    "train.steps=1e",
    "train.optimizer.lr=\"a\"",
    "data.seed=1.5",
    "nope.x=1",
    "train.batch=full",
    "train.epochs=0",
    "µ=1",
    "K=(",
    "K=1}",
    "train.optimizer=adam(lr = 1)",
];

fn cases() -> u32 {
    std::env::var("LSMC_MUTATION_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_specs_never_panic_and_report_spans_inside_their_files(
        which in any::<usize>(),
        mutations in prop::collection::vec(mutation(), 1..4),
        flags in prop::collection::vec(0..FLAGS.len(), 0..3),
    ) {
        let spec = &specs()[which % specs().len()];
        let mut text = spec.text.clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        let flags: Vec<String> = flags.iter().map(|&i| FLAGS[i].to_string()).collect();
        let name = spec.path.display().to_string();
        let report = check_text(&name, &text, Origin::File(spec.path.clone()), &flags, catalog());

        // A verdict: errors (status 1) or a summary (status 0), never neither.
        prop_assert!(report.has_errors() || report.summary.is_some());
        for d in &report.diagnostics {
            for label in std::iter::once(&d.primary).chain(&d.secondary) {
                let file = report.sources.get(label.span.file);
                let (start, end) = (label.span.start as usize, label.span.end as usize);
                prop_assert!(start <= end && end <= file.text.len(),
                    "{}: span {start}..{end} outside {} ({} bytes)", d.code, file.name, file.text.len());
                prop_assert!(file.text.is_char_boundary(start) && file.text.is_char_boundary(end),
                    "{}: span {start}..{end} splits a character", d.code);
            }
            prop_assert!(d.code.starts_with("lsm::"));
            prop_assert!(!d.message.contains("Rule::") && !d.message.contains("kw_"), "pest rule leaked: {}", d.message);
            let rendered = diag::render(d, &report.sources, false);
            prop_assert!(rendered.contains(d.code));
            let json = serde_json::to_string(&diag::to_json(d, &report.sources)).expect("serialisable");
            prop_assert!(json.contains("\"line\""));
        }
    }
}
