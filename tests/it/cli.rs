//! The `lsmc check` command as a user and an editor see it: exit statuses,
//! JSON output, `--set`, and where misspellings are reported.

use std::process::{Command, Output};

fn lsmc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("lsmc runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn exit_status_is_0_when_clean_1_on_diagnostics_2_on_io_or_usage_errors() {
    assert_eq!(
        lsmc(&["check", "models/synthetic/spigot.lsm"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        lsmc(&["check", "tests/lsm/err/misspelled_name.lsm"])
            .status
            .code(),
        Some(1)
    );
    let missing = lsmc(&["check", "models/does_not_exist.lsm"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read `models/does_not_exist.lsm`: no such file"));
    assert_eq!(
        lsmc(&["check"]).status.code(),
        Some(2),
        "no spec given is a usage error"
    );
    assert_eq!(
        lsmc(&["check", "--format", "yaml", "x.lsm"]).status.code(),
        Some(2)
    );
}

#[test]
fn json_output_parses_and_locates_every_diagnostic() {
    let out = lsmc(&[
        "check",
        "--format",
        "json",
        "tests/lsm/err/several_errors_at_once.lsm",
        "models/synthetic/softmax.lsm",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    let diags = v["diagnostics"].as_array().expect("a diagnostics array");
    assert_eq!(diags.len(), 3, "three errors in one run: {diags:#?}");
    for d in diags {
        for key in ["line", "column", "end_line", "end_column"] {
            assert!(
                d[key].as_u64().is_some_and(|n| n >= 1),
                "{key} missing in {d}"
            );
        }
        for key in ["file", "code", "severity", "message"] {
            assert!(d[key].is_string(), "{key} missing in {d}");
        }
        assert!(d["help"].is_string() || d["help"].is_null());
    }
    let files = v["files"].as_array().expect("a files array");
    assert_eq!(files[0]["ok"], false);
    assert_eq!(files[1]["ok"], true);
    assert_eq!(
        files[1]["summary"]["latents"][0]["structure"],
        "categorical(10)"
    );
}

#[test]
fn a_misspelled_name_is_reported_on_its_line_with_a_suggestion() {
    let spec = "tests/lsm/err/misspelled_name.lsm";
    let text = std::fs::read_to_string(spec).expect("spec");
    let line = text
        .lines()
        .position(|l| l.contains("xx"))
        .expect("the misspelling")
        + 1;
    let out = lsmc(&["check", "--format", "json", spec]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "lsm::check::undefined_name");
    assert_eq!(d["line"].as_u64(), Some(line as u64));
    assert_eq!(
        d["column"].as_u64(),
        Some(text.lines().nth(line - 1).unwrap().find("xx").unwrap() as u64 + 1)
    );
    assert_eq!(d["help"], "did you mean `x`?");
}

#[test]
fn set_overrides_params_settings_and_surrogate_arguments() {
    let out = lsmc(&[
        "check",
        "models/synthetic/spigot.lsm",
        "--set",
        "K=3",
        "--set",
        "train.steps=2000",
        "--set",
        "train.optimizer.lr=0.01",
        "--set",
        "z.eta=0.5",
        "--set",
        "data.seed=7",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = stdout(&out);
    assert!(s.contains("categorical(3) = argmax(s)"), "{s}");
    assert!(s.contains("z_gold       class(3)[B]"), "{s}");
    assert!(
        s.contains("backward via spigot(eta = 0.5, steps = 1)"),
        "{s}"
    );
    assert!(s.contains("adam(lr = 0.01,"), "{s}");
    assert!(s.contains("2000 steps"), "{s}");
    assert!(s.contains("seed = 7)"), "{s}");
}

#[test]
fn setting_steps_on_an_epoch_based_spec_replaces_the_length() {
    let out = lsmc(&["check", "models/sst/spigot.lsm", "--set", "train.steps=500"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("batch 32, 500 steps"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_bad_set_value_is_reported_inside_the_flag() {
    let out = lsmc(&[
        "check",
        "--color",
        "never",
        "models/synthetic/spigot.lsm",
        "--set",
        "K=0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(e.contains("lsm::check::out_of_range"), "{e}");
    assert!(e.contains("`K` gets its value here (--set:1:3)"), "{e}");
}

#[test]
fn check_summarises_shapes_parameters_latent_and_training_plan() {
    let out = lsmc(&["check", "models/sst/spigot.lsm"]);
    let s = stdout(&out);
    for needle in [
        "h        = bilstm(e, 100)",
        "f32[B, N, 100]",
        "40,800 params",
        "f32[B, N+1, N+1]",
        "dependency_tree(projective, root = single) = argmax(s)",
        "backward via spigot(eta = 0.1, steps = 1)",
        "adamw(lr = 1e-4",
        "batch 32, 40 epochs",
    ] {
        assert!(s.contains(needle), "missing {needle:?} in\n{s}");
    }
}
