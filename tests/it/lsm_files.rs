//! File-driven tests of `lsmc check`:
//! - every spec in `tests/lsm/ok/` and `models/` checks clean;
//! - every spec in `tests/lsm/err/` fails (exit 1) and its rendered
//!   diagnostics, without colour, match the insta snapshot beside it;
//! - every spec in `tests/lsm/warn/` passes (exit 0) with its warnings snapshotted.
//!
//! A spec's first line may be `//! args: …` to pass extra flags (`--set …`).

use lsmc_runtime::latent::registry::catalog;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn specs_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = entry.expect("directory entry").path();
            if p.is_dir() && p.file_name().is_some_and(|n| n != "lib") {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "lsm") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Runs `lsmc check --color never` on a spec given relative to the
/// package root (so paths in messages are the same on every machine).
fn run_check(spec: &Path) -> (i32, String, String) {
    let rel = spec
        .strip_prefix(root())
        .expect("spec under the package root");
    let text = std::fs::read_to_string(spec).expect("readable spec");
    let extra: Vec<String> = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("//! args:"))
        .map(|a| a.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let out = Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .current_dir(root())
        .args(["check", "--color", "never"])
        .arg(rel)
        .args(&extra)
        .env_remove("NO_COLOR")
        .output()
        .expect("lsmc runs");
    // Absolute paths (a missing data file's) name the checkout's parent
    // as `[ROOT]`, so the snapshots hold on any machine.
    let parent = root().parent().expect("a parent").display().to_string();
    let text = |b: &[u8]| String::from_utf8_lossy(b).replace(&parent, "[ROOT]");
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn ok_specs_and_models_check_clean() {
    let mut specs = specs_under(&root().join("tests/lsm/ok"));
    specs.extend(specs_under(&root().join("models")));
    assert!(
        specs.len() >= 25,
        "expected the models and ok specs, found {}",
        specs.len()
    );
    for spec in specs {
        let report = lsmc_compiler::check_path(&spec, &spec.display().to_string(), &[], catalog())
            .expect("readable");
        let rendered: String = report
            .diagnostics
            .iter()
            .map(|d| lsmc_compiler::diag::render(d, &report.sources, false))
            .collect();
        assert!(
            report.diagnostics.is_empty(),
            "{} is not clean:\n{rendered}",
            spec.display()
        );
        assert!(
            report.summary.is_some(),
            "{} has no summary",
            spec.display()
        );
    }
}

#[test]
fn err_specs_fail_with_their_snapshotted_diagnostics() {
    insta::glob!("..", "lsm/err/*.lsm", |path| {
        let (code, stdout, stderr) = run_check(path);
        assert_eq!(
            code,
            1,
            "{} should fail with status 1:\n{stderr}",
            path.display()
        );
        assert!(
            stdout.is_empty(),
            "a failing check prints no summary: {stdout}"
        );
        insta::assert_snapshot!(stderr);
    });
}

#[test]
fn warn_specs_pass_with_their_snapshotted_warnings() {
    insta::glob!("..", "lsm/warn/*.lsm", |path| {
        let (code, _stdout, stderr) = run_check(path);
        assert_eq!(
            code,
            0,
            "{} has only warnings and should pass:\n{stderr}",
            path.display()
        );
        assert!(
            stderr.contains("⚠"),
            "expected a warning for {}",
            path.display()
        );
        insta::assert_snapshot!(stderr);
    });
}

fn codes_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("lsm::") {
        let code: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '_')
            .collect();
        if code.matches("::").count() == 2 {
            out.push(code);
        }
    }
    out
}

/// Every diagnostic code the compiler can emit has an err (or warn) spec
/// that produces it, so no code goes untested and unreviewed.
#[test]
fn every_diagnostic_code_has_a_spec_that_produces_it() {
    let mut produced = std::collections::BTreeSet::new();
    let mut cases = 0;
    for dir in ["tests/lsm/err", "tests/lsm/warn"] {
        for spec in specs_under(&root().join(dir)) {
            cases += 1;
            produced.extend(codes_in(&run_check(&spec).2));
        }
    }
    let mut declared = std::collections::BTreeSet::new();
    for src in specs_in_source(&root().join("compiler/src")) {
        let text = std::fs::read_to_string(&src).expect("readable source");
        // `lsmc check` emits the parse, check and --set codes; lowering and
        // training codes are exercised by tests/train.rs.
        for code in codes_in(&text) {
            if ["lsm::parse::", "lsm::check::", "lsm::set::"]
                .iter()
                .any(|p| code.starts_with(p))
            {
                declared.insert(code);
            }
        }
    }
    // Produced by specs the tests generate rather than keep: a chain of 101
    // `use`d files (tests/it/limits.rs).
    produced.insert("lsm::check::use_too_deep".into());
    // Every registered structure supports every operation since
    // non-projective trees sample, so no spec can lack one; the checker's
    // rule is tested with a made-up structure that has no sampling
    // (`compiler/src/layers/tests.rs`, `PLANAR`).
    produced.insert("lsm::check::structure_lacks_op".into());
    let missing: Vec<_> = declared.difference(&produced).collect();
    assert!(
        missing.is_empty(),
        "codes without a spec in tests/lsm/err or warn: {missing:?}"
    );
    assert!(cases >= 30, "only {cases} err/warn specs");
    assert!(
        produced.len() >= 25,
        "only {} distinct codes",
        produced.len()
    );
}

fn specs_in_source(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("source dir") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            out.extend(specs_in_source(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out
}
