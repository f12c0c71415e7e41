//! How long a text a tree latent may read. Exact inference over a tree
//! takes time cubic in its length: on one core of the development machine
//! projective marginals take 30 s at 1,000 words and would take about
//! 8 hours at 10,000 (non-projective ones 1.6 s and about half an hour).
//! A text past the limit is therefore refused before any work, named,
//! instead of running for hours like a hang; `--max-words` moves the limit
//! ([`crate::Context::with_max_words`]). Texts that no tree reads (a
//! categorical latent's, a baseline's) are bounded by memory alone.

use crate::data::Split;
use lsmc_ir::graph::{Graph, Op};
use lsmc_ir::structures::{Axis, Layout};
use lsmc_ir::types::Dim;

/// Words a tree latent's text may have unless `--max-words` says otherwise.
pub const DEFAULT_MAX_WORDS: usize = 1000;

/// Each tree latent's name with the symbol of its text's length (`N` in
/// scores `[B, N+1, N+1]`).
pub fn tree_texts(graph: &Graph) -> Vec<(&str, &'static str)> {
    graph
        .nodes
        .iter()
        .filter_map(|n| match (&n.op, n.dims.as_slice()) {
            (Op::Latent(l), [_, Dim::Sym(s, _), _]) => Some((l.name.as_str(), *s)),
            _ => None,
        })
        .collect()
}

/// Why `which` (a text, an item) may not run: `words` past `max`;
/// `under` says what tree reads it (`under the tree latent `z``).
pub fn too_long(which: &str, words: usize, under: &str, max: usize) -> String {
    format!(
        "{which} has {words} words {under}, more than the limit of {max}: exact inference over a tree takes time cubic in its length (on one core, projective marginals take about 30 s at 1,000 words and 8 hours at 10,000); pass --max-words {words} to run it anyway"
    )
}

/// The first item of a batch of scores in `layout` with more than `max`
/// words: its index and words. Only structures over pairs of words
/// (trees, spans: inference cubic in the length) are bounded; `lengths`
/// gives the items' words (default: all that the scores have room for);
/// one that does not fit the scores is skipped, for the structure's own
/// check to report.
pub fn first_too_long(
    layout: Layout,
    shape: &[usize],
    lengths: Option<&[usize]>,
    max: usize,
) -> Option<(usize, usize)> {
    let mut words = layout.0.iter().enumerate().filter_map(|(i, a)| match a {
        Axis::Words(plus) => Some((i, *plus as usize)),
        _ => None,
    });
    let (axis, plus) = words.next()?;
    words.next()?;
    let room = shape.get(axis).map_or(0, |n| n.saturating_sub(plus));
    (0..shape.first().copied().unwrap_or(0))
        .map(|b| (b, lengths.map_or(Some(room), |l| l.get(b).copied())))
        .find_map(|(b, n)| n.filter(|&n| n <= room && n > max).map(|n| (b, n)))
}

/// `under the tree latent `z``, as errors say it.
pub fn under(latent: &str) -> String {
    format!("under the tree latent `{latent}`")
}

/// The first of the longest texts of `split` that a tree latent reads,
/// refused when it has more than `max` words; `what` names the split.
pub fn check_split<T>(
    graph: &Graph,
    split: &Split<T>,
    what: &str,
    max: usize,
) -> Result<(), String> {
    for (latent, symbol) in tree_texts(graph) {
        let Some(texts) = split.sequences.iter().find(|q| q.symbol == symbol) else {
            continue;
        };
        let longest =
            texts
                .lengths
                .iter()
                .enumerate()
                .fold(None, |best: Option<(usize, usize)>, (i, &n)| match best {
                    Some((_, m)) if m >= n => best,
                    _ => Some((i, n)),
                });
        if let Some((i, n)) = longest.filter(|&(_, n)| n > max) {
            let text = texts.padded.first().map_or(symbol, String::as_str);
            let which = format!("{what}: example {} (its `{text}`)", i + 1);
            return Err(too_long(&which, n, &under(latent), max));
        }
    }
    Ok(())
}
