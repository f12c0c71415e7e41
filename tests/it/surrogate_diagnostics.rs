//! One mistake in a surrogate body is one diagnostic, as in the model's
//! blocks: a variable assigned from an expression with an error is still
//! defined (with no kind), so the statements that read it report nothing
//! more; and a "did you mean" names only what is visible at that point
//! (`s`, `z`, the parameters, variables assigned above, surrogate
//! operations for a call). The rendered diagnostics of a few of these are
//! snapshotted in `tests/lsm/err/surrogate_*_once.lsm`.

use lsmc_compiler::{check_text, Diagnostic, Origin};
use lsmc_runtime::latent::registry::catalog;

/// The diagnostics of a spec whose latent uses `surrogate mine(eta, steps)`
/// with this body.
fn diagnostics(body: &str) -> Vec<Diagnostic> {
    let spec = format!(
        "data synthetic_mixture(clusters = 3, features = 4, train = 8, valid = 4, test = 4)\n\
         encoder {{ s = linear(x, 3) }}\n\
         latent z : categorical(3) = argmax(s) via mine(eta = 0.5)\n\
         decoder {{ y_hat = bilinear(z, x, 2) }}\n\
         loss cross_entropy(y_hat, y)\n\
         train {{ optimizer adam(lr = 1e-3)  batch full  steps 1 }}\n\
         surrogate mine(eta = 1.0, steps = 1) {{\n{body}\n}}\n"
    );
    check_text("t.lsm", &spec, Origin::CommandLine, &[], catalog()).diagnostics
}

/// The name a diagnostic's help suggests (`did you mean `NAME`?`).
fn suggestion(d: &Diagnostic) -> Option<&str> {
    let help = d.help.as_deref()?;
    let rest = help.strip_prefix("did you mean `")?;
    rest.split('`').next()
}

/// Checks that `body` gives exactly one diagnostic, with `code` and the
/// suggestion `suggests` (or none).
fn one(body: &str, code: &str, suggests: Option<&str>) {
    let ds = diagnostics(body);
    let summary: Vec<String> = ds
        .iter()
        .map(|d| format!("{}: {} ({:?})", d.code, d.message, d.help))
        .collect();
    assert_eq!(
        ds.len(),
        1,
        "one mistake, one diagnostic, for\n{body}\ngot {summary:#?}"
    );
    assert_eq!(ds[0].code, code, "{body}\n{summary:#?}");
    assert_eq!(suggestion(&ds[0]), suggests, "{body}\n{summary:#?}");
}

#[test]
fn a_correct_body_checks_clean() {
    let ds = diagnostics(
        "  mu = z\n  repeat steps { mu = project(mu - eta * grad(mu)) }\n  return z - mu",
    );
    assert!(
        ds.is_empty(),
        "{:?}",
        ds.iter().map(|d| d.code).collect::<Vec<_>>()
    );
}

#[test]
fn an_undefined_name_is_reported_once_with_no_suggestion_from_outside_the_body() {
    one(
        "  mu = z - eta * grad(mu0)\n  repeat steps { mu = project(mu - eta * grad(mu)) }\n  return z - mu",
        "lsm::check::undefined_name",
        None,
    );
}

#[test]
fn a_latent_mapping_called_in_a_body_is_reported_once_with_the_surrogate_word() {
    // Before, `t` stayed undefined and every later read of it was an
    // error too, the last one suggesting `s`.
    one(
        "  t = sparsemap(s)\n  mu0 = marg(t)\n  mu = mu0\n  repeat steps {\n    t = t - eta * grad(mu)\n    mu = marg(t)\n  }\n  return mu0 - mu",
        "lsm::check::unknown_surrogate_op",
        Some("project"),
    );
    one(
        "  mu = argmax(s)\n  repeat steps { mu = project(mu - eta * grad(mu)) }\n  return z - mu",
        "lsm::check::unknown_surrogate_op",
        Some("map"),
    );
    one(
        "  mu = projet(z)\n  return z - mu",
        "lsm::check::unknown_surrogate_op",
        Some("project"),
    );
}

#[test]
fn a_value_of_the_wrong_kind_is_reported_once() {
    one(
        "  l = loss(z)\n  mu = project(l)\n  repeat steps { mu = project(mu - eta * grad(mu)) }\n  return z - mu",
        "lsm::check::surrogate_type",
        None,
    );
    one(
        "  mu = grad(loss(z))\n  return z - mu",
        "lsm::check::surrogate_type",
        None,
    );
}

#[test]
fn a_call_with_the_wrong_arguments_is_reported_once() {
    one(
        "  mu = project()\n  return z - mu",
        "lsm::check::missing_argument",
        None,
    );
    one(
        "  mu = grad(z, s)\n  return z - mu + mu",
        "lsm::check::too_many_arguments",
        None,
    );
    one(
        "  mu = grad(mu = z)\n  return z - mu",
        "lsm::check::unknown_argument",
        None,
    );
}

#[test]
fn an_error_inside_a_repeat_is_reported_once() {
    one(
        "  mu = z\n  repeat steps {\n    nu = project(mu - eta * grad(mux))\n    mu = nu\n  }\n  return z - mu + nu",
        "lsm::check::undefined_name",
        Some("mu"),
    );
}

#[test]
fn suggestions_come_from_the_names_visible_at_that_point() {
    // A variable assigned above is suggested.
    one(
        "  mu0 = marg(s)\n  mu = mu0 - eta * grad(mu_0)\n  return mu0 - mu",
        "lsm::check::undefined_name",
        Some("mu0"),
    );
    // So is a parameter.
    one(
        "  mu = z - etaa * grad(z)\n  return z - mu",
        "lsm::check::undefined_name",
        Some("eta"),
    );
    // A variable assigned further down is not: it is not visible yet.
    let ds = diagnostics("  mu = grad(nu_1)\n  nu1 = z\n  return mu + nu1");
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].code, "lsm::check::undefined_name");
    assert_eq!(suggestion(&ds[0]), None);
    let help = ds[0].help.as_deref().unwrap_or_default();
    assert!(!help.contains("nu1"), "{help}");
    // Read before its assignment, a name is told apart from one that
    // does not exist.
    let ds = diagnostics("  mu = grad(nu)\n  nu = z\n  return mu + nu");
    assert_eq!(ds.len(), 1);
    let help = ds[0].help.as_deref().unwrap_or_default();
    assert!(
        help.contains("`nu` is assigned only after this point"),
        "{help}"
    );
}
