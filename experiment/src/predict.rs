//! Predictions with a trained run for `lsmc predict`: sentences classified
//! and the latent tree of each one, shown as arcs drawn over the sentence
//! in the terminal, CoNLL-U, JSON or an SVG figure.
//!
//! Input is one sentence per line, tokens separated by spaces (brackets,
//! `/` and `*` are put in the treebank's spelling), or lines in the SST's
//! bracketed form, whose root label is then shown as the gold class.

use crate::tree_draw::{self, Figure, Parse};
use lsmc_ir::data::Sst;
use lsmc_ir::graph::Graph;
use lsmc_runtime::data::sst::{self, Labels, Sentence};
use lsmc_runtime::exec::Executor;
use lsmc_runtime::real::Real;
use lsmc_runtime::records::io_reason;
use lsmc_runtime::Context;
use ndarray::ArrayD;
use rand::SeedableRng;
use serde_json::json;
use std::io::Read;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    Text,
    Conllu,
    Json,
    Svg,
}

/// A sentence to classify, with its gold class when the input gave one.
pub struct Item {
    pub tokens: Vec<String>,
    pub text: String,
    pub gold: Option<usize>,
}

/// What the model said about one sentence.
pub struct Prediction {
    pub item: Item,
    pub probabilities: Vec<f64>,
    /// The tree each tree latent induced, by latent name, in the graph's
    /// latent order.
    pub parses: Vec<(String, Parse)>,
}

impl Prediction {
    /// The first tree latent's tree (the one CoNLL-U and the top-level
    /// JSON fields show).
    fn parse(&self) -> Option<&Parse> {
        self.parses.first().map(|(_, p)| p)
    }
}

/// Sentences from a file (`-`: standard input); `Err` names the file and line.
pub fn read_input(path: &Path, labels: Labels) -> Result<Vec<Item>, String> {
    let text = if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("standard input: {e}"))?;
        s
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| format!("{}: {}", path.display(), io_reason(&e)))?
    };
    let name = if path == Path::new("-") {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
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
                text: s.tokens.join(" "),
                gold: labels.class(s.label),
                tokens: s.tokens,
            });
        } else {
            items.push(Item {
                tokens: line
                    .split(' ')
                    .filter(|t| !t.is_empty())
                    .map(sst::ptb_escape)
                    .collect(),
                text: line.to_string(),
                gold: None,
            });
        }
    }
    if items.is_empty() {
        return Err(format!("{name}: no sentences"));
    }
    Ok(items)
}

/// The sentences of a split of the model's own data.
pub fn split_items(source: &Sst, split: &str) -> Result<Vec<Item>, String> {
    let dir = &source.path;
    let file = match split {
        "train" => "train.txt",
        "valid" => "dev.txt",
        "test" => "test.txt",
        other => {
            return Err(format!(
                "--split `{other}`: the splits are train, valid and test"
            ))
        }
    };
    let labels = Labels::of(source.labels);
    Ok(sst::read_split(&dir.join(file), labels)?
        .into_iter()
        .map(|(s, c)| Item {
            text: s.tokens.join(" "),
            tokens: s.tokens,
            gold: Some(c),
        })
        .collect())
}

/// Classifies `items` with `params`, in input order, running with `cx`.
pub fn predict<T: Real>(
    cx: &Context,
    source: &Sst,
    graph: &Graph,
    params: &[ArrayD<T>],
    items: Vec<Item>,
) -> Result<Vec<Prediction>, String> {
    let (data, voc) = sst::load_with_vocabulary::<T>(source)?;
    let table = data.train.shared["embeddings"].clone();
    let sentences: Vec<(Sentence, usize)> = items
        .iter()
        .map(|it| {
            (
                Sentence {
                    tokens: it.tokens.clone(),
                    label: 0,
                },
                it.gold.unwrap_or(0),
            )
        })
        .collect();
    let split = sst::encode(&sentences, &voc, &table);
    let exec = Executor::new(graph, cx).map_err(|e| e.to_string())?;
    let logits = graph.nodes[graph.loss].inputs[0];

    // Evaluation walks the sentences by length; answers go back in input order.
    let mut predictions: Vec<Option<Prediction>> = items.iter().map(|_| None).collect();
    let mut slots: Vec<Option<Item>> = items.into_iter().map(Some).collect();
    for idx in split.evaluation_batches() {
        let batch = split.batch(&idx);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let pass = exec
            .forward(params, &batch, false, &mut rng)
            .map_err(|e| e.to_string())?;
        let trees = exec.induced_trees(&pass)?;
        let p = lsmc_runtime::ops::softmax::softmax(pass.value(logits));
        for (b, &i) in idx.iter().enumerate() {
            let item = slots[i].take().expect("each sentence once");
            let parses = trees
                .iter()
                .map(|t| {
                    let z = pass.value(t.node);
                    let heads = t.items[b].clone();
                    let weights = heads
                        .iter()
                        .enumerate()
                        .map(|(m, &h)| z[[b, h, m + 1]].f64())
                        .collect();
                    let parse = Parse {
                        words: item.tokens.iter().map(|t| sst::ptb_unescape(t)).collect(),
                        heads,
                        weights,
                    };
                    (t.latent.clone(), parse)
                })
                .collect();
            predictions[i] = Some(Prediction {
                item,
                probabilities: (0..p.shape()[1]).map(|c| p[[b, c]].f64()).collect(),
                parses,
            });
        }
    }
    let predictions: Vec<Prediction> = predictions.into_iter().flatten().collect();
    Ok(predictions)
}

/// `predictions` in `format`.
pub fn render(format: Format, predictions: &[Prediction], labels: Labels) -> String {
    let names = labels.names();
    let class = |p: &Prediction| {
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
    };
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
        Format::Text => {
            let mut out = String::new();
            for (i, p) in predictions.iter().enumerate() {
                out += &format!("{}\n  {}\n", title(i, p), p.item.text);
                let several = p.parses.len() > 1;
                for (latent, parse) in &p.parses {
                    if several {
                        out += &format!("  {latent}:\n");
                    }
                    for line in tree_draw::terminal(parse).lines() {
                        out += &format!("  {line}\n");
                    }
                    if parse.weights.iter().any(|&w| w < 0.995) {
                        out += "  (the MAP tree of the scores; the decoder saw weighted arcs: see --format json)\n";
                    }
                }
                out.push('\n');
            }
            out
        }
        Format::Conllu => {
            let mut out = String::new();
            for (i, p) in predictions.iter().enumerate() {
                let (c, v) = class(p);
                let mut comments = vec![
                    ("text".to_string(), p.item.text.clone()),
                    ("prediction".to_string(), names[c].to_string()),
                    ("probability".to_string(), format!("{v:.4}")),
                ];
                if let Some(g) = p.item.gold {
                    comments.push(("gold".to_string(), names[g].to_string()));
                }
                let parse = p.parse().cloned().unwrap_or_else(|| Parse {
                    words: p.item.tokens.iter().map(|t| sst::ptb_unescape(t)).collect(),
                    // Without a tree latent every word hangs from the first.
                    heads: (0..p.item.tokens.len())
                        .map(|m| usize::from(m > 0))
                        .collect(),
                    weights: vec![1.0; p.item.tokens.len()],
                });
                out += &tree_draw::conllu(&(i + 1).to_string(), &comments, &parse);
            }
            out
        }
        Format::Json => {
            let mut out = String::new();
            for p in predictions {
                let (c, _) = class(p);
                let mut v = json!({
                    "text": p.item.text,
                    "tokens": p.item.tokens,
                    "prediction": names[c],
                    "probabilities": names.iter().zip(&p.probabilities).map(|(n, v)| (n.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                    "gold": p.item.gold.map(|g| names[g]),
                    "heads": p.parse().map(|t| &t.heads),
                    "weights": p.parse().map(|t| &t.weights),
                });
                // With several tree latents, every one's tree by name.
                if p.parses.len() > 1 {
                    v["trees"] = p
                        .parses
                        .iter()
                        .map(|(n, t)| (n.clone(), json!({"heads": t.heads, "weights": t.weights})))
                        .collect::<serde_json::Map<_, _>>()
                        .into();
                }
                out += &format!("{v}\n");
            }
            out
        }
        Format::Svg => {
            let figures: Vec<Figure> = predictions
                .iter()
                .enumerate()
                .flat_map(|(i, p)| {
                    let several = p.parses.len() > 1;
                    p.parses.iter().map(move |(latent, parse)| Figure {
                        title: if several {
                            format!("{} · {latent}", title(i, p))
                        } else {
                            title(i, p)
                        },
                        parse: parse.clone(),
                    })
                })
                .collect();
            tree_draw::svg(&figures)
        }
    }
}
