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
