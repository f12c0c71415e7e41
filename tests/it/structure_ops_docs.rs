//! The capability table of docs/language.md §4.2 ("What each structure
//! supports") is the documented truth of which structure supports which
//! operation. For every structure × operation in it, and every word of the
//! language that needs that operation (a latent line's mapping, a surrogate
//! body's operation, `vjp` of one), a tiny spec is checked in process: a
//! "yes" must check clean, a "no" must give exactly one
//! `lsm::check::structure_lacks_op`. The table must also list every
//! structure of the catalog, so docs and checker cannot drift apart.

use lsmc_compiler::builtins::{self, Kind};
use lsmc_compiler::{check_text, Origin};
use lsmc_runtime::latent::registry::catalog;
use std::path::Path;

/// One column of the table: its heading and the words it names.
struct Column {
    heading: String,
    words: Vec<String>,
}

/// One row: the structure as a spec writes it, and a yes/no per column.
struct Row {
    structure: String,
    supports: Vec<bool>,
}

/// The words between backticks in a table cell.
fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn cells(line: &str) -> Vec<String> {
    let line = line.trim().trim_start_matches('|').trim_end_matches('|');
    line.split('|').map(|c| c.trim().to_string()).collect()
}

/// The first table under the heading `### 4.2`.
fn capability_table() -> (Vec<Column>, Vec<Row>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/language.md");
    let text = std::fs::read_to_string(&path).expect("docs/language.md");
    let section = text
        .split("\n### ")
        .find(|s| s.starts_with("4.2 "))
        .expect("docs/language.md has a §4.2");
    let table: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(table.len() >= 3, "§4.2 has no table:\n{section}");
    let header = cells(table[0]);
    assert_eq!(header[0], "structure", "{}", table[0]);
    let columns: Vec<Column> = header[1..]
        .iter()
        .map(|h| Column {
            heading: h.clone(),
            words: code_spans(h),
        })
        .collect();
    let rows = table[2..]
        .iter()
        .map(|line| {
            let c = cells(line);
            assert_eq!(c.len(), header.len(), "{line}");
            let structure = code_spans(&c[0]).concat();
            let supports = c[1..]
                .iter()
                .map(|v| match v.trim_matches('*') {
                    "yes" => true,
                    "no" => false,
                    other => panic!("§4.2: `{other}` is neither yes nor no in {line}"),
                })
                .collect();
            Row {
                structure,
                supports,
            }
        })
        .collect();
    (columns, rows)
}

/// A spec with this latent line (over scores `s`), and these surrogates.
fn spec(structure: &str, latent: &str, surrogates: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sentences = |param: &str, scores: &str, use_z: &str| {
        format!(
            "{param}data sst(path = \"{}\", embeddings = random(dim = 4))\n\
             encoder {{ e = embed(tokens, embeddings)  h = bilstm(e, 4)  s = {scores} }}\n\
             latent z : {structure} = {latent}\n\
             decoder {{ y_hat = linear(attention_pool(concat(h, {use_z})), 2) }}\n",
            root.join("tests/data/tiny_sst").display()
        )
    };
    let head = if structure.starts_with("sequence") {
        sentences("param K = 3\n", "chain_scores(h, K)", "tags(z)")
    } else if structure.starts_with("constituency_tree") {
        sentences("", "matmul(h, transpose(h))", "matmul(z, h)")
    } else if structure.starts_with("dependency_tree") {
        format!(
            "data sst(path = \"{}\", embeddings = random(dim = 4))\n\
             encoder {{ e = embed(tokens, embeddings)  h = bilstm(e, 4)  s = arc_scores(h, 4) }}\n\
             latent z : {structure} = {latent}\n\
             decoder {{ y_hat = linear(attention_pool(concat(h, heads(z, h))), 2) }}\n",
            root.join("tests/data/tiny_sst").display()
        )
    } else {
        format!(
            "param K = 3\n\
             data synthetic_mixture(clusters = 3, features = 4, train = 8, valid = 4, test = 4)\n\
             encoder {{ s = linear(x, K) }}\n\
             latent z : {structure} = {latent}\n\
             decoder {{ y_hat = bilinear(z, x, 2) }}\n"
        )
    };
    format!(
        "{head}loss cross_entropy(y_hat, y)\n\
         train {{ optimizer adam(lr = 1e-3)  batch 4  steps 1 }}\n\
         // Needs nothing of the structure.\n\
         surrogate plain() {{ return grad(z) }}\n\
         {surrogates}\n"
    )
}

/// The codes of a spec's diagnostics.
fn codes(text: &str) -> Vec<&'static str> {
    check_text("t.lsm", text, Origin::CommandLine, &[], catalog())
        .diagnostics
        .iter()
        .map(|d| d.code)
        .collect()
}

#[test]
fn the_capability_table_lists_every_structure_and_every_operation() {
    let (columns, rows) = capability_table();
    let mut documented: Vec<String> = rows.iter().map(|r| r.structure.clone()).collect();
    let mut known: Vec<String> = catalog()
        .iter()
        .map(|d| {
            let mut args = Vec::new();
            if d.scores.sized() {
                args.push("K");
            }
            args.extend(d.spelling.variant);
            format!("{}({})", d.spelling.callee, args.join(", "))
        })
        .collect();
    documented.sort();
    known.sort();
    assert_eq!(
        documented, known,
        "§4.2 lists other structures than the catalog"
    );
    // Every structure operation of the language is named in some column.
    let named: Vec<&str> = columns
        .iter()
        .flat_map(|c| c.words.iter().map(String::as_str))
        .collect();
    for word in ["argmax", "marg", "sparsemap", "sample", "map", "project"] {
        assert!(named.contains(&word), "§4.2 names no column for `{word}`");
    }
    for c in &columns {
        assert!(
            !c.words.is_empty(),
            "§4.2: column `{}` names no word",
            c.heading
        );
    }
}

#[test]
fn the_checker_accepts_exactly_what_the_capability_table_says() {
    let (columns, rows) = capability_table();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for row in &rows {
        // A mapping this row's structure supports, for the latent
        // line of the specs that test a surrogate operation.
        let usable = columns
            .iter()
            .zip(&row.supports)
            .filter(|(_, yes)| **yes)
            .flat_map(|(c, _)| c.words.iter())
            .find(|w| builtins::lookup(w).is_some_and(|b| b.kind == Kind::Forward))
            .expect("some mapping is supported");
        for (column, &yes) in columns.iter().zip(&row.supports) {
            for word in &column.words {
                let mut cases = Vec::new();
                if builtins::lookup(word).is_some_and(|b| b.kind == Kind::Forward) {
                    let line = if matches!(word.as_str(), "argmax" | "sample") {
                        format!("{word}(s) via plain")
                    } else {
                        format!("{word}(s)")
                    };
                    cases.push((
                        format!("latent line `{line}`"),
                        spec(&row.structure, &line, ""),
                    ));
                }
                if builtins::surrogate_op(word).is_some() {
                    let line = format!("{usable}(s) via uses");
                    let body = format!("surrogate uses() {{ return z - {word}(s) }}");
                    cases.push((
                        format!("surrogate `{word}(s)`"),
                        spec(&row.structure, &line, &body),
                    ));
                    if matches!(word.as_str(), "marg" | "project") {
                        let body = format!("surrogate uses() {{ return vjp({word}, s, grad(z)) }}");
                        cases.push((
                            format!("surrogate `vjp({word}, …)`"),
                            spec(&row.structure, &line, &body),
                        ));
                    }
                }
                assert!(
                    !cases.is_empty(),
                    "§4.2: `{word}` is neither a mapping nor a surrogate operation"
                );
                for (what, text) in cases {
                    checked += 1;
                    let got = codes(&text);
                    let ok = if yes {
                        got.is_empty()
                    } else {
                        got == ["lsm::check::structure_lacks_op"]
                    };
                    if !ok {
                        wrong.push(format!(
                            "{} × {what}: §4.2 says {}, the checker gives {got:?}",
                            row.structure,
                            if yes { "yes" } else { "no" }
                        ));
                    }
                }
            }
        }
    }
    assert!(checked >= 24, "only {checked} pairs checked");
    assert!(
        wrong.is_empty(),
        "docs and checker disagree:\n{}",
        wrong.join("\n")
    );
}
