//! Predictions with a trained run for `lsmc predict`: sentences or
//! sentence pairs classified, with the tree each latent induced over its
//! text (arcs drawn over the words) and each attention matrix between two
//! texts, in the terminal, CoNLL-U, JSON or an SVG figure.
//!
//! Input comes from a split of the model's own data or from a file: for
//! SST models one sentence a line ([`read_sentences`]); for table data
//! (SNLI, SICK, a user's own) records in the data's own format and fields,
//! the label optional ([`lsmc_runtime::data::table::read_queries`]).

use crate::heatmap::{self, Heatmap};
use crate::tree_draw::{self, Figure, Panel, Parse};
use lsmc_ir::data::{DataSource, Sst, Table};
use lsmc_ir::graph::{Graph, NodeId};
use lsmc_ir::plan::Split as Part;
use lsmc_ir::types::{Dim, TEXT_LENGTHS};
use lsmc_runtime::data::sst::{self, Labels, Sentence};
use lsmc_runtime::data::{table, Split};
use lsmc_runtime::exec::Executor;
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

/// The tree a latent induced over one of the texts.
#[derive(Clone, Debug)]
pub struct Tree {
    pub latent: String,
    /// Which of the item's texts.
    pub text: usize,
    pub parse: Parse,
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
    /// The tree each tree latent induced, in the graph's latent order.
    pub trees: Vec<Tree>,
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
    // Each tree latent's text, from the length of its scores' word axis;
    // each attention's rows and columns likewise.
    let tree_text = |node: NodeId| graph.nodes[node].dims.get(1).and_then(text_of);
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
        let induced = exec.induced_trees(&pass)?;
        let attention = exec.attention(&pass);
        let p = lsmc_runtime::ops::softmax::softmax(pass.value(logits));
        for (b, &i) in idx.iter().enumerate() {
            let item = slots[i].take().expect("each example once");
            let mut trees = Vec::new();
            for t in &induced {
                let Some(k) = tree_text(t.node).filter(|&k| k < item.texts.len()) else {
                    continue;
                };
                let z = pass.value(t.node);
                let heads = t.items[b].clone();
                let weights = heads
                    .iter()
                    .enumerate()
                    .map(|(m, &h)| z[[b, h, m + 1]].f64())
                    .collect();
                let parse = Parse {
                    words: item.texts[k].words.clone(),
                    heads,
                    weights,
                };
                trees.push(Tree {
                    latent: t.latent.clone(),
                    text: k,
                    parse,
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
                trees,
                alignments,
            });
        }
    }
    Ok(predictions.into_iter().flatten().collect())
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

    /// What a tree is labelled with: its latent, and for a pair its text.
    fn tree_label(&self, t: &Tree) -> String {
        if self.several_texts() {
            format!("{} ({})", t.latent, self.item.texts[t.text].name)
        } else {
            t.latent.clone()
        }
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
                let several = p.trees.len() > 1 || p.several_texts();
                for t in &p.trees {
                    let title = if several {
                        format!("{} · {}", title(i, p), p.tree_label(t))
                    } else {
                        title(i, p)
                    };
                    panels.push(Panel::Tree(Figure {
                        title,
                        parse: t.parse.clone(),
                    }));
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

/// One prediction for the terminal: the class, the texts, each tree drawn
/// over its text and each alignment as a matrix of percentages.
fn text_block(title: &str, p: &Prediction) -> String {
    let mut out = format!("{title}\n");
    for t in &p.item.texts {
        if p.several_texts() {
            out += &format!("  {}: {}\n", t.name, t.text);
        } else {
            out += &format!("  {}\n", t.text);
        }
    }
    let label_trees = p.trees.len() > 1 || p.several_texts();
    for t in &p.trees {
        if label_trees {
            out += &format!("  {}:\n", p.tree_label(t));
        }
        for line in tree_draw::terminal(&t.parse).lines() {
            out += &format!("  {line}\n");
        }
        if t.parse.weights.iter().any(|&w| w < 0.995) {
            out += "  (the MAP tree of the scores; the decoder saw weighted arcs: see --format json)\n";
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
/// example's number, and the latent's name when there are several trees
/// or texts); a model without a tree latent shows each text with every
/// word hanging from the first.
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
    let blocks: Vec<(String, usize, Parse)> = if p.trees.is_empty() {
        p.item
            .texts
            .iter()
            .enumerate()
            .map(|(k, t)| (t.name.clone(), k, flat(t)))
            .collect()
    } else {
        p.trees
            .iter()
            .map(|t| (t.latent.clone(), t.text, t.parse.clone()))
            .collect()
    };
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
        out += &tree_draw::conllu(&id, &lines, &parse);
    }
    out
}

/// One prediction as a JSON object. One sentence keeps its fields at the
/// top (`text`, `tokens`, and the first tree's `heads` and `weights`); a
/// pair has `texts` by input name. `trees` (by latent) appears with
/// several trees or texts, `alignments` (by value) with any attention.
fn json_of(p: &Prediction, names: &[String]) -> serde_json::Value {
    let (c, _) = class(p);
    let mut v = json!({
        "prediction": names[c],
        "probabilities": names.iter().zip(&p.probabilities).map(|(n, v)| (n.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "gold": p.item.gold.map(|g| &names[g]),
    });
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
        let first = p.trees.first();
        v["heads"] = json!(first.map(|t| &t.parse.heads));
        v["weights"] = json!(first.map(|t| &t.parse.weights));
    }
    if p.trees.len() > 1 || p.several_texts() {
        v["trees"] = p
            .trees
            .iter()
            .map(|t| {
                let tree = json!({
                    "text": p.item.texts[t.text].name,
                    "heads": t.parse.heads,
                    "weights": t.parse.weights,
                });
                (t.latent.clone(), tree)
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
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
