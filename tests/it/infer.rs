//! `lsmc infer` as a researcher uses it from a shell or another language:
//! JSON in, JSON out, in the documented layout; every malformed input an
//! error that names the problem, never a panic.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn infer(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .arg("infer")
        .args(args)
        .args(["--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lsmc runs");
    // lsmc may stop before reading its input (a bad `--device`): then the
    // pipe is closed, which is not a failure of the test.
    if let Err(e) = child
        .stdin
        .take()
        .expect("piped")
        .write_all(input.as_bytes())
    {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().expect("finishes")
}

fn result(o: &Output) -> serde_json::Value {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    v["result"].clone()
}

fn error(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Two words, single root: `root→1→2` scores 1.5, `root→2→1` scores 1.
const TWO_WORDS: &str = r#"{"scores": [[[0, 1, 2], [0, 0, 0.5], [0, -1, 0]]]}"#;

#[test]
fn projective_marginals_map_and_log_partition_of_a_two_word_sentence() {
    let p = 1.0 / (1.0 + (-0.5f64).exp());
    let mu = result(&infer(
        &["--structure", "projective", "--op", "marginals"],
        TWO_WORDS,
    ));
    let at = |h: usize, m: usize| mu[0][h][m].as_f64().unwrap();
    for (h, m, want) in [
        (0, 1, p),
        (1, 2, p),
        (0, 2, 1.0 - p),
        (2, 1, 1.0 - p),
        (1, 1, 0.0),
        (0, 0, 0.0),
    ] {
        assert!((at(h, m) - want).abs() < 1e-12, "{h}->{m}: {}", at(h, m));
    }
    let z = result(&infer(
        &["--structure", "projective", "--op", "map"],
        TWO_WORDS,
    ));
    assert_eq!(
        z,
        serde_json::json!([[[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]])
    );
    let lz = result(&infer(
        &["--structure", "nonprojective", "--op", "logz"],
        TWO_WORDS,
    ));
    let want = (1.5f64.exp() + 1.0f64.exp()).ln();
    assert!((lz[0].as_f64().unwrap() - want).abs() < 1e-12);
    // Multi-root adds the tree with both words on the root (score 3).
    let lz = result(&infer(
        &[
            "--structure",
            "projective",
            "--root",
            "multi",
            "--op",
            "logz",
        ],
        TWO_WORDS,
    ));
    let want = (1.5f64.exp() + 1.0f64.exp() + 3.0f64.exp()).ln();
    assert!((lz[0].as_f64().unwrap() - want).abs() < 1e-12);
}

#[test]
fn lengths_leave_padding_out_and_zero() {
    let input = r#"{"scores": [[[0, 1, 2], [0, 0, 0.5], [0, -1, 0]], [[0, 3, 99], [0, 0, 99], [0, 99, 0]]], "lengths": [2, 1]}"#;
    let z = result(&infer(
        &["--structure", "projective", "--op", "sparsemap"],
        input,
    ));
    assert_eq!(
        z[1],
        serde_json::json!([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    );
    let cat = r#"{"scores": [[1, 2, 50], [0, 0, 0]], "lengths": [2, 3]}"#;
    let p = result(&infer(
        &["--structure", "categorical", "--op", "marginals"],
        cat,
    ));
    assert_eq!(p[0][2].as_f64(), Some(0.0));
    let third = 1.0 / 3.0;
    assert!((p[1][2].as_f64().unwrap() - third).abs() < 1e-12);
    let sm = result(&infer(
        &["--structure", "categorical", "--op", "sparsemap"],
        cat,
    ));
    assert_eq!(sm[0], serde_json::json!([0.0, 1.0, 0.0]));
}

#[test]
fn malformed_input_names_the_problem() {
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["--structure", "projective", "--op", "map"],
            "{",
            "not valid JSON (line 1",
        ),
        (
            &["--structure", "projective", "--op", "map"],
            "[1, 2]",
            "must be a JSON object",
        ),
        (
            &["--structure", "projective", "--op", "map"],
            r#"{"lengths": [1]}"#,
            "missing field `scores`",
        ),
        (
            &["--structure", "projective", "--op", "map"],
            r#"{"scores": [], "extra": 1}"#,
            "unknown field `extra`",
        ),
        (
            &["--structure", "projective", "--op", "map"],
            r#"{"scores": [[1, 2], [3, 4]]}"#,
            "must be a nested array [B][N+1][N+1]",
        ),
        (
            &["--structure", "projective", "--op", "map"],
            r#"{"scores": [[[0, 1], [0]]]}"#,
            "`scores[0][1]` has 1 entries",
        ),
        (
            &["--structure", "projective", "--op", "map"],
            r#"{"scores": [[[0, 1], [0, "a"]]]}"#,
            "`scores[0][1][1]` must be a number",
        ),
        (
            &["--structure", "projective", "--op", "map"],
            r#"{"scores": [[[0, 1, 2], [0, 0, 1]]]}"#,
            "must have shape [B, N+1, N+1]",
        ),
        (
            &["--structure", "projective", "--op", "map"],
            r#"{"scores": [[[0, 1], [0, 0]]], "lengths": [2]}"#,
            "room for 1 words",
        ),
        (
            &["--structure", "projective", "--op", "map"],
            r#"{"scores": [[[0, 1], [0, 0]]], "lengths": [1, 1]}"#,
            "2 lengths for a batch of 1",
        ),
        (
            &["--structure", "projective", "--op", "map"],
            r#"{"scores": [[[0, 1], [0, 0]]], "lengths": [-1]}"#,
            "`lengths[0]` must be a non-negative integer",
        ),
        (
            // The largest length there is: the bound check must not wrap.
            &["--structure", "nonprojective", "--op", "marginals"],
            r#"{"scores": [[[0, 1], [0, 0]]], "lengths": [18446744073709551615]}"#,
            "room for 1 words",
        ),
        (
            &["--structure", "categorical", "--op", "map"],
            r#"{"scores": [[1, 2]], "lengths": [0]}"#,
            "between 1 and 2",
        ),
        (
            &["--structure", "categorical", "--op", "map"],
            r#"{"scores": [[[1]]]}"#,
            "must be a number",
        ),
    ];
    for (args, input, want) in cases {
        let msg = error(&infer(args, input));
        assert!(msg.contains(want), "{input}: {msg}");
        assert!(msg.starts_with("error: -: "), "{msg}");
        assert!(!msg.contains("panicked"), "{msg}");
    }
}

#[test]
fn an_unreadable_input_file_is_a_usage_error() {
    let o = Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .args([
            "infer",
            "--structure",
            "projective",
            "--op",
            "map",
            "--input",
            "no/such.json",
        ])
        .output()
        .expect("lsmc runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read `no/such.json`: no such file"));
}

/// Whether this machine has a GPU the CUDA backend can open.
fn has_gpu() -> bool {
    lsmc_runtime::Context::new(lsmc_runtime::device::Choice::Cuda(0), 1).is_ok()
}

const TREE: &str = r#"{"scores": [[[0, 1, 2], [0, 0, 1], [0, 3, 0]]]}"#;

#[test]
fn device_cuda_without_a_gpu_is_a_clear_error_and_auto_falls_back_in_one_line() {
    let cpu = infer(
        &[
            "--structure",
            "projective",
            "--op",
            "map",
            "--device",
            "cpu",
        ],
        TREE,
    );
    let want = result(&cpu);
    assert!(
        cpu.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&cpu.stderr)
    );
    let auto = infer(&["--structure", "projective", "--op", "map"], TREE);
    assert_eq!(result(&auto), want);
    let cuda = infer(
        &[
            "--structure",
            "projective",
            "--op",
            "map",
            "--device",
            "cuda",
        ],
        TREE,
    );
    if has_gpu() {
        assert_eq!(result(&cuda), want);
        return;
    }
    let note = String::from_utf8_lossy(&auto.stderr);
    assert_eq!(note.lines().count(), 1, "{note}");
    assert!(note.starts_with("note: no GPU ("), "{note}");
    assert!(note.contains("structured ops run on the CPU"), "{note}");
    assert_eq!(cuda.status.code(), Some(2));
    assert!(cuda.stdout.is_empty());
    let text = String::from_utf8_lossy(&cuda.stderr);
    assert!(text.starts_with("error: --device cuda: "), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    let bad = infer(
        &[
            "--structure",
            "projective",
            "--op",
            "map",
            "--device",
            "gpu",
        ],
        TREE,
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("use auto, cpu, cuda or cuda:N"));
}

/// `lsmc bench --structure … --sparsemap N` times SparseMAP's backward both
/// ways in one run — over the forward's saved active sets and solving
/// again — for every length; the flag means nothing without a structure.
#[test]
fn bench_times_sparsemap_with_and_without_the_saved_active_set() {
    let o = Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .args(["bench", "--structure", "projective", "--batch", "2"])
        .args(["--n", "3", "4", "--repeats", "1", "--threads", "1"])
        .args(["--sparsemap", "5", "--device", "cpu"])
        .output()
        .expect("lsmc runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    for n in [3, 4] {
        for op in ["sparsemap_backward", "sparsemap_backward_resolve"] {
            let line = lines
                .iter()
                .find(|l| l["n"] == n && l["op"] == op)
                .unwrap_or_else(|| panic!("no {op} at n = {n}: {lines:?}"));
            assert!(line["median_ms"].as_f64().is_some_and(|t| t > 0.0));
        }
    }
    let o = Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .args(["bench", "models/synthetic/softmax.lsm", "--sparsemap", "5"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("lsmc runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("use it with --structure"));
}

/// `LSMC_RECORD_PROJECTIONS` records a projection when its forward solves
/// it, not again when a VJP without saved state solves it anew: the
/// bench's two SparseMAP timings each run one forward (no warm-up), and
/// only the second re-solves in its backward.
#[test]
fn a_vjps_re_solve_does_not_record_the_projection_again() {
    let dir = std::env::temp_dir().join(format!("lsmc-record-resolve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let record = dir.join("projections.txt");
    let o = Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .args([
            "bench",
            "--structure",
            "projective",
            "--batch",
            "2",
            "--n",
            "5",
        ])
        .args(["--repeats", "1", "--warmup", "0", "--threads", "1"])
        .args(["--sparsemap", "500", "--device", "cpu"])
        .env(lsmc_runtime::latent::projection_record::VARIABLE, &record)
        .output()
        .expect("lsmc runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&record).unwrap();
    // Two forwards of a batch of two sentences; the re-solve would add two.
    assert_eq!(text.lines().count(), 4, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sizes no machine holds, or a tree past `--max-words`, are refused
/// before any scores are drawn (they aborted on allocation).
#[test]
fn bench_refuses_sizes_it_cannot_hold_before_drawing_scores() {
    let bench = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lsmc"))
            .args(["bench", "--batch", "1", "--repeats", "1", "--device", "cpu"])
            .args(args)
            .output()
            .expect("lsmc runs")
    };
    let o = bench(&["--structure", "sequence", "--tags", "100000", "--n", "10"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("[1, 10, 100000, 100000]") && err.contains("4.8 TB"),
        "{err}"
    );
    let o = bench(&["--structure", "constituency", "--n", "5000"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("5000 words") && err.contains("--max-words"),
        "{err}"
    );
}

#[test]
fn a_tree_past_max_words_is_refused_before_any_work() {
    let two_words = r#"{"scores": [[[0, 1, 2], [0, 0, 0.5], [0, -1, 0]], [[0, 1, 9], [0, 0, 9], [0, 9, 0]]], "lengths": [2, 1]}"#;
    for structure in ["projective", "nonprojective"] {
        let o = infer(
            &[
                "--structure",
                structure,
                "--op",
                "marginals",
                "--max-words",
                "1",
            ],
            two_words,
        );
        let err = error(&o);
        assert!(
            err.contains("`scores[0]` has 2 words for a tree, more than the limit of 1")
                && err.contains("--max-words 2"),
            "{err}"
        );
        result(&infer(
            &[
                "--structure",
                structure,
                "--op",
                "marginals",
                "--max-words",
                "2",
            ],
            two_words,
        ));
    }
    // A categorical latent's size is not a text: no word limit.
    result(&infer(
        &[
            "--structure",
            "categorical",
            "--op",
            "marginals",
            "--max-words",
            "1",
        ],
        r#"{"scores": [[1, 2, 3]]}"#,
    ));
}

#[test]
fn non_projective_trees_never_ask_for_the_gpu_so_auto_says_nothing() {
    // The kernels are projective only: `auto`'s fallback note (or a GPU)
    // concerns projective trees alone.
    for op in ["map", "marginals"] {
        let o = infer(&["--structure", "nonprojective", "--op", op], TREE);
        result(&o);
        assert!(
            o.stderr.is_empty(),
            "{op}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    if !has_gpu() {
        let o = infer(&["--structure", "projective", "--op", "map"], TREE);
        assert!(String::from_utf8_lossy(&o.stderr).contains("no GPU"));
    }
}
