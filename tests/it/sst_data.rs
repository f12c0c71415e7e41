//! The SST reader and the GloVe loader on the real files in ../shared/data,
//! and on broken copies of them: every error names the file and the line.

use lsmc_runtime::data::sst::{read_glove, read_split, Labels};
use std::io::Write;
use std::path::{Path, PathBuf};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lsmc-sst-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn binary_sst_has_the_standard_split_sizes() {
    let sst = shared().join("sst");
    let sizes: Vec<usize> = ["train.txt", "dev.txt", "test.txt"]
        .iter()
        .map(|f| read_split(&sst.join(f), Labels::Binary).unwrap().len())
        .collect();
    assert_eq!(sizes, [6920, 872, 1821]);
    let fine = read_split(&sst.join("train.txt"), Labels::Fine).unwrap();
    assert_eq!(fine.len(), 8544);
    // The three no-break-space tokens survive as single tokens.
    let nbsp = fine
        .iter()
        .flat_map(|(s, _)| &s.tokens)
        .filter(|t| t.contains('\u{a0}'))
        .count();
    assert_eq!(nbsp, 3);
    let first = &fine[0].0;
    assert_eq!(&first.tokens[..4], ["The", "Rock", "is", "destined"]);
    assert_eq!(first.label, 3);
}

#[test]
fn nearly_every_sst_token_has_a_glove_vector() {
    let g = read_glove(&shared().join("glove/glove.6B.50d.sst.txt.gz"), 50).unwrap();
    assert_eq!(g.index.len(), 17773);
    assert_eq!(g.dim, 50);
    let the = g.get("the").unwrap();
    assert!((the[0] - 0.418).abs() < 1e-6 && (the[1] - 0.24968).abs() < 1e-6);
    let train = read_split(&shared().join("sst/train.txt"), Labels::Binary).unwrap();
    let (mut found, mut total) = (0, 0);
    for (s, _) in &train {
        for t in &s.tokens {
            total += 1;
            found += g.find(t).is_some() as usize;
        }
    }
    let share = found as f64 / total as f64;
    assert!(share > 0.98, "{found} of {total} tokens found");
    assert!(g.find("-LRB-").is_some() && g.find("``").is_some());
}

#[test]
fn broken_tree_files_name_the_file_line_and_column() {
    let d = scratch("trees");
    let good = "(3 (2 A) (3 good))";
    for (name, bad, want) in [
        ("unbalanced", "(3 (2 A) (3 good)", ":2:18: unbalanced"),
        ("label", "(3 (9 A) (3 good))", ":2:5: label `9`"),
        ("extra", "(3 (2 A) (3 good)))", ":2:19: text after"),
    ] {
        let f = d.join(format!("{name}.txt"));
        std::fs::write(&f, format!("{good}\n{bad}\n")).unwrap();
        let e = read_split(&f, Labels::Binary).unwrap_err();
        assert!(
            e.starts_with(&f.display().to_string()) && e.contains(want),
            "{name}: {e}"
        );
    }
}

#[test]
fn broken_vector_files_name_the_file_and_line() {
    let d = scratch("glove");
    let plain = d.join("v.txt");
    std::fs::write(&plain, "a 1 2 3\nb 4 5\n").unwrap();
    let e = read_glove(&plain, 3).unwrap_err();
    assert!(
        e.contains("v.txt:2:") && e.contains("2 values, but dim = 3"),
        "{e}"
    );
    std::fs::write(&plain, "a 1 2 x\n").unwrap();
    let e = read_glove(&plain, 3).unwrap_err();
    assert!(
        e.contains("v.txt:1:") && e.contains("`x` is not a number"),
        "{e}"
    );

    // A gzip file cut short, and one whose bytes were damaged.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..2000 {
        writeln!(gz, "w{i} 0.{i} 1.5 -2").unwrap();
    }
    let bytes = gz.finish().unwrap();
    let whole = d.join("v.txt.gz");
    std::fs::write(&whole, &bytes).unwrap();
    assert_eq!(read_glove(&whole, 3).unwrap().index.len(), 2000);
    let cut = d.join("cut.txt.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = read_glove(&cut, 3).unwrap_err();
    assert!(
        e.contains("cut.txt.gz") && e.contains("corrupt gzip"),
        "{e}"
    );
    let mut damaged = bytes.clone();
    let mid = damaged.len() / 2;
    for b in &mut damaged[mid..mid + 16] {
        *b ^= 0x5a;
    }
    let bad = d.join("bad.txt.gz");
    std::fs::write(&bad, &damaged).unwrap();
    let e = read_glove(&bad, 3).unwrap_err();
    assert!(e.contains("bad.txt.gz"), "{e}");
}

#[test]
fn a_repeated_word_keeps_its_first_vector_wherever_it_repeats() {
    let d = scratch("repeated");
    let f = d.join("v.txt");
    // Repeated in the middle, and as the last line.
    std::fs::write(&f, "a 1 1\nb 2 2\na 3 3\nc 4 4\nc 5 5\n").unwrap();
    let v = read_glove(&f, 2).unwrap();
    assert_eq!(v.index.len(), 3);
    assert_eq!(v.get("a"), Some(&[1.0, 1.0][..]));
    assert_eq!(v.get("b"), Some(&[2.0, 2.0][..]));
    assert_eq!(v.get("c"), Some(&[4.0, 4.0][..]));
}

/// One SparseMAP step of the SST spec through `lsmc bench` with an
/// active-set budget of `max_iter` (exact from 500), with
/// `LSMC_RECORD_PROJECTIONS` set to `record`.
fn step_recording_to(record: &Path, max_iter: usize) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_lsmc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["bench", "models/sst/sparsemap.lsm"])
        .args("--steps 1 --repeats 1 --warmup 0 --threads 2".split(' '))
        .args(["--set", &format!("z=sparsemap(s, max_iter = {max_iter})")])
        .env(lsmc_runtime::latent::projection_record::VARIABLE, record)
        .output()
        .unwrap()
}

#[test]
fn an_exact_step_records_each_sentences_projection_for_replay() {
    use lsmc_runtime::latent::projection_record::parse;
    let dir = scratch("record");
    let record = dir.join("projections.txt");
    let o = step_recording_to(&record, 500);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&record).unwrap();
    // A batch of 32 sentences, each recorded once (the backward reads the
    // forward's saved answers).
    assert_eq!(text.lines().count(), 32);
    for line in text.lines() {
        let p = parse(line).unwrap_or_else(|e| panic!("{e}: {line:.80}"));
        assert!(p.projective && p.single_root, "the spec's trees");
        let n1 = p.n + 1;
        // Scores outside the sentence's arcs (self-loops, into the root)
        // are zero; arcs carry the model's scores.
        assert!((0..n1).all(|i| p.scores[i * n1] == 0.0 && p.scores[i * n1 + i] == 0.0));
        assert!(p.scores.iter().any(|&x| x != 0.0));
    }
}

#[test]
fn a_record_that_cannot_be_opened_is_said_and_the_run_goes_on() {
    let dir = scratch("record-unopenable");
    let o = step_recording_to(&dir.join("no-such-dir").join("p.txt"), 500);
    assert!(o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("LSMC_RECORD_PROJECTIONS: cannot open") && e.contains("no-such-dir"),
        "{e}"
    );
}

#[test]
fn truncated_projections_are_not_recorded() {
    let dir = scratch("record-truncated");
    let record = dir.join("projections.txt");
    let o = step_recording_to(&record, 10);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        !record.exists(),
        "nothing exact was solved, so nothing is written"
    );
}
