//! Predictions with a trained run for `lsmc predict`: sentences or
//! sentence pairs classified, with the structure each latent induced over
//! its text (a tree's arcs drawn over the words, a sequence's tags under
//! them, a bracketing's spans joined below them) and each attention
//! matrix between two texts, in the terminal, CoNLL-U, JSON or an SVG
//! figure.
//!
//! Input comes from a split of the model's own data or from a file: for
//! SST models one sentence a line ([`read_sentences`]); for table data
//! (SNLI, SICK, a user's own) records in the data's own format and fields,
//! the label optional ([`lsmc_runtime::data::table::read_queries`]).

use crate::chain_draw::{self, Bracketing, BracketsFigure, Tagging, TagsFigure, WHOLE};
use crate::heatmap::{self, Heatmap};
use crate::tree_draw::{self, Figure, Panel, Parse, WordNotes};
use lsmc_ir::data::{DataSource, Sst, Table};
use lsmc_ir::graph::{Forward, Graph, NodeId, Op};
use lsmc_ir::plan::Split as Part;
use lsmc_ir::structures::{ARCS, SPANS, TAG_PAIRS};
use lsmc_ir::types::{Dim, TEXT_LENGTHS};
use lsmc_runtime::data::sst::{self, Labels, Sentence};
use lsmc_runtime::data::{table, Split};
use lsmc_runtime::exec::{Executor, Induced, Pass};
use lsmc_runtime::latent::sequence;
use lsmc_runtime::real::Real;
use lsmc_runtime::records::io_reason;
use lsmc_runtime::Context;
use ndarray::ArrayD;
use rand::SeedableRng;
use serde_json::json;
use std::cell::OnceCell;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    Text,
    Conllu,
    Json,
    Svg,
}

/// One text of an example: its input's name in the spec, the text as
/// shown, and its tokens as the model reads them.
#[derive(Clone, Debug)]
pub struct Text {
    pub name: String,
    pub text: String,
    pub tokens: Vec<String>,
    /// The tokens as people write them (SST's `-LRB-` as `(`).
    pub words: Vec<String>,
}

/// An example to classify — one sentence, or a pair — with its gold class
/// when the input gave one.
#[derive(Clone, Debug)]
pub struct Item {
    pub texts: Vec<Text>,
    pub gold: Option<usize>,
}

/// What a latent induced over a text, as it is shown.
#[derive(Clone, Debug)]
pub enum Shape {
    /// A dependency tree: each word's head.
    Tree(Parse),
    /// A sequence latent's tag per word.
    Tags(Tagging),
    /// A constituency latent's bracketing.
    Brackets(Bracketing),
}

/// The structure a latent induced over one of the texts.
#[derive(Clone, Debug)]
pub struct Latent {
    /// The latent's name in the spec.
    pub name: String,
    /// Which of the item's texts.
    pub text: usize,
    pub shape: Shape,
}

/// The attention weights an `attend` value computed: each word of one
/// text (the rows) over the words of another (the columns).
#[derive(Clone, Debug)]
pub struct Alignment {
    /// The spec value, e.g. `beta`.
    pub name: String,
    pub rows: usize,
    pub columns: usize,
    /// `weights[i][j]`, over the texts' true lengths; rows sum to 1.
    pub weights: Vec<Vec<f64>>,
}

/// What the model said about one example.
pub struct Prediction {
    pub item: Item,
    pub probabilities: Vec<f64>,
    /// The structure each tree, sequence and constituency latent induced,
    /// in the graph's latent order.
    pub latents: Vec<Latent>,
    /// Every attention matrix, in the graph's node order.
    pub alignments: Vec<Alignment>,
}

/// Why examples to classify could not be read: the file itself (exit
/// status 2, as every unreadable file) or what it holds (status 1, as
/// every malformed input).
#[derive(Clone, Debug, PartialEq)]
pub enum InputError {
    Unreadable(String),
    Malformed(String),
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::Unreadable(m) | InputError::Malformed(m) => f.write_str(m),
        }
    }
}

impl From<table::TableError> for InputError {
    fn from(e: table::TableError) -> InputError {
        let unreadable = matches!(&e, table::TableError::File(f)
            if matches!(*f.problem, table::Problem::Unreadable(_)));
        if unreadable {
            InputError::Unreadable(e.to_string())
        } else {
            InputError::Malformed(e.to_string())
        }
    }
}

/// The data a trained model reads, to encode new examples as it did.
pub enum Source<'a> {
    Sst(&'a Sst),
    /// The table's records, read once: `--split` takes its examples from
    /// them and the vocabulary is built from them.
    Table(&'a Table, OnceCell<table::Examples>),
}

impl<'a> Source<'a> {
    /// The source of a program's data; `Err` for generated data, which has
    /// no text to show.
    pub fn of(data: &'a DataSource) -> Result<Source<'a>, String> {
        match data {
            DataSource::Sst(s) => Ok(Source::Sst(s)),
            DataSource::Table(t) => Ok(Source::Table(t, OnceCell::new())),
            other => Err(format!(
                "`lsmc predict` shows texts and their structures; `{}` data has no text (use `lsmc eval` to score it)",
                other.name()
            )),
        }
    }

    /// Class `k`'s name.
    pub fn class_names(&self) -> Vec<String> {
        match self {
            Source::Sst(s) => Labels::of(s.labels)
                .names()
                .iter()
                .map(|n| n.to_string())
                .collect(),
            Source::Table(t, _) => t.label.names.clone(),
        }
    }

    /// Examples from a file (`-`: standard input): for SST, one sentence
    /// a line, plain or bracketed; for a table, records in the data's own
    /// format and fields, the label optional. `Err` names the file and line.
    pub fn read_input(&self, path: &Path) -> Result<Vec<Item>, InputError> {
        if path == Path::new("-") {
            return self.read_stdin_text(&read_stdin()?);
        }
        match self {
            Source::Sst(s) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    InputError::Unreadable(format!("{}: {}", path.display(), io_reason(&e)))
                })?;
                let name = path.display().to_string();
                read_sentences(&name, &text, Labels::of(s.labels)).map_err(InputError::Malformed)
            }
            Source::Table(t, _) => Ok(query_items(t, table::read_queries(t, path)?)),
        }
    }

    /// Examples in `text`, read from standard input (`<stdin>` in
    /// messages), in [`Source::read_input`]'s formats.
    pub fn read_stdin_text(&self, text: &str) -> Result<Vec<Item>, InputError> {
        match self {
            Source::Sst(s) => {
                read_sentences("<stdin>", text, Labels::of(s.labels)).map_err(InputError::Malformed)
            }
            Source::Table(t, _) => {
                let queries = table::read_query_text(t, Path::new("<stdin>"), text)?;
                Ok(query_items(t, queries))
            }
        }
    }

    /// The examples of a split of the model's own data.
    pub fn split_items(&self, split: &str) -> Result<Vec<Item>, String> {
        let part = Part::parse(split)
            .ok_or_else(|| format!("--split `{split}`: the splits are train, valid and test"))?;
        match self {
            Source::Sst(s) => sst_split(s, part),
            Source::Table(t, cell) => {
                let examples = examples(t, cell)?;
                Ok(examples
                    .split(part)
                    .iter()
                    .map(|e| Item {
                        texts: texts_of(
                            t,
                            e.texts.iter().map(|w| w.join(" ")).collect(),
                            e.texts.clone(),
                        ),
                        gold: Some(e.label),
                    })
                    .collect())
            }
        }
    }

    /// `items` as the model's inputs, encoded with the vocabulary training
    /// built (a word it never met is `<unk>`).
    fn encode<T: Real>(&self, items: &[Item]) -> Result<Split<T>, String> {
        match self {
            Source::Sst(source) => {
                let (data, voc) = sst::load_with_vocabulary::<T>(source)?;
                let vectors = data.train.shared["embeddings"].clone();
                let sentences: Vec<(Sentence, usize)> = items
                    .iter()
                    .map(|it| {
                        let tokens = it.texts[0].tokens.clone();
                        (Sentence { tokens, label: 0 }, it.gold.unwrap_or(0))
                    })
                    .collect();
                Ok(sst::encode(&sentences, &voc, &vectors))
            }
            Source::Table(t, cell) => {
                let voc = table::build_vocabulary(examples(t, cell)?, &t.embeddings)
                    .map_err(|e| e.to_string())?;
                let vectors = Arc::new(voc.embedding_table());
                let new: Vec<table::Example> = items
                    .iter()
                    .map(|it| table::Example {
                        line: 0,
                        texts: it.texts.iter().map(|x| x.tokens.clone()).collect(),
                        label: it.gold.unwrap_or(0),
                    })
                    .collect();
                let encoded = table::encode::<T>(&new, &t.texts, &voc);
                Ok(lsmc_runtime::data::table_split(&encoded, &vectors))
            }
        }
    }
}

/// The table's records, read on first use.
fn examples<'c>(
    t: &Table,
    cell: &'c OnceCell<table::Examples>,
) -> Result<&'c table::Examples, String> {
    if let Some(e) = cell.get() {
        return Ok(e);
    }
    let read = table::read_examples(t).map_err(|e| e.to_string())?;
    Ok(cell.get_or_init(|| read))
}

/// A table record's texts, named by the spec's inputs.
fn texts_of(t: &Table, raw: Vec<String>, tokens: Vec<Vec<String>>) -> Vec<Text> {
    t.texts
        .iter()
        .zip(raw)
        .zip(tokens)
        .map(|((field, text), tokens)| Text {
            name: field.name.clone(),
            text,
            words: tokens.clone(),
            tokens,
        })
        .collect()
}

/// A sentence of SST's kind, its tokens in the treebank's spelling.
fn sst_text(text: String, tokens: Vec<String>) -> Text {
    Text {
        name: "tokens".to_string(),
        text,
        words: tokens.iter().map(|t| sst::ptb_unescape(t)).collect(),
        tokens,
    }
}

/// A table's records to classify as examples.
fn query_items(t: &Table, queries: Vec<table::Query>) -> Vec<Item> {
    queries
        .into_iter()
        .map(|q| Item {
            texts: texts_of(t, q.raw, q.texts),
            gold: q.gold,
        })
        .collect()
}

/// All of standard input, as text.
pub fn read_stdin() -> Result<String, InputError> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| InputError::Unreadable(format!("standard input: {}", io_reason(&e))))?;
    Ok(s)
}

/// Sentences one a line, tokens separated by spaces (brackets, `/` and
/// `*` are put in the treebank's spelling), or lines in the SST's
/// bracketed form, whose root label is then the gold class. `Err` names
/// the input (`name`) and the line.
pub fn read_sentences(name: &str, text: &str, labels: Labels) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_matches(|c| c == ' ' || c == '\t' || c == '\r');
        if line.is_empty() {
            continue;
        }
        // A bracketed tree starts with `(` and a label digit.
        if line.starts_with('(') && line[1..].starts_with(|c: char| c.is_ascii_digit()) {
            let s =
                sst::parse_tree(line).map_err(|(col, m)| format!("{name}:{}:{col}: {m}", i + 1))?;
            items.push(Item {
                texts: vec![sst_text(s.tokens.join(" "), s.tokens)],
                gold: labels.class(s.label),
            });
        } else {
            let tokens = line
                .split(' ')
                .filter(|t| !t.is_empty())
                .map(sst::ptb_escape)
                .collect();
            items.push(Item {
                texts: vec![sst_text(line.to_string(), tokens)],
                gold: None,
            });
        }
    }
    if items.is_empty() {
        return Err(format!("{name}: no sentences"));
    }
    Ok(items)
}

/// The sentences of a split of an SST model's data.
fn sst_split(source: &Sst, part: Part) -> Result<Vec<Item>, String> {
    let file = match part {
        Part::Train => "train.txt",
        Part::Valid => "dev.txt",
        Part::Test => "test.txt",
    };
    let labels = Labels::of(source.labels);
    Ok(sst::read_split(&source.path.join(file), labels)?
        .into_iter()
        .map(|(s, c)| Item {
            texts: vec![sst_text(s.tokens.join(" "), s.tokens)],
            gold: Some(c),
        })
        .collect())
}

/// Which of an example's texts a symbolic size is the length of (`N` the
/// first, `M` the second, …), if it is one.
fn text_of(dim: &Dim) -> Option<usize> {
    match dim {
        Dim::Sym(s, _) => TEXT_LENGTHS.iter().position(|t| t == s),
        Dim::Const(_) => None,
    }
}

/// The name a node has in the spec, else the op and its line.
fn value_name(graph: &Graph, id: NodeId) -> String {
    graph
        .values
        .iter()
        .find(|(_, v)| *v == id)
        .map(|(n, _)| n.clone())
        .or_else(|| graph.nodes[id].name.clone())
        .unwrap_or_else(|| format!("attend#{id}"))
}

/// Classifies `items` with `params`, in input order, running with `cx`;
/// `origin` says where the items came from (a file, a split), for errors.
pub fn predict<T: Real>(
    cx: &Context,
    source: &Source,
    graph: &Graph,
    params: &[ArrayD<T>],
    items: Vec<Item>,
    origin: &str,
) -> Result<Vec<Prediction>, String> {
    let split = source.encode::<T>(&items)?;
    lsmc_runtime::text_limit::check_split(graph, &split, origin, cx.max_words())?;
    let exec = Executor::new(graph, cx).map_err(|e| e.to_string())?;
    let logits = graph.nodes[graph.loss].inputs[0];
    // Each latent's text, from the length of its word axis; each
    // attention's rows and columns likewise.
    let latent_text = |node: NodeId| graph.nodes[node].dims.get(1).and_then(text_of);
    let attention_texts = |node: NodeId| {
        let n = &graph.nodes[node];
        let scores = &graph.nodes[n.inputs[0]];
        Some((text_of(n.dims.get(1)?)?, text_of(scores.dims.get(2)?)?))
    };

    // Evaluation walks the examples by length; answers go back in input order.
    let mut predictions: Vec<Option<Prediction>> = items.iter().map(|_| None).collect();
    let mut slots: Vec<Option<Item>> = items.into_iter().map(Some).collect();
    let element = std::mem::size_of::<T>() as u64;
    for idx in split.evaluation_batches() {
        let lengths = split.longest(&idx);
        lsmc_runtime::memory::batch_fits(graph, idx.len() as u64, &lengths, element)?;
        let batch = split.batch(&idx);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let pass = exec
            .forward(params, &batch, false, &mut rng)
            .map_err(|e| e.to_string())?;
        let readings = exec
            .induced(&pass)?
            .into_iter()
            .filter_map(|t| Reading::of(graph, &pass, t).transpose())
            .collect::<Result<Vec<_>, String>>()?;
        let attention = exec.attention(&pass);
        let p = lsmc_runtime::ops::softmax::softmax(pass.value(logits));
        for (b, &i) in idx.iter().enumerate() {
            let item = slots[i].take().expect("each example once");
            let mut latents = Vec::new();
            for r in &readings {
                let Some(k) = latent_text(r.induced.node).filter(|&k| k < item.texts.len()) else {
                    continue;
                };
                let words = item.texts[k].words.clone();
                let Some(shape) = r.shape(pass.value(r.induced.node), b, words) else {
                    continue;
                };
                latents.push(Latent {
                    name: r.induced.latent.clone(),
                    text: k,
                    shape,
                });
            }
            let mut alignments = Vec::new();
            for &(node, w) in &attention {
                let Some((r, c)) = attention_texts(node)
                    .filter(|&(r, c)| r < item.texts.len() && c < item.texts.len())
                else {
                    continue;
                };
                let (rows, columns) = (item.texts[r].tokens.len(), item.texts[c].tokens.len());
                let weights = (0..rows)
                    .map(|i| (0..columns).map(|j| w[[b, i, j]].f64()).collect())
                    .collect();
                alignments.push(Alignment {
                    name: value_name(graph, node),
                    rows: r,
                    columns: c,
                    weights,
                });
            }
            predictions[i] = Some(Prediction {
                item,
                probabilities: (0..p.shape()[1]).map(|c| p[[b, c]].f64()).collect(),
                latents,
                alignments,
            });
        }
    }
    Ok(predictions.into_iter().flatten().collect())
}

/// A latent's decoded structures in a pass, with what showing them needs
/// from its value.
struct Reading<T: Real> {
    induced: Induced,
    kind: Kind<T>,
}

/// How a latent's structures are read and shown.
enum Kind<T: Real> {
    /// Trees: each word's head; an arc's weight is its entry of the value.
    Tree,
    /// Tag sequences: each word's tag, weighted by the tag weights
    /// `[B, N, K]` of the value; every tag's weight kept when `relaxed`.
    Tags { weights: ArrayD<T>, relaxed: bool },
    /// Bracketings: split points in preorder; a span's weight is its
    /// entry of the value.
    Brackets,
}

impl<T: Real> Reading<T> {
    /// How to show an induced latent, `None` for a structure `lsmc
    /// predict` does not draw (categories).
    fn of(graph: &Graph, pass: &Pass<T>, induced: Induced) -> Result<Option<Reading<T>>, String> {
        let layout = induced.structure.descriptor.scores;
        let kind = if layout == ARCS {
            Kind::Tree
        } else if layout == SPANS {
            Kind::Brackets
        } else if layout == TAG_PAIRS {
            // Decoding gives each sentence one tag per word.
            let lengths: Vec<usize> = induced.items.iter().map(Vec::len).collect();
            let weights = sequence::tag_weights(pass.value(induced.node), &lengths)
                .map_err(|e| e.to_string())?;
            let relaxed = matches!(&graph.nodes[induced.node].op,
                Op::Latent(l) if matches!(l.forward(), Forward::Marg | Forward::SparseMap));
            Kind::Tags { weights, relaxed }
        } else {
            return Ok(None);
        };
        Ok(Some(Reading { induced, kind }))
    }

    /// Item `b`'s structure over `words`, weighted by the latent's value
    /// `z`; `None` when the decoding does not fit the words.
    fn shape(&self, z: &ArrayD<T>, b: usize, words: Vec<String>) -> Option<Shape> {
        let decoded = self.induced.items.get(b)?;
        if matches!(self.kind, Kind::Tree | Kind::Tags { .. }) && decoded.len() != words.len() {
            return None;
        }
        Some(match &self.kind {
            Kind::Tree => {
                let weights = decoded
                    .iter()
                    .enumerate()
                    .map(|(m, &h)| z[[b, h, m + 1]].f64())
                    .collect();
                Shape::Tree(Parse {
                    words,
                    heads: decoded.clone(),
                    weights,
                })
            }
            Kind::Tags { weights, relaxed } => {
                let k = weights.shape()[2];
                let row = |i: usize| (0..k).map(|c| weights[[b, i, c]].f64()).collect();
                Shape::Tags(Tagging {
                    words,
                    tags: decoded.clone(),
                    weights: decoded
                        .iter()
                        .enumerate()
                        .map(|(i, &c)| weights[[b, i, c]].f64())
                        .collect(),
                    distribution: relaxed.then(|| (0..decoded.len()).map(row).collect()),
                })
            }
            Kind::Brackets => {
                Shape::Brackets(Bracketing::new(words, decoded, |i, j| z[[b, i, j]].f64())?)
            }
        })
    }
}

/// The most probable class and its probability.
fn class(p: &Prediction) -> (usize, f64) {
    p.probabilities
        .iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (c, &v)| {
            if v > best.1 {
                (c, v)
            } else {
                best
            }
        })
}

impl Prediction {
    /// Several texts (a pair) are named wherever they are shown; one
    /// sentence is shown as it always was.
    fn several_texts(&self) -> bool {
        self.item.texts.len() > 1
    }

    /// Whether each latent's structure is labelled: with several latents
    /// or several texts.
    fn label_latents(&self) -> bool {
        self.latents.len() > 1 || self.several_texts()
    }

    /// What a latent's structure is labelled with: its name, and for a
    /// pair its text.
    fn latent_label(&self, l: &Latent) -> String {
        if self.several_texts() {
            format!("{} ({})", l.name, self.item.texts[l.text].name)
        } else {
            l.name.clone()
        }
    }

    /// The trees, with their latents.
    fn trees(&self) -> impl Iterator<Item = (&Latent, &Parse)> {
        self.latents.iter().filter_map(|l| match &l.shape {
            Shape::Tree(p) => Some((l, p)),
            _ => None,
        })
    }

    fn heatmap(&self, a: &Alignment, title: String) -> Heatmap {
        Heatmap {
            title,
            rows: self.item.texts[a.rows].words.clone(),
            columns: self.item.texts[a.columns].words.clone(),
            weights: a.weights.clone(),
        }
    }

    /// How an alignment is introduced: which text attends over which.
    fn alignment_label(&self, a: &Alignment) -> String {
        let texts = &self.item.texts;
        format!(
            "{}: each {} word's attention over the {} (rows sum to 1)",
            a.name, texts[a.rows].name, texts[a.columns].name
        )
    }
}

/// `predictions` in `format`, classes called by `names`.
pub fn render(format: Format, predictions: &[Prediction], names: &[String]) -> String {
    let title = |i: usize, p: &Prediction| {
        let (c, v) = class(p);
        let gold = p
            .item
            .gold
            .map(|g| format!(" · gold {}", names[g]))
            .unwrap_or_default();
        format!("#{} {} (p = {v:.3}){gold}", i + 1, names[c])
    };
    match format {
        Format::Text => predictions
            .iter()
            .enumerate()
            .map(|(i, p)| text_block(&title(i, p), p))
            .collect(),
        Format::Conllu => predictions
            .iter()
            .enumerate()
            .map(|(i, p)| conllu_block(i, p, names))
            .collect(),
        Format::Json => predictions
            .iter()
            .map(|p| format!("{}\n", json_of(p, names)))
            .collect(),
        Format::Svg => {
            let mut panels = Vec::new();
            for (i, p) in predictions.iter().enumerate() {
                for l in &p.latents {
                    let title = if p.label_latents() {
                        format!("{} · {}", title(i, p), p.latent_label(l))
                    } else {
                        title(i, p)
                    };
                    panels.push(panel(title, &l.shape));
                }
                for a in &p.alignments {
                    let t = format!("{} · {}", title(i, p), p.alignment_label(a));
                    panels.push(Panel::Heatmap(p.heatmap(a, t)));
                }
            }
            tree_draw::svg(&panels)
        }
    }
}

/// A latent's structure as an SVG panel.
fn panel(title: String, shape: &Shape) -> Panel {
    match shape {
        Shape::Tree(parse) => Panel::Tree(Figure {
            title,
            parse: parse.clone(),
        }),
        Shape::Tags(tagging) => Panel::Tags(TagsFigure {
            title,
            tagging: tagging.clone(),
        }),
        Shape::Brackets(bracketing) => Panel::Brackets(BracketsFigure {
            title,
            bracketing: bracketing.clone(),
        }),
    }
}

/// A latent's structure for the terminal: the drawing, then, when the
/// latent was relaxed and the structure shown is only its mode, a note
/// saying so.
fn terminal_lines(shape: &Shape) -> (String, Option<&'static str>) {
    match shape {
        Shape::Tree(parse) => (
            tree_draw::terminal(parse),
            parse.weights.iter().any(|&w| w < WHOLE).then_some(
                "(the MAP tree of the scores; the decoder saw weighted arcs: see --format json)",
            ),
        ),
        Shape::Tags(t) => (
            chain_draw::terminal_tags(t),
            t.partial().then_some(
                "(the MAP tags of the scores and the weight the decoder saw on each: every tag's weight in --format json)",
            ),
        ),
        // One word has no brackets to draw: its string is all there is.
        Shape::Brackets(b) if b.words.len() < 2 => (format!("{}\n", b.bracketed()), None),
        Shape::Brackets(b) => (
            format!("{}\n{}", b.bracketed(), chain_draw::terminal_brackets(b)),
            b.partial().then_some(
                "(the MAP bracketing of the scores; the decoder saw weighted spans: see --format json)",
            ),
        ),
    }
}

/// One prediction for the terminal: the class, the texts, each latent's
/// structure drawn with its text (a tree over it, tags under it, a
/// bracketing below it) and each alignment as a matrix of percentages.
fn text_block(title: &str, p: &Prediction) -> String {
    let mut out = format!("{title}\n");
    for t in &p.item.texts {
        if p.several_texts() {
            out += &format!("  {}: {}\n", t.name, t.text);
        } else {
            out += &format!("  {}\n", t.text);
        }
    }
    for l in &p.latents {
        if p.label_latents() {
            out += &format!("  {}:\n", p.latent_label(l));
        }
        let (drawing, note) = terminal_lines(&l.shape);
        for line in drawing.lines() {
            out += format!("  {line}").trim_end();
            out.push('\n');
        }
        if let Some(note) = note {
            out += &format!("  {note}\n");
        }
    }
    for a in &p.alignments {
        out += &format!("  {}, in %:\n", p.alignment_label(a));
        for line in heatmap::terminal(&p.heatmap(a, String::new())).lines() {
            out += &format!("    {line}\n");
        }
    }
    out.push('\n');
    out
}

/// One prediction in CoNLL-U: a sentence block per tree (`sent_id` the
/// example's number, and the latent's name when there are several
/// blocks), and one block for each text that only other latents cover
/// (every word hanging from the first); a model without such latents
/// shows each text so. Every block of a text carries its sequence
/// latents' tags (XPOS, see [`word_notes`]) and its bracketings (a
/// `# tree = …` comment each, see [`tree_comments`]).
fn conllu_block(i: usize, p: &Prediction, names: &[String]) -> String {
    let (c, v) = class(p);
    let mut comments = vec![
        ("prediction".to_string(), names[c].to_string()),
        ("probability".to_string(), format!("{v:.4}")),
    ];
    if let Some(g) = p.item.gold {
        comments.push(("gold".to_string(), names[g].to_string()));
    }
    let flat = |t: &Text| Parse {
        words: t.words.clone(),
        heads: (0..t.words.len()).map(|m| usize::from(m > 0)).collect(),
        weights: vec![1.0; t.words.len()],
    };
    let mut blocks: Vec<(String, usize, Parse)> = p
        .trees()
        .map(|(l, parse)| (l.name.clone(), l.text, parse.clone()))
        .collect();
    for (k, t) in p.item.texts.iter().enumerate() {
        let covered = |text: usize| blocks.iter().any(|b| b.1 == text);
        if !covered(k) && p.latents.iter().any(|l| l.text == k) {
            blocks.push((t.name.clone(), k, flat(t)));
        }
    }
    if blocks.is_empty() {
        blocks = p
            .item
            .texts
            .iter()
            .enumerate()
            .map(|(k, t)| (t.name.clone(), k, flat(t)))
            .collect();
    }
    let several = blocks.len() > 1;
    let mut out = String::new();
    for (label, k, parse) in blocks {
        let id = if several {
            format!("{}-{label}", i + 1)
        } else {
            (i + 1).to_string()
        };
        let text = &p.item.texts[k];
        let mut lines = vec![("text".to_string(), text.text.clone())];
        if p.several_texts() {
            lines.push(("input".to_string(), text.name.clone()));
        }
        lines.extend(comments.iter().cloned());
        lines.extend(tree_comments(p, k));
        out += &tree_draw::conllu(&id, &lines, &parse, &word_notes(p, k));
    }
    out
}

/// The latents of one kind over text `k`, picked by `pick`.
fn over_text<'p, S>(
    p: &'p Prediction,
    k: usize,
    pick: impl Fn(&'p Shape) -> Option<&'p S>,
) -> Vec<(&'p str, &'p S)> {
    p.latents
        .iter()
        .filter(|l| l.text == k)
        .filter_map(|l| Some((l.name.as_str(), pick(&l.shape)?)))
        .collect()
}

/// Text `k`'s bracketings as CoNLL-U comments (CoNLL-U has no column for
/// constituents): `tree = ((the movie) (was great))`, or with several
/// constituency latents over the text, `tree.LATENT = …` each.
fn tree_comments(p: &Prediction, k: usize) -> Vec<(String, String)> {
    let brackets = over_text(p, k, |s| match s {
        Shape::Brackets(b) => Some(b),
        _ => None,
    });
    let several = brackets.len() > 1;
    brackets
        .into_iter()
        .map(|(name, b)| {
            let key = if several {
                format!("tree.{name}")
            } else {
                "tree".to_string()
            };
            (key, b.bracketed())
        })
        .collect()
}

/// What CoNLL-U says of text `k`'s words beyond their heads: the tag of
/// the first sequence latent over the text in XPOS (`t3`), with
/// `TagWeight=` in MISC when below 1; every further sequence latent's tag
/// in MISC as `Tag.LATENT=t3` (and `TagWeight.LATENT=`).
fn word_notes(p: &Prediction, k: usize) -> Vec<WordNotes> {
    let n = p.item.texts[k].words.len();
    let mut notes = vec![WordNotes::default(); n];
    let taggings = over_text(p, k, |s| match s {
        Shape::Tags(t) => Some(t),
        _ => None,
    });
    for (first, (name, t)) in taggings.into_iter().enumerate().map(|(q, x)| (q == 0, x)) {
        let suffix = if first {
            String::new()
        } else {
            format!(".{name}")
        };
        for (note, (&tag, &w)) in notes.iter_mut().zip(t.tags.iter().zip(&t.weights)) {
            let tag = chain_draw::tag_name(tag);
            if first {
                note.xpos = Some(tag);
            } else {
                note.misc.push(format!("Tag{suffix}={tag}"));
            }
            if chain_draw::is_partial(w) {
                note.misc.push(format!("TagWeight{suffix}={w:.4}"));
            }
        }
    }
    notes
}

/// One prediction as a JSON object. One sentence keeps its fields at the
/// top (`text`, `tokens`, and the first tree's `heads` and `weights`); a
/// pair has `texts` by input name. `trees` (by latent) appears with
/// several trees or texts, `tags` with a sequence latent, `brackets` with
/// a constituency latent (both by latent), `alignments` (by value) with
/// any attention.
fn json_of(p: &Prediction, names: &[String]) -> serde_json::Value {
    let (c, _) = class(p);
    let mut v = json!({
        "prediction": names[c],
        "probabilities": names.iter().zip(&p.probabilities).map(|(n, v)| (n.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "gold": p.item.gold.map(|g| &names[g]),
    });
    let trees: Vec<(&Latent, &Parse)> = p.trees().collect();
    if p.several_texts() {
        v["texts"] = p
            .item
            .texts
            .iter()
            .map(|t| (t.name.clone(), json!({"text": t.text, "tokens": t.tokens})))
            .collect::<serde_json::Map<_, _>>()
            .into();
    } else {
        let t = &p.item.texts[0];
        v["text"] = json!(t.text);
        v["tokens"] = json!(t.tokens);
        let first = trees.first().map(|t| t.1);
        v["heads"] = json!(first.map(|t| &t.heads));
        v["weights"] = json!(first.map(|t| &t.weights));
    }
    if trees.len() > 1 || p.several_texts() {
        v["trees"] = trees
            .iter()
            .map(|(l, parse)| {
                let tree = json!({
                    "text": p.item.texts[l.text].name,
                    "heads": parse.heads,
                    "weights": parse.weights,
                });
                (l.name.clone(), tree)
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    let by_latent = |f: &dyn Fn(&Shape) -> Option<serde_json::Value>| {
        let map: serde_json::Map<_, _> = p
            .latents
            .iter()
            .filter_map(|l| {
                let mut o = f(&l.shape)?;
                if p.several_texts() {
                    o["text"] = json!(p.item.texts[l.text].name);
                }
                Some((l.name.clone(), o))
            })
            .collect();
        (!map.is_empty()).then_some(serde_json::Value::Object(map))
    };
    if let Some(tags) = by_latent(&|s| match s {
        Shape::Tags(t) => Some(tags_json(t)),
        _ => None,
    }) {
        v["tags"] = tags;
    }
    if let Some(brackets) = by_latent(&|s| match s {
        Shape::Brackets(b) => Some(brackets_json(b)),
        _ => None,
    }) {
        v["brackets"] = brackets;
    }
    if !p.alignments.is_empty() {
        v["alignments"] = p
            .alignments
            .iter()
            .map(|a| {
                let m = json!({
                    "rows": p.item.texts[a.rows].name,
                    "columns": p.item.texts[a.columns].name,
                    "weights": a.weights,
                });
                (a.name.clone(), m)
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    v
}

/// A sequence latent's tags in JSON: each word's tag (from 0) and its
/// weight, and for a relaxed latent every tag's weight per word
/// (`tag_weights`, words × tags).
fn tags_json(t: &Tagging) -> serde_json::Value {
    let mut o = json!({"tags": t.tags, "weights": t.weights});
    if let Some(d) = &t.distribution {
        o["tag_weights"] = json!(d);
    }
    o
}

/// A constituency latent's bracketing in JSON: the bracketed string, and
/// its `2n − 1` spans in preorder as `[i, j]` (words from 0, inclusive)
/// with their weights `z[i][j]`.
fn brackets_json(b: &Bracketing) -> serde_json::Value {
    json!({
        "bracketed": b.bracketed(),
        "spans": b.spans.iter().map(|s| [s.i, s.j]).collect::<Vec<_>>(),
        "weights": b.weights,
    })
}
