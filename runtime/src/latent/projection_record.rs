//! Records the scores of exact tree projections (SparseMAP, SPIGOT-CE's
//! exact step) so that the solver can be timed and studied alone on the
//! scores a real model produced: set `LSMC_RECORD_PROJECTIONS=path` for
//! any `lsmc` command, then replay the file with
//! `cargo run --release -p lsmc-runtime --example replay_projections -- path`.
//!
//! One line per projection solved forward (a VJP's re-solve is not
//! recorded again; empty sentences are skipped): the sentence length, `1`
//! or `0` for a single root, `1` or `0` for projective trees, then the
//! `(n+1)²` row-major arc scores, each finite score written so that it
//! reads back to the same bits (a NaN reads back as a NaN, not its
//! payload). Lines are appended whole (one write each, under a lock), so
//! a process's workers never interleave them; several processes given
//! the same file (a sweep's runs) append in turn, so give each its own.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

/// The environment variable naming the file to append to.
pub const VARIABLE: &str = "LSMC_RECORD_PROJECTIONS";

/// The open record, looked up once per process: `None` when the variable
/// is unset (the usual case: one cached load per exact projection).
fn sink() -> Option<&'static Mutex<std::fs::File>> {
    static SINK: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    SINK.get_or_init(|| {
        let path = std::env::var_os(VARIABLE)?;
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            Ok(f) => Some(Mutex::new(f)),
            Err(e) => {
                eprintln!(
                    "warning: {VARIABLE}: cannot open {} to append projections ({e}); \
                     nothing is recorded",
                    std::path::Path::new(&path).display()
                );
                None
            }
        }
    })
    .as_ref()
}

/// Appends one projection's scores when recording is on. A failed write
/// is said once on standard error and recording stops; training goes on.
pub fn record(n: usize, single_root: bool, projective: bool, scores: &[f64]) {
    static FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let Some(sink) = sink() else { return };
    if n == 0 || FAILED.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let text = line(n, single_root, projective, scores);
    let mut file = sink.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = file.write_all(text.as_bytes()) {
        if !FAILED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            eprintln!("warning: {VARIABLE}: recording stopped: {e}");
        }
    }
}

/// One record's text, newline included.
pub fn line(n: usize, single_root: bool, projective: bool, scores: &[f64]) -> String {
    use std::fmt::Write as _;
    let mut text = format!("{n} {} {}", u8::from(single_root), u8::from(projective));
    for x in scores {
        // `{:?}` prints the shortest decimal that reads back to the same f64.
        write!(text, " {x:?}").expect("writing to a String cannot fail");
    }
    text.push('\n');
    text
}

/// One recorded projection, read back.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    pub n: usize,
    pub single_root: bool,
    pub projective: bool,
    pub scores: Vec<f64>,
}

/// Reads one line of a record; the error says what is wrong with it.
pub fn parse(text: &str) -> Result<Projection, String> {
    let mut fields = text.split_ascii_whitespace();
    let n: usize = fields
        .next()
        .ok_or("an empty line")?
        .parse()
        .map_err(|e| format!("the sentence length: {e}"))?;
    let mut flag = |name: &str| match fields.next() {
        Some("1") => Ok(true),
        Some("0") => Ok(false),
        other => Err(format!("the {name} flag must be 1 or 0, found {other:?}")),
    };
    let single_root = flag("root")?;
    let projective = flag("projective")?;
    let scores = fields
        .enumerate()
        .map(|(i, x)| x.parse().map_err(|e| format!("score {i} ({x:?}): {e}")))
        .collect::<Result<Vec<f64>, String>>()?;
    if n == 0 {
        return Err("a sentence of 0 words: nothing to project".into());
    }
    let want = n
        .checked_add(1)
        .and_then(|n1| n1.checked_mul(n1))
        .ok_or_else(|| format!("a sentence length of {n} has no (n+1)² layout"))?;
    if scores.len() != want {
        return Err(format!(
            "{} scores for a sentence of {n} words: expected (n+1)² = {want}",
            scores.len()
        ));
    }
    Ok(Projection {
        n,
        single_root,
        projective,
        scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_to_the_same_bits() {
        let scores = [
            0.1,
            -1.0 / 3.0,
            1e-300,
            f64::MAX,
            -0.0,
            2.5e17,
            0.0,
            7.0,
            -5e-324,
        ];
        let back = parse(line(2, true, false, &scores).trim_end()).unwrap();
        assert_eq!(
            (back.n, back.single_root, back.projective),
            (2, true, false)
        );
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back.scores), bits(&scores));
        let back = parse(&line(2, false, true, &scores)).unwrap();
        assert_eq!((back.single_root, back.projective), (false, true));
    }

    #[test]
    fn a_malformed_record_says_what_is_wrong() {
        let cases = [
            ("", "an empty line"),
            ("x 1 1 0", "the sentence length"),
            ("1 2 1 0 0 0 0", "the root flag"),
            ("1 1 y 0 0 0 0", "the projective flag"),
            ("1 1", "the projective flag must be 1 or 0, found None"),
            ("1 1 1 0 0 zero 0", "score 2 (\"zero\")"),
            (
                "1 1 1 0 0 0",
                "3 scores for a sentence of 1 words: expected (n+1)² = 4",
            ),
            ("0 1 1 0", "a sentence of 0 words"),
            ("18446744073709551615 1 1", "no (n+1)² layout"),
        ];
        for (text, says) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}
