//! Dependency trees drawn for people, as the paper's Appendix B figures
//! draw them: arcs over the sentence from head to modifier, the root's
//! child marked. In the terminal (box-drawing characters), in SVG, and as
//! CoNLL-U for other tools.

use std::fmt::Write;

/// One sentence's tree: each word's head (0 is the root) and the weight
/// the latent put on that arc (1 for a MAP tree).
#[derive(Clone, Debug)]
pub struct Parse {
    pub words: Vec<String>,
    pub heads: Vec<usize>,
    pub weights: Vec<f64>,
}

/// An arc between two words, with the height it is drawn at: one more
/// than the highest arc under it, so nested arcs never overlap.
struct Arc {
    head: usize,
    modifier: usize,
    level: usize,
}

fn arcs(heads: &[usize]) -> Vec<Arc> {
    let mut arcs: Vec<Arc> = heads
        .iter()
        .enumerate()
        .filter(|(_, &h)| h != 0)
        .map(|(i, &h)| Arc {
            head: h,
            modifier: i + 1,
            level: 1,
        })
        .collect();
    let span = |a: &Arc| (a.head.min(a.modifier), a.head.max(a.modifier));
    arcs.sort_by_key(|a| {
        let (l, r) = span(a);
        r - l
    });
    for i in 0..arcs.len() {
        let (l, r) = span(&arcs[i]);
        let level = arcs[..i]
            .iter()
            .filter(|b| {
                let (bl, br) = span(b);
                l <= bl && br <= r
            })
            .map(|b| b.level + 1)
            .max()
            .unwrap_or(1);
        arcs[i].level = level;
    }
    arcs
}

// A cell of a box drawing: the directions its lines leave in.
pub(crate) const UP: u8 = 1;
pub(crate) const DOWN: u8 = 2;
pub(crate) const LEFT: u8 = 4;
pub(crate) const RIGHT: u8 = 8;
const ARROW: u8 = 16;

pub(crate) fn glyph(mask: u8) -> char {
    if mask & ARROW != 0 {
        return '▼';
    }
    match mask {
        0 => ' ',
        m if m == UP | DOWN => '│',
        m if m == LEFT | RIGHT => '─',
        m if m == DOWN | RIGHT => '┌',
        m if m == DOWN | LEFT => '┐',
        m if m == UP | RIGHT => '└',
        m if m == UP | LEFT => '┘',
        m if m == UP | DOWN | RIGHT => '├',
        m if m == UP | DOWN | LEFT => '┤',
        m if m == LEFT | RIGHT | DOWN => '┬',
        m if m == LEFT | RIGHT | UP => '┴',
        m if m == UP | DOWN | LEFT | RIGHT => '┼',
        m if m & (UP | DOWN) != 0 => '│',
        _ => '─',
    }
}

/// The column each word is centred on, and where each word starts.
pub(crate) fn layout(words: &[String]) -> (Vec<usize>, Vec<usize>) {
    let (mut centre, mut start) = (Vec::new(), Vec::new());
    let mut x = 0;
    for w in words {
        let n = w.chars().count().max(1);
        start.push(x);
        centre.push(x + (n - 1) / 2);
        x += n + 1;
    }
    (centre, start)
}

/// The tree drawn over the sentence with box-drawing characters: each arc
/// leaves its head and ends in `▼` over its modifier; `root` marks the
/// word attached to the root.
pub fn terminal(p: &Parse) -> String {
    let n = p.words.len();
    if n == 0 {
        return String::new();
    }
    let (centre, _) = layout(&p.words);
    let width = centre[n - 1] + p.words[n - 1].chars().count() + 4;
    let arcs = arcs(&p.heads);
    let top = arcs.iter().map(|a| a.level).max().unwrap_or(0);
    // Row 0 names the root; rows 1..=top hold the arcs, highest first; the
    // last row holds the arrowheads.
    let arrows = top + 1;
    let mut grid = vec![vec![0u8; width]; arrows + 1];
    let row_of = |level: usize| top + 1 - level;
    let mut label = vec![' '; width];
    for a in &arcs {
        let (h, m) = (centre[a.head - 1], centre[a.modifier - 1]);
        let (l, r) = (h.min(m), h.max(m));
        let row = row_of(a.level);
        grid[row][l] |= RIGHT | DOWN;
        grid[row][r] |= LEFT | DOWN;
        for cell in &mut grid[row][l + 1..r] {
            *cell |= LEFT | RIGHT;
        }
        for line in grid.iter_mut().take(arrows).skip(row + 1) {
            line[l] |= UP | DOWN;
            line[r] |= UP | DOWN;
        }
        grid[arrows][h] |= UP | DOWN;
        grid[arrows][m] |= ARROW;
    }
    for (i, &h) in p.heads.iter().enumerate() {
        if h == 0 {
            let c = centre[i];
            for line in grid.iter_mut().take(arrows).skip(1) {
                line[c] |= UP | DOWN;
            }
            grid[arrows][c] |= ARROW;
            let from = c.saturating_sub(2);
            for (k, ch) in "root".chars().enumerate() {
                if from + k < width {
                    label[from + k] = ch;
                }
            }
        }
    }
    let mut out = String::new();
    let mut push = |line: String| {
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push(label.into_iter().collect());
    for row in &grid[1..] {
        push(row.iter().map(|&m| glyph(m)).collect());
    }
    push(p.words.join(" "));
    out
}

pub(crate) fn escape_xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A sentence for the SVG: its title line and its tree.
pub struct Figure {
    pub title: String,
    pub parse: Parse,
}

/// One figure of an SVG document: a tree over a sentence, tags under its
/// words, a bracketing over them, or a matrix of attention weights
/// between two texts.
pub enum Panel {
    Tree(Figure),
    Tags(crate::chain_draw::TagsFigure),
    Brackets(crate::chain_draw::BracketsFigure),
    Heatmap(crate::heatmap::Heatmap),
}

/// The SVG document's margin.
pub(crate) const PAD: f64 = 16.0;

/// Every panel stacked in one SVG document, trees as [`tree_svg`] draws
/// them, tags and bracketings as [`crate::chain_draw`] does, and matrices
/// as [`crate::heatmap::svg`] does.
pub fn svg(panels: &[Panel]) -> String {
    let mut body = String::new();
    let mut y = PAD;
    let mut width: f64 = 200.0;
    for panel in panels {
        let (bottom, w) = match panel {
            Panel::Tree(f) => tree_svg(f, y, &mut body),
            Panel::Tags(f) => crate::chain_draw::tags_svg(f, y, &mut body),
            Panel::Brackets(f) => crate::chain_draw::brackets_svg(f, y, &mut body),
            Panel::Heatmap(h) => crate::heatmap::svg(h, y, &mut body),
        };
        width = width.max(w);
        y = bottom + 2.0 * PAD;
    }
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{y:.0}" viewBox="0 0 {width:.0} {y:.0}">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="5" refY="9" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 0 L 5 10 z" fill="#1f77b4"/></marker></defs>
<style>
.word {{ font: 14px monospace; fill: #000; }}
.title {{ font: 12px sans-serif; fill: #444; }}
.weight {{ font: 10px sans-serif; fill: #1f77b4; text-anchor: middle; }}
.root {{ font: 10px sans-serif; fill: #1f77b4; text-anchor: middle; }}
.arc {{ fill: none; stroke: #1f77b4; stroke-width: 1.5; }}
.tag {{ font: 14px monospace; fill: #1f77b4; }}
.tagweight {{ font: 10px sans-serif; fill: #1f77b4; }}
.bracket {{ fill: none; stroke: #1f77b4; stroke-width: 1.5; }}
.row {{ font: 12px monospace; fill: #000; text-anchor: end; dominant-baseline: middle; }}
.column {{ font: 12px monospace; fill: #000; }}
.cell {{ fill: #1f77b4; }}
.value {{ font: 9px sans-serif; text-anchor: middle; dominant-baseline: middle; }}
</style>
<rect width="100%" height="100%" fill="#fff"/>
{body}</svg>
"##
    )
}

/// One tree figure drawn into `body` from height `y`: words in a
/// monospace font, arcs as curves whose height grows with their level,
/// arrowheads on the modifiers, and arcs the latent weighted below 1
/// drawn fainter and labelled with their weight. Returns the figure's
/// bottom and the width it needs.
fn tree_svg(f: &Figure, y: f64, body: &mut String) -> (f64, f64) {
    const CHAR: f64 = 8.4;
    const LEVEL: f64 = 22.0;
    let p = &f.parse;
    let (centre, start) = layout(&p.words);
    let x = |col: usize| PAD + (col as f64 + 0.5) * CHAR;
    let arcs = arcs(&p.heads);
    let top = arcs.iter().map(|a| a.level).max().unwrap_or(0) as f64;
    let _ = writeln!(
        body,
        r#"<text x="{PAD}" y="{:.1}" class="title">{}</text>"#,
        y + 12.0,
        escape_xml(&f.title)
    );
    let base = y + 30.0 + (top + 1.0) * LEVEL;
    for (i, w) in p.words.iter().enumerate() {
        let _ = writeln!(
            body,
            r#"<text x="{:.1}" y="{:.1}" class="word">{}</text>"#,
            PAD + start[i] as f64 * CHAR,
            base + 14.0,
            escape_xml(w)
        );
    }
    let opacity = |w: f64| 0.25 + 0.75 * w.clamp(0.0, 1.0);
    for a in &arcs {
        let (xh, xm) = (x(centre[a.head - 1]), x(centre[a.modifier - 1]));
        let h = a.level as f64 * LEVEL;
        let w = p.weights[a.modifier - 1];
        let _ = writeln!(
            body,
            r#"<path d="M {xh:.1} {b:.1} C {xh:.1} {t:.1}, {xm:.1} {t:.1}, {xm:.1} {b:.1}" class="arc" stroke-opacity="{o:.2}" marker-end="url(#arrow)"/>"#,
            b = base,
            t = base - h * 1.3,
            o = opacity(w)
        );
        if w < 0.995 {
            let _ = writeln!(
                body,
                r#"<text x="{:.1}" y="{:.1}" class="weight">{w:.2}</text>"#,
                (xh + xm) / 2.0,
                base - h
            );
        }
    }
    for (i, &hd) in p.heads.iter().enumerate() {
        if hd == 0 {
            let xm = x(centre[i]);
            let t = base - (top + 1.0) * LEVEL;
            let _ = writeln!(
                body,
                r#"<line x1="{xm:.1}" y1="{t:.1}" x2="{xm:.1}" y2="{base:.1}" class="arc" stroke-opacity="{o:.2}" marker-end="url(#arrow)"/>"#,
                o = opacity(p.weights[i])
            );
            let _ = writeln!(
                body,
                r#"<text x="{xm:.1}" y="{:.1}" class="root">ROOT</text>"#,
                t - 4.0
            );
        }
    }
    let line = p.words.iter().map(|w| w.chars().count() + 1).sum::<usize>() as f64;
    let width = (2.0 * PAD + line * CHAR).max(2.0 * PAD + f.title.chars().count() as f64 * 7.0);
    (base + 14.0, width)
}

/// What a CoNLL-U line says of a word beside its head: XPOS (a sequence
/// latent's tag) and further MISC entries (`Key=Value`).
#[derive(Clone, Debug, Default)]
pub struct WordNotes {
    pub xpos: Option<String>,
    pub misc: Vec<String>,
}

/// One sentence in CoNLL-U: comment lines, then a line per word with its
/// head (`root` for the root's child, `dep` otherwise) and, when the
/// latent gave the arc less than all its weight, `Weight=` in MISC; word
/// `i`'s `notes[i]`, when given, fill XPOS and add to MISC.
pub fn conllu(id: &str, comments: &[(String, String)], p: &Parse, notes: &[WordNotes]) -> String {
    let mut out = format!("# sent_id = {id}\n");
    for (k, v) in comments {
        let _ = writeln!(out, "# {k} = {v}");
    }
    let none = WordNotes::default();
    for (i, w) in p.words.iter().enumerate() {
        let h = p.heads[i];
        let note = notes.get(i).unwrap_or(&none);
        let mut misc = Vec::new();
        if p.weights[i] < 0.995 {
            misc.push(format!("Weight={:.4}", p.weights[i]));
        }
        misc.extend(note.misc.iter().cloned());
        let misc = if misc.is_empty() {
            "_".to_string()
        } else {
            misc.join("|")
        };
        let _ = writeln!(
            out,
            "{}\t{}\t_\t_\t{}\t_\t{}\t{}\t_\t{}",
            i + 1,
            w,
            note.xpos.as_deref().unwrap_or("_"),
            h,
            if h == 0 { "root" } else { "dep" },
            misc
        );
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &str, heads: &[usize]) -> Parse {
        Parse {
            words: words.split(' ').map(str::to_string).collect(),
            heads: heads.to_vec(),
            weights: vec![1.0; heads.len()],
        }
    }

    #[test]
    fn nested_arcs_are_drawn_above_the_arcs_they_cover() {
        // root → b, b → a, b → c: two arcs of one level either side.
        let got = terminal(&parse("a b c", &[2, 0, 2]));
        insta::assert_snapshot!(got, @r"
        root
        ┌─┼─┐
        ▼ ▼ ▼
        a b c
        ");
        // root → x, x → y, x → z: the arc to z covers the arc to y.
        let got = terminal(&parse("x y z", &[0, 1, 1]));
        insta::assert_snapshot!(got, @r"
        root
        ├───┐
        ├─┐ │
        ▼ ▼ ▼
        x y z
        ");
    }

    #[test]
    fn levels_grow_with_the_arcs_underneath() {
        let a = arcs(&[0, 1, 2, 1]);
        let level = |h, m| {
            a.iter()
                .find(|x| x.head == h && x.modifier == m)
                .unwrap()
                .level
        };
        assert_eq!(level(1, 2), 1);
        assert_eq!(level(2, 3), 1);
        assert_eq!(level(1, 4), 2);
    }

    #[test]
    fn conllu_lines_have_ten_columns_and_the_root_is_marked() {
        let mut p = parse("good film", &[2, 0]);
        p.weights[0] = 0.25;
        let s = conllu("7", &[("text".into(), "good film".into())], &p, &[]);
        assert_eq!(
            s,
            "# sent_id = 7\n# text = good film\n1\tgood\t_\t_\t_\t_\t2\tdep\t_\tWeight=0.2500\n2\tfilm\t_\t_\t_\t_\t0\troot\t_\t_\n\n"
        );
    }

    #[test]
    fn conllu_notes_fill_xpos_and_join_misc_after_the_arc_weight() {
        let mut p = parse("good film", &[2, 0]);
        p.weights[0] = 0.25;
        let notes = [
            WordNotes {
                xpos: Some("t1".into()),
                misc: vec!["TagWeight=0.6000".into()],
            },
            WordNotes {
                xpos: Some("t0".into()),
                misc: vec![],
            },
        ];
        let s = conllu("7", &[], &p, &notes);
        assert_eq!(
            s,
            "# sent_id = 7\n1\tgood\t_\t_\tt1\t_\t2\tdep\t_\tWeight=0.2500|TagWeight=0.6000\n2\tfilm\t_\t_\tt0\t_\t0\troot\t_\t_\n\n"
        );
    }
}
