//! Attention weights between two texts drawn for people: the words of the
//! attending text down the side, the words attended to across the top,
//! each cell the share of the row word's attention (rows sum to 1). In
//! the terminal as percentages, in SVG as shaded cells.

use crate::tree_draw::{escape_xml, PAD};
use std::fmt::Write;

/// One alignment matrix with its words.
#[derive(Clone, Debug)]
pub struct Heatmap {
    pub title: String,
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    /// `weights[i][j]`: row word `i`'s attention on column word `j`.
    pub weights: Vec<Vec<f64>>,
}

/// A weight as a whole percentage, `·` below half a percent so that the
/// words a row attends to stand out.
fn percent(w: f64) -> String {
    let p = (w * 100.0).round();
    if p < 0.5 {
        "·".to_string()
    } else {
        format!("{p:.0}")
    }
}

/// The matrix as text: a header of the column words, then one line per
/// row word with its percentages right-aligned under the column words.
pub fn terminal(h: &Heatmap) -> String {
    let chars = |s: &str| s.chars().count();
    let side = h.rows.iter().map(|w| chars(w)).max().unwrap_or(0);
    let widths: Vec<usize> = h.columns.iter().map(|w| chars(w).max(3)).collect();
    let mut out = format!("{:side$}", "");
    for (w, width) in h.columns.iter().zip(&widths) {
        let _ = write!(out, " {w:>width$}");
    }
    out.push('\n');
    for (word, row) in h.rows.iter().zip(&h.weights) {
        let _ = write!(out, "{word:<side$}");
        for (&w, width) in row.iter().zip(&widths) {
            let _ = write!(out, " {:>width$}", percent(w));
        }
        out.push('\n');
    }
    out.lines()
        .map(|l| l.trim_end().to_string() + "\n")
        .collect()
}

/// The matrix drawn into `body` from height `y`: a title, the column
/// words slanted above, the row words to the left, cells shaded by their
/// weight and labelled with it when it is at least 0.1. Returns the
/// figure's bottom and the width it needs.
pub fn svg(h: &Heatmap, y: f64, body: &mut String) -> (f64, f64) {
    const CELL: f64 = 26.0;
    const CHAR: f64 = 7.3;
    let chars = |s: &str| s.chars().count() as f64;
    let side = h.rows.iter().map(|w| chars(w)).fold(0.0, f64::max) * CHAR;
    let head = h.columns.iter().map(|w| chars(w)).fold(0.0, f64::max) * CHAR * 0.72;
    let _ = writeln!(
        body,
        r#"<text x="{PAD}" y="{:.1}" class="title">{}</text>"#,
        y + 12.0,
        escape_xml(&h.title)
    );
    let left = PAD + side + 8.0;
    let top = y + 24.0 + head + 8.0;
    for (j, w) in h.columns.iter().enumerate() {
        let (cx, cy) = (left + (j as f64 + 0.5) * CELL, top - 6.0);
        let _ = writeln!(
            body,
            r#"<text x="{cx:.1}" y="{cy:.1}" class="column" transform="rotate(-45 {cx:.1} {cy:.1})">{}</text>"#,
            escape_xml(w)
        );
    }
    for (i, (word, row)) in h.rows.iter().zip(&h.weights).enumerate() {
        let ry = top + i as f64 * CELL;
        let _ = writeln!(
            body,
            r#"<text x="{:.1}" y="{:.1}" class="row">{}</text>"#,
            left - 6.0,
            ry + CELL / 2.0,
            escape_xml(word)
        );
        for (j, &w) in row.iter().enumerate() {
            let rx = left + j as f64 * CELL;
            let w = if w.is_finite() {
                w.clamp(0.0, 1.0)
            } else {
                0.0
            };
            let _ = writeln!(
                body,
                r##"<rect x="{rx:.1}" y="{ry:.1}" width="{CELL}" height="{CELL}" class="cell" fill-opacity="{w:.3}" stroke="#ddd"/>"##
            );
            if w >= 0.1 {
                let fill = if w > 0.55 { "#fff" } else { "#000" };
                let _ = writeln!(
                    body,
                    r#"<text x="{:.1}" y="{:.1}" class="value" fill="{fill}">{w:.2}</text>"#,
                    rx + CELL / 2.0,
                    ry + CELL / 2.0
                );
            }
        }
    }
    let bottom = top + h.rows.len() as f64 * CELL;
    let width =
        (left + h.columns.len() as f64 * CELL + head + PAD).max(2.0 * PAD + chars(&h.title) * 7.0);
    (bottom, width)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> Heatmap {
        Heatmap {
            title: "beta".into(),
            rows: vec!["a".into(), "man".into()],
            columns: vec!["the".into(), "person".into()],
            weights: vec![vec![0.996, 0.004], vec![0.25, 0.75]],
        }
    }

    #[test]
    fn terminal_percentages_sit_under_their_column_words() {
        insta::assert_snapshot!(terminal(&map()), @r"
            the person
        a   100      ·
        man  25     75
        ");
    }

    #[test]
    fn svg_has_a_cell_per_weight_and_labels_the_heavy_ones() {
        let mut body = String::new();
        let (bottom, width) = svg(&map(), 0.0, &mut body);
        assert_eq!(body.matches("class=\"cell\"").count(), 4);
        // 0.996, 0.25 and 0.75 are labelled; 0.004 is not.
        assert_eq!(body.matches("class=\"value\"").count(), 3);
        assert!(body.contains(">person</text>") && body.contains(">man</text>"));
        assert!(bottom > 2.0 * 26.0 && width > 2.0 * 26.0);
    }
}
