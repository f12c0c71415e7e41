//! Tag sequences and constituency trees drawn for people: each word over
//! its tag (`t3`), with the tag's weight when the latent was relaxed; and
//! binary bracketings as a bracketed string (`((the movie) (was great))`)
//! and as brackets joining the words of each span, parents below their
//! children. In the terminal, in SVG, and as CoNLL-U notes.
//!
//! Tags are numbered from 0 as in the latent's layout (`z[b][i][p][c]`,
//! tag `c`); spans are `i..=j`, words from 0, as in `z[b][i][j]`.

use crate::tree_draw::{escape_xml, glyph, layout, DOWN, LEFT, PAD, RIGHT, UP};
use lsmc_runtime::latent::constituency::{self, Span};
use std::collections::HashMap;
use std::fmt::Write;

/// A weight at least this close to 1 is shown as whole (the threshold
/// tree arcs use too): rounding keeps a MAP structure's weights at 1.
pub const WHOLE: f64 = 0.995;

/// Whether a weight is less than whole, and so worth showing (a NaN
/// weight is shown too, not hidden).
pub fn is_partial(w: f64) -> bool {
    w.is_nan() || w < WHOLE
}

/// One sentence's tags under a sequence latent.
#[derive(Clone, Debug)]
pub struct Tagging {
    pub words: Vec<String>,
    /// Each word's tag, numbered from 0.
    pub tags: Vec<usize>,
    /// The weight the latent's value gave each word's tag (1 on a MAP path).
    pub weights: Vec<f64>,
    /// For a relaxed latent, every tag's weight per word (`[n][K]`).
    pub distribution: Option<Vec<Vec<f64>>>,
}

impl Tagging {
    /// Whether some word's tag had less than its whole weight, so that
    /// the weights are worth showing.
    pub fn partial(&self) -> bool {
        self.weights.iter().any(|&w| is_partial(w))
    }
}

/// A tag as people read it: `t` and its number.
pub fn tag_name(tag: usize) -> String {
    format!("t{tag}")
}

/// A weight as a whole percentage with its sign, `97%`.
fn percent(w: f64) -> String {
    format!("{:.0}%", w * 100.0)
}

/// The rows of a tag table: the words, their tags, and the tags' weights
/// when some are partial.
fn tag_rows(t: &Tagging) -> Vec<Vec<String>> {
    let mut rows = vec![
        t.words.clone(),
        t.tags.iter().map(|&c| tag_name(c)).collect(),
    ];
    if t.partial() {
        rows.push(t.weights.iter().map(|&w| percent(w)).collect());
    }
    rows
}

/// Where each column of `rows` starts, in characters: a column is as wide
/// as its widest cell, and one space separates columns.
fn column_starts(rows: &[Vec<String>]) -> Vec<usize> {
    let n = rows.first().map_or(0, Vec::len);
    let mut starts = Vec::with_capacity(n);
    let mut x = 0;
    for i in 0..n {
        starts.push(x);
        let width = rows
            .iter()
            .filter_map(|r| r.get(i))
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0);
        x += width.max(1) + 1;
    }
    starts
}

/// The tags in the terminal: the words on one line, each word's tag under
/// it, and, when some tag had less than its whole weight, each tag's
/// weight in percent on a third line.
pub fn terminal_tags(t: &Tagging) -> String {
    let rows = tag_rows(t);
    let starts = column_starts(&rows);
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (cell, &start) in row.iter().zip(&starts) {
            let at = line.chars().count();
            line.push_str(&" ".repeat(start - at));
            line.push_str(cell);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One sentence's bracketing under a constituency latent.
#[derive(Clone, Debug)]
pub struct Bracketing {
    pub words: Vec<String>,
    /// The `2n − 1` spans in preorder (see [`constituency::spans`]).
    pub spans: Vec<Span>,
    /// The weight the latent's value gave each span, `z[i][j]` (1 in a
    /// MAP tree).
    pub weights: Vec<f64>,
}

impl Bracketing {
    /// The bracketing of `words` whose internal spans split at `splits`
    /// in preorder (the engine's decoding), each span weighted by
    /// `weight(i, j)`; `None` when `splits` is no bracketing of the words.
    pub fn new(
        words: Vec<String>,
        splits: &[usize],
        weight: impl Fn(usize, usize) -> f64,
    ) -> Option<Bracketing> {
        let spans = constituency::spans(words.len(), splits)?;
        let weights = spans.iter().map(|s| weight(s.i, s.j)).collect();
        Some(Bracketing {
            words,
            spans,
            weights,
        })
    }

    /// Whether some span had less than its whole weight.
    pub fn partial(&self) -> bool {
        self.weights.iter().any(|&w| is_partial(w))
    }

    /// The bracketed string: each span of two or more words in
    /// parentheses, words between spaces, `((the movie) (was great))`; a
    /// single word stands alone. `(` and `)` in words are written `-LRB-`
    /// and `-RRB-`, as treebanks do, so the string reads back unambiguously.
    pub fn bracketed(&self) -> String {
        let n = self.words.len();
        let (mut opens, mut closes) = (vec![0; n], vec![0; n]);
        for s in self.spans.iter().filter(|s| s.i < s.j) {
            opens[s.i] += 1;
            closes[s.j] += 1;
        }
        let words: Vec<String> = self
            .words
            .iter()
            .enumerate()
            .map(|(w, word)| {
                let word = word.replace('(', "-LRB-").replace(')', "-RRB-");
                format!("{}{word}{}", "(".repeat(opens[w]), ")".repeat(closes[w]))
            })
            .collect();
        words.join(" ")
    }

    /// Each span's height (0 for a word, else one more than its taller
    /// child) and the character column it is drawn from (a word's centre,
    /// else midway between its children's), by `(i, j)`.
    fn placed(&self, centre: &[usize]) -> HashMap<(usize, usize), (usize, usize)> {
        let mut at: HashMap<(usize, usize), (usize, usize)> =
            HashMap::with_capacity(self.spans.len());
        // In preorder children come after their parent: walking backwards
        // places both children first.
        for s in self.spans.iter().rev() {
            let place = match s.split {
                None => (0, centre[s.i]),
                Some(k) => {
                    let (hl, xl) = at[&(s.i, k)];
                    let (hr, xr) = at[&(k + 1, s.j)];
                    (1 + hl.max(hr), (xl + xr) / 2)
                }
            };
            at.insert((s.i, s.j), place);
        }
        at
    }
}

/// The bracketing in the terminal: the words, then one row per level
/// below them, each span of two or more words drawn as `└──┬──┘` from
/// its first child to its second, its `┬` leading down to its parent;
/// a child more than a level above its parent reaches it with `│`.
pub fn terminal_brackets(b: &Bracketing) -> String {
    let n = b.words.len();
    if n == 0 {
        return String::new();
    }
    let (centre, start) = layout(&b.words);
    let width = start[n - 1] + b.words[n - 1].chars().count().max(1);
    let at = b.placed(&centre);
    let rows = at.values().map(|&(h, _)| h).max().unwrap_or(0);
    let mut grid = vec![vec![0u8; width]; rows];
    for s in &b.spans {
        let Some(k) = s.split else { continue };
        let (h, x) = at[&(s.i, s.j)];
        let row = &mut grid[h - 1];
        let children = [at[&(s.i, k)], at[&(k + 1, s.j)]];
        let (xl, xr) = (children[0].1, children[1].1);
        row[xl] |= UP | RIGHT;
        row[xr] |= UP | LEFT;
        for cell in &mut row[xl + 1..xr] {
            *cell |= LEFT | RIGHT;
        }
        row[x] |= DOWN;
        for (hc, xc) in children {
            for line in &mut grid[hc..h - 1] {
                line[xc] |= UP | DOWN;
            }
        }
    }
    let mut out = b.words.join(" ");
    out.push('\n');
    for row in &grid {
        let line: String = row.iter().map(|&m| glyph(m)).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A sentence's tags for the SVG, with the panel's title.
pub struct TagsFigure {
    pub title: String,
    pub tagging: Tagging,
}

/// A sentence's bracketing for the SVG, with the panel's title.
pub struct BracketsFigure {
    pub title: String,
    pub bracketing: Bracketing,
}

/// The width of a monospace character in the SVG, as trees use it.
const CHAR: f64 = 8.4;

/// The panel's title line, drawn into `body` from height `y`.
fn title_svg(title: &str, y: f64, body: &mut String) {
    let _ = writeln!(
        body,
        r#"<text x="{PAD}" y="{:.1}" class="title">{}</text>"#,
        y + 12.0,
        escape_xml(title)
    );
}

/// The width a panel needs for `chars` characters of monospace text and
/// its title.
fn panel_width(chars: usize, title: &str) -> f64 {
    (2.0 * PAD + chars as f64 * CHAR).max(2.0 * PAD + title.chars().count() as f64 * 7.0)
}

/// One tag table drawn into `body` from height `y`: the words in a
/// monospace font, each word's tag under it, fainter the less weight it
/// had, and the weights in percent under the tags when some are partial.
/// Returns the figure's bottom and the width it needs.
pub fn tags_svg(f: &TagsFigure, y: f64, body: &mut String) -> (f64, f64) {
    const LINE: f64 = 18.0;
    let t = &f.tagging;
    let rows = tag_rows(t);
    let starts = column_starts(&rows);
    title_svg(&f.title, y, body);
    let x = |i: usize| PAD + starts[i] as f64 * CHAR;
    let base = y + 30.0 + LINE;
    for (i, w) in t.words.iter().enumerate() {
        let _ = writeln!(
            body,
            r#"<text x="{:.1}" y="{base:.1}" class="word">{}</text>"#,
            x(i),
            escape_xml(w)
        );
        let _ = writeln!(
            body,
            r#"<text x="{:.1}" y="{:.1}" class="tag" fill-opacity="{:.2}">{}</text>"#,
            x(i),
            base + LINE,
            opacity(t.weights[i]),
            tag_name(t.tags[i])
        );
    }
    let mut bottom = base + LINE;
    if let Some(weights) = rows.get(2) {
        bottom += LINE;
        for (i, w) in weights.iter().enumerate() {
            let _ = writeln!(
                body,
                r#"<text x="{:.1}" y="{bottom:.1}" class="tagweight">{w}</text>"#,
                x(i)
            );
        }
    }
    let chars = starts.last().map_or(0, |&s| {
        s + rows
            .iter()
            .filter_map(|r| r.last())
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0)
    });
    (bottom, panel_width(chars, &f.title))
}

/// How opaque a line or label of weight `w` is drawn: faint, never
/// invisible, for the lightest.
fn opacity(w: f64) -> f64 {
    if w.is_finite() {
        0.25 + 0.75 * w.clamp(0.0, 1.0)
    } else {
        0.25
    }
}

/// One bracketing drawn into `body` from height `y`, as a tree over the
/// words: each span of two or more words a bracket from its first child's
/// node up to its own level and down to its second child's, spans the
/// latent weighted below 1 drawn fainter and labelled with their weight.
/// Returns the figure's bottom and the width it needs.
pub fn brackets_svg(f: &BracketsFigure, y: f64, body: &mut String) -> (f64, f64) {
    const LEVEL: f64 = 20.0;
    let b = &f.bracketing;
    let (centre, start) = layout(&b.words);
    let at = b.placed(&centre);
    let top = at.values().map(|&(h, _)| h).max().unwrap_or(0) as f64;
    title_svg(&f.title, y, body);
    let base = y + 30.0 + (top + 0.5) * LEVEL;
    let x = |col: usize| PAD + (col as f64 + 0.5) * CHAR;
    // A span's node: its level above the words' tops.
    let node_y = |h: usize| base - 2.0 - h as f64 * LEVEL;
    for (i, w) in b.words.iter().enumerate() {
        let _ = writeln!(
            body,
            r#"<text x="{:.1}" y="{:.1}" class="word">{}</text>"#,
            PAD + start[i] as f64 * CHAR,
            base + 14.0,
            escape_xml(w)
        );
    }
    for (s, &w) in b.spans.iter().zip(&b.weights) {
        let Some(k) = s.split else { continue };
        let (h, xp) = at[&(s.i, s.j)];
        let ((hl, xl), (hr, xr)) = (at[&(s.i, k)], at[&(k + 1, s.j)]);
        let yp = node_y(h);
        let _ = writeln!(
            body,
            r#"<path d="M {:.1} {:.1} V {yp:.1} H {:.1} V {:.1}" class="bracket" stroke-opacity="{:.2}"/>"#,
            x(xl),
            node_y(hl),
            x(xr),
            node_y(hr),
            opacity(w)
        );
        if is_partial(w) {
            // Left of the span's stem, above its bar: nothing else is drawn there.
            let _ = writeln!(
                body,
                r#"<text x="{:.1}" y="{:.1}" class="weight" style="text-anchor: end">{w:.2}</text>"#,
                x(xp) - 3.0,
                yp - 3.0
            );
        }
    }
    let chars = b.words.iter().map(|w| w.chars().count() + 1).sum::<usize>();
    (base + 14.0, panel_width(chars, &f.title))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    fn tagging(s: &str, tags: &[usize], weights: &[f64]) -> Tagging {
        Tagging {
            words: words(s),
            tags: tags.to_vec(),
            weights: weights.to_vec(),
            distribution: None,
        }
    }

    /// The bracketing of `s` with every span of the whole weight.
    fn bracketing(s: &str, splits: &[usize]) -> Bracketing {
        Bracketing::new(words(s), splits, |_, _| 1.0).expect("a bracketing")
    }

    #[test]
    fn map_tags_sit_under_their_words_without_weights() {
        let t = tagging("the movie was great", &[0, 2, 1, 0], &[1.0; 4]);
        assert!(!t.partial());
        insta::assert_snapshot!(terminal_tags(&t), @r"
        the movie was great
        t0  t2    t1  t0
        ");
    }

    #[test]
    fn partial_tags_get_a_line_of_percentages_and_wide_cells_widen_columns() {
        // `a` is narrower than its tag and `100%`; 0.996 counts as whole.
        let t = tagging("a fine film", &[12, 3, 0], &[0.996, 0.5, 0.254]);
        assert!(t.partial());
        insta::assert_snapshot!(terminal_tags(&t), @r"
        a    fine film
        t12  t3   t0
        100% 50%  25%
        ");
    }

    #[test]
    fn bracketed_strings_parenthesise_every_span_of_two_or_more_words() {
        // ((the movie) (was great)): the whole splits after `movie`.
        let b = bracketing("the movie was great", &[1, 0, 2]);
        assert_eq!(b.bracketed(), "((the movie) (was great))");
        // Right-branching, and brackets inside words escaped.
        let b = bracketing("so ( really )", &[0, 1, 2]);
        assert_eq!(b.bracketed(), "(so (-LRB- (really -RRB-)))");
        assert_eq!(bracketing("alone", &[]).bracketed(), "alone");
        assert!(Bracketing::new(words("a b"), &[1], |_, _| 1.0).is_none());
    }

    #[test]
    fn span_weights_are_read_at_each_span_in_preorder() {
        let b = Bracketing::new(words("a b c"), &[0, 1], |i, j| (10 * i + j) as f64).unwrap();
        let spans: Vec<(usize, usize)> = b.spans.iter().map(|s| (s.i, s.j)).collect();
        assert_eq!(spans, [(0, 2), (0, 0), (1, 2), (1, 1), (2, 2)]);
        assert_eq!(b.weights, [2.0, 0.0, 12.0, 11.0, 22.0]);
        assert!(b.partial());
    }

    #[test]
    fn brackets_join_sibling_spans_one_level_below_the_taller() {
        let got = terminal_brackets(&bracketing("the movie was great", &[1, 0, 2]));
        insta::assert_snapshot!(got, @r"
        the movie was great
         └─┬──┘    └─┬──┘
           └────┬────┘
        ");
    }

    #[test]
    fn a_word_joining_a_taller_sibling_reaches_down_with_a_vertical() {
        // (so (very (good film))): `so` joins at the third level.
        let got = terminal_brackets(&bracketing("so very good film", &[0, 1, 2]));
        insta::assert_snapshot!(got, @r"
        so very good film
        │   │    └─┬──┘
        │   └──┬───┘
        └──┬───┘
        ");
    }

    #[test]
    fn one_word_has_no_brackets_and_no_words_draw_nothing() {
        assert_eq!(terminal_brackets(&bracketing("alone", &[])), "alone\n");
        let none = Bracketing::new(Vec::new(), &[], |_, _| 1.0).unwrap();
        assert_eq!(terminal_brackets(&none), "");
        assert_eq!(none.bracketed(), "");
    }

    #[test]
    fn svg_tags_show_every_tag_and_weights_only_when_partial() {
        let figure = |weights: &[f64]| TagsFigure {
            title: "z".into(),
            tagging: tagging("good film", &[1, 0], weights),
        };
        let mut body = String::new();
        tags_svg(&figure(&[1.0, 1.0]), 0.0, &mut body);
        assert_eq!(body.matches(r#"class="tag""#).count(), 2);
        assert!(body.contains(">t1</text>") && body.contains(">film</text>"));
        assert_eq!(body.matches(r#"class="tagweight""#).count(), 0);
        let mut body = String::new();
        let (bottom, width) = tags_svg(&figure(&[0.5, 1.0]), 0.0, &mut body);
        assert_eq!(body.matches(r#"class="tagweight""#).count(), 2);
        assert!(body.contains(">50%</text>"));
        assert!(bottom > 3.0 * 18.0 && width > 2.0 * PAD);
    }

    #[test]
    fn svg_brackets_draw_one_bracket_per_internal_span_and_label_light_ones() {
        let mut b = bracketing("the movie was great", &[1, 0, 2]);
        // The span `was great` (preorder index 4) got 0.4 of its weight.
        b.weights[4] = 0.4;
        let mut body = String::new();
        brackets_svg(
            &BracketsFigure {
                title: "z".into(),
                bracketing: b,
            },
            0.0,
            &mut body,
        );
        assert_eq!(body.matches(r#"class="bracket""#).count(), 3);
        assert_eq!(body.matches(r#"class="word""#).count(), 4);
        assert_eq!(body.matches(r#"class="weight""#).count(), 1);
        assert!(body.contains(">0.40</text>"));
    }
}
