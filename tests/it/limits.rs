//! Resource limits and the diagnostics that enforce them: input shaped to
//! exhaust the stack, the memory or the clock ends in a clear error at a
//! place in the spec, and input just inside each limit still works.

use lsmc_compiler::syntax::lexcheck::MAX_NESTING;
use lsmc_compiler::{check_text, lower::lower, Origin};
use lsmc_runtime::latent::registry::catalog;

/// A small complete spec with `k` as the value of `param K` and `s` as the
/// encoder's scores.
fn spec(k: &str, s: &str) -> String {
    format!(
        "model deep\nparam K = {k}\n\
         data synthetic_mixture(clusters = 3, features = 6, train = 12, valid = 4, test = 4, seed = 9)\n\
         encoder {{ s = {s} }}\n\
         latent z : categorical(3) = marg(s)\n\
         decoder {{ y_hat = bilinear(z, x, 2) }}\n\
         loss cross_entropy(y_hat, y)\n\
         train {{ optimizer adam(lr = 1e-3)  batch full  steps 1 }}\n"
    )
}

/// Checks and lowers `text` on a thread with a 2 MiB stack — a test
/// thread's, smaller than a program's main thread — and returns the
/// diagnostic codes (empty: it lowered).
fn codes_on_a_small_stack(text: String, overrides: Vec<String>) -> Vec<&'static str> {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let r = check_text(
                "deep.lsm",
                &text,
                Origin::CommandLine,
                &overrides,
                catalog(),
            );
            if r.has_errors() {
                return r.diagnostics.iter().map(|d| d.code).collect();
            }
            lower(&r.model.expect("checked")).expect("lowers");
            Vec::new()
        })
        .expect("thread starts")
        .join()
        .expect("no panic and no overflow")
}

/// Expressions nesting `d` levels in each way the grammar nests: brackets,
/// calls, prefix and infix operators, for a number (`param K`, at the top
/// level) and for a tensor (in the encoder block, one level down, inside
/// `linear(…)`, one more).
fn nested(d: usize) -> Vec<(&'static str, String)> {
    let t = d - 2;
    let even = |n: usize| n - n % 2;
    vec![
        (
            "parentheses",
            spec(
                &format!("{}3{}", "(".repeat(d), ")".repeat(d)),
                "linear(x, K)",
            ),
        ),
        (
            "negations",
            spec(&format!("{}3", "-".repeat(even(d))), "linear(x, 3)"),
        ),
        (
            "sums",
            spec(&format!("3{}", "+0".repeat(d)), "linear(x, K)"),
        ),
        (
            "products",
            spec(&format!("3{}", "*1".repeat(d)), "linear(x, K)"),
        ),
        (
            "calls",
            spec(
                "3",
                &format!("{}linear(x, K){}", "tanh(".repeat(t), ")".repeat(t)),
            ),
        ),
        (
            "tensor negations",
            spec("3", &format!("{}linear(x, K)", "-".repeat(even(t)))),
        ),
        (
            "tensor sums",
            spec(
                "3",
                &format!(
                    "linear(x, K){}",
                    " + s0".repeat(t).replace("s0", "linear(x, K)")
                ),
            ),
        ),
    ]
}

#[test]
fn expressions_nested_to_the_limit_check_and_lower_on_a_small_stack() {
    for (how, text) in nested(MAX_NESTING) {
        let codes = codes_on_a_small_stack(text, Vec::new());
        assert!(codes.is_empty(), "{how}: {codes:?}");
    }
}

#[test]
fn one_level_past_the_limit_is_a_diagnostic_not_a_stack_overflow() {
    for (how, text) in nested(MAX_NESTING + 2) {
        let codes = codes_on_a_small_stack(text, Vec::new());
        assert_eq!(codes, ["lsm::parse::too_deep"], "{how}");
    }
    // Far past it, as a generated spec might be: still one diagnostic.
    let text = spec(
        &format!("{}3{}", "[".repeat(50_000), "]".repeat(50_000)),
        "linear(x, K)",
    );
    assert_eq!(
        codes_on_a_small_stack(text, Vec::new()),
        ["lsm::parse::too_deep"]
    );
    // A `--set` value is held to the same limit.
    let flag = format!("K={}3", "-".repeat(100_000));
    let codes = codes_on_a_small_stack(spec("3", "linear(x, K)"), vec![flag]);
    assert_eq!(codes, ["lsm::parse::too_deep"]);
}

#[test]
fn a_spec_with_classic_mac_line_endings_reads_line_by_line() {
    // Its comments end at each `\r`, not at the end of the file.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/synthetic/linear.lsm");
    let unix = std::fs::read_to_string(path).unwrap();
    for (ending, text) in [
        ("\\r", unix.replace('\n', "\r")),
        ("\\r\\n", unix.replace('\n', "\r\n")),
    ] {
        let r = check_text("mac.lsm", &text, Origin::CommandLine, &[], catalog());
        assert!(!r.has_errors(), "{ending}: {:?}", r.diagnostics);
        let program = lower(&r.model.expect("checked")).expect("lowers");
        assert_eq!(program.name, "synthetic_linear", "{ending}");
    }
    // A mistake is reported on its own line.
    let text = unix
        .replace("linear(x, 2)", "linear(x, 2, 3, 4)")
        .replace('\n', "\r");
    let r = check_text("mac.lsm", &text, Origin::CommandLine, &[], catalog());
    let d = r.diagnostics.first().expect("an error");
    let line = unix
        .lines()
        .position(|l| l.contains("linear(x, 2)"))
        .unwrap()
        + 1;
    let span = d.primary.span;
    assert_eq!(
        r.sources.get(span.file).line_col(span.start as usize).0,
        line,
        "{d:?}"
    );
}

/// A spec whose latent uses a surrogate with `body`.
fn with_surrogate(body: &str) -> String {
    format!(
        "model loops\n\
         data synthetic_mixture(clusters = 3, features = 6, train = 12, valid = 4, test = 4, seed = 9)\n\
         encoder {{ s = linear(x, 3) }}\n\
         latent z : categorical(3) = argmax(s) via looping(steps = 1001)\n\
         decoder {{ y_hat = bilinear(z, x, 2) }}\n\
         loss cross_entropy(y_hat, y)\n\
         train {{ optimizer adam(lr = 1e-3)  batch full  steps 1 }}\n\
         surrogate looping(steps = 1) {{\n  mu = marg(s)\n  {body}\n  return z - mu\n}}\n"
    )
}

#[test]
fn nested_repeats_share_one_budget_of_steps() {
    // 1001 × 1001 steps: each count is fine, their product is not.
    let nested = with_surrogate("repeat steps { repeat steps { mu = mu - 0.1 * grad(mu) } }");
    let codes = codes_on_a_small_stack(nested, Vec::new());
    assert_eq!(codes, ["lsm::check::out_of_range"]);
    // 1001 × 999 in one count is fine.
    let flat = with_surrogate("repeat steps * 999 { mu = mu - 0.1 * grad(mu) }");
    assert!(codes_on_a_small_stack(flat, Vec::new()).is_empty());
}

#[test]
fn a_repeat_count_known_only_at_run_time_stops_at_the_budget_instead_of_hanging() {
    let dir = std::env::temp_dir().join(format!("lsmc-limits-{}-loop", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("loop.lsm");
    // 12 examples × 100,000: past the budget of 1,000,000 steps a call.
    let body = "repeat batch_size() * 100000 { mu = mu * 1 }";
    std::fs::write(&spec, with_surrogate(body)).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .args(["train", spec.to_str().unwrap(), "--threads", "1", "--out"])
        .arg(dir.join("run"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("more than 1000000 `repeat` steps"), "{err}");
    assert!(err.contains("looping"), "{err}");
}

#[test]
fn a_model_no_machine_can_hold_is_refused_with_the_estimate_before_allocating() {
    let dir = std::env::temp_dir().join(format!("lsmc-limits-{}-huge", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/models/synthetic/sfe.lsm");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .args(["train", spec, "--set", "K=1e9", "--threads", "1", "--out"])
        .arg(dir.join("run"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("this run needs about") && err.contains("TB") && err.contains("available"),
        "{err}"
    );
    assert!(!dir.join("run/checkpoint.bin").exists());
    // `lsmc check` says the same before anything runs.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .args(["check", spec, "--set", "K=1e9"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("memory   about") && out.contains("TB"),
        "{out}"
    );
}

#[test]
fn a_training_text_past_max_words_is_refused_by_split_and_example_before_any_step() {
    use crate::pair_data::{snli_data, snli_format};
    let dir = std::env::temp_dir().join(format!("lsmc-limits-{}-words", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("train.jsonl"), snli_format(20)).unwrap();
    let spec = format!(
        "model words\ndata {}\n\
         encoder {{\n  fa = embed(premise, embeddings)\n  sa = arc_scores(fa, hidden = 4)\n}}\n\
         latent za : dependency_tree(projective) = marg(sa)\n\
         decoder {{ y_hat = linear(sum_pool(heads(za, fa)), 3) }}\n\
         loss cross_entropy(y_hat, y)\n\
         train {{ optimizer adam(lr = 1e-2)  batch 4  steps 2 }}\n",
        snli_data("holdout(0.2, seed = 1, test = \"train.jsonl\")")
    );
    std::fs::write(dir.join("words.lsm"), spec).unwrap();
    let train = |max: &str, out: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_lsmc"))
            .current_dir(&dir)
            .args([
                "train",
                "words.lsm",
                "--threads",
                "1",
                "--max-words",
                max,
                "--out",
                out,
            ])
            .output()
            .unwrap()
    };
    let o = train("7", "short");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("train: example")
            && err.contains("under the tree latent `za`, more than the limit of 7"),
        "{err}"
    );
    assert!(!dir.join("short/checkpoint.bin").exists());
    // The longest text, as the error counts it, is exactly what it allows.
    let words = err
        .split("(its `premise`) has ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .expect("a word count");
    let o = train(
        &(words.parse::<usize>().unwrap() - 1).to_string(),
        "one-short",
    );
    assert_eq!(o.status.code(), Some(1));
    let o = train(words, "long");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A spec that `use`s a chain of `libs` library files, each defining a
/// param; checked on a 2 MiB stack, its diagnostic codes and their files.
fn use_chain(libs: usize) -> Vec<(&'static str, String)> {
    let dir = std::env::temp_dir().join(format!("lsmc-limits-{}-chain-{libs}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..libs {
        let next = if i + 1 < libs {
            format!("use \"l{}.lsm\"\n", i + 1)
        } else {
            String::new()
        };
        std::fs::write(
            dir.join(format!("l{i}.lsm")),
            format!("{next}param p{i} = 1\n"),
        )
        .unwrap();
    }
    let main = dir.join("main.lsm");
    std::fs::write(
        &main,
        format!("use \"l0.lsm\"\n{}", spec("3", "linear(x, K)")),
    )
    .unwrap();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let r = lsmc_compiler::check_path(&main, "main.lsm", &[], catalog()).unwrap();
            r.diagnostics
                .iter()
                .filter(|d| d.severity == lsmc_compiler::Severity::Error)
                .map(|d| (d.code, r.sources.get(d.primary.span.file).name.clone()))
                .collect()
        })
        .unwrap()
        .join()
        .expect("no panic and no overflow")
}

#[test]
fn a_chain_of_uses_to_the_limit_checks_and_one_past_it_is_a_diagnostic() {
    use lsmc_compiler::check::MAX_USE_DEPTH;
    // The spec and 99 libraries: 100 files in the chain.
    assert_eq!(use_chain(MAX_USE_DEPTH - 1), []);
    let past = use_chain(MAX_USE_DEPTH);
    assert_eq!(past.len(), 1, "{past:?}");
    assert_eq!(past[0].0, "lsm::check::use_too_deep");
    assert!(
        past[0].1.ends_with(&format!("l{}.lsm", MAX_USE_DEPTH - 2)),
        "{past:?}"
    );
    // 20,000 files used to overflow a small stack, or end in a false parse error.
    let far = use_chain(20_000);
    assert_eq!(
        far.iter().map(|d| d.0).collect::<Vec<_>>(),
        ["lsm::check::use_too_deep"]
    );
}
