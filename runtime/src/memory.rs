//! How much memory a run will need, estimated before anything is
//! allocated, so that a size no machine can hold (`--set K=1e9`, a
//! sentence of 10,000 words) is refused with the estimate and the
//! machine's memory instead of aborting on a failed allocation.
//!
//! The estimate counts what dominates, each term an upper bound of its
//! kind rather than an exact figure: the parameters with their gradients
//! and the optimizer's moments; every node's value for a batch (twice:
//! training keeps a gradient beside each); the structured ops' working
//! charts (six f64 copies of a tree latent's score array); and the
//! generated synthetic data. A run is refused when the estimate exceeds
//! the memory the system reports available.

use lsmc_ir::data::DataSource;
use lsmc_ir::graph::{Graph, Op};
use lsmc_ir::plan::Optimizer;
use lsmc_ir::types::Dim;
use lsmc_ir::Program;

/// Bytes, by what needs them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Estimate {
    /// Parameters and their gradients.
    pub params: u64,
    /// The optimizer's moments.
    pub optimizer: u64,
    /// Values and gradients of one batch, and the structured ops' charts.
    pub activations: u64,
    /// Generated data (synthetic mixtures); 0 for data read from files,
    /// whose size the files themselves bound.
    pub data: u64,
}

impl Estimate {
    /// What a program needs before its data is read: parameters with
    /// gradients, the optimizer's moments and generated data.
    pub fn before_data(program: &Program, element: u64) -> Estimate {
        let (params, optimizer) = parameters(program, element);
        Estimate {
            params,
            optimizer,
            activations: 0,
            data: data(&program.data, element),
        }
    }

    pub fn total(&self) -> u64 {
        self.params
            .saturating_add(self.optimizer)
            .saturating_add(self.activations)
            .saturating_add(self.data)
    }
}

/// `bytes` for people: `812.3 GB`, `4.1 MB`.
pub fn human(bytes: u64) -> String {
    if bytes == u64::MAX {
        return "more than 18 EB".into();
    }
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

impl std::fmt::Display for Estimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [
            ("parameters and gradients", self.params),
            ("optimizer state", self.optimizer),
            ("activations", self.activations),
            ("generated data", self.data),
        ]
        .iter()
        .filter(|(_, b)| *b > 0)
        .map(|(what, b)| format!("{what} {}", human(*b)))
        .collect();
        write!(f, "about {} ({})", human(self.total()), parts.join(", "))
    }
}

fn product(dims: impl IntoIterator<Item = u64>) -> u64 {
    dims.into_iter().fold(1u64, u64::saturating_mul)
}

/// The size of `dim` with batch `batch` and each text length of `lengths`
/// (`(symbol, words)`; a symbol not listed counts 1).
fn size(dim: &Dim, batch: u64, lengths: &[(&str, usize)]) -> u64 {
    match dim {
        Dim::Const(n) => *n,
        Dim::Sym("B", k) => batch.saturating_add(*k),
        Dim::Sym(s, k) => lengths
            .iter()
            .find(|(t, _)| t == s)
            .map_or(1, |(_, n)| *n as u64)
            .saturating_add(*k),
    }
}

/// Parameters (with gradients) and the optimizer's moments, in `element`-byte numbers.
pub fn parameters(program: &Program, element: u64) -> (u64, u64) {
    let count = program
        .graph
        .params
        .iter()
        .map(|p| product(p.shape.iter().map(|&d| d as u64)))
        .fold(0u64, u64::saturating_add);
    let bytes = count.saturating_mul(element);
    let moments = match program.train.optimizer {
        Optimizer::Adam(_) | Optimizer::AdamW(_) => 2,
        Optimizer::Sgd { momentum, .. } => u64::from(momentum != 0.0),
    };
    (bytes.saturating_mul(2), bytes.saturating_mul(moments))
}

/// One batch's values and gradients, and the structured ops' charts.
pub fn activations(graph: &Graph, batch: u64, lengths: &[(&str, usize)], element: u64) -> u64 {
    graph
        .nodes
        .iter()
        .map(|n| {
            let values = product(n.dims.iter().map(|d| size(d, batch, lengths)));
            let input = |i: usize| &graph.nodes[n.inputs[i]];
            let workspace = match &n.op {
                // Trees' inside and outside charts; a categorical latent
                // works in place.
                Op::Latent(l) if l.structure.scores.rank() > 2 => values.saturating_mul(6 * 8),
                // Eq. 23 keeps every pair's hidden activations,
                // `[B, N+1, N+1, hidden]`, for its backward.
                Op::PairScore => {
                    let hidden = input(0).dims.get(2).map_or(1, |d| size(d, batch, lengths));
                    values.saturating_mul(hidden).saturating_mul(element)
                }
                // The attention weights, shaped like the scores.
                Op::Attend => product(input(0).dims.iter().map(|d| size(d, batch, lengths)))
                    .saturating_mul(element),
                _ => 0,
            };
            values.saturating_mul(element * 2).saturating_add(workspace)
        })
        .fold(0u64, u64::saturating_add)
}

/// Generated data: the examples of every split and the mixture's clusters.
pub fn data(source: &DataSource, element: u64) -> u64 {
    match source {
        DataSource::SyntheticMixture(m) => {
            let examples = (m.train as u64)
                .saturating_add(m.valid as u64)
                .saturating_add(m.test as u64);
            let features = m.features as u64;
            // f64 while generated, then the split in the run's type.
            let x = product([examples, features]).saturating_mul(8 + element);
            let clusters = product([m.clusters as u64, features, 2]).saturating_mul(8);
            x.saturating_add(clusters)
        }
        DataSource::HmmSequences(h) => {
            let sentences = (h.train as u64)
                .saturating_add(h.valid as u64)
                .saturating_add(h.test as u64);
            // Generated in full before training: each word's state and
            // symbol (usize), then its token id and gold tag in the split,
            // as long as the longest sentence may be.
            let words = product([sentences, h.max_length as u64]).saturating_mul(32);
            let per_sentence = sentences.saturating_mul(128);
            // Emissions and label weights (states × symbols), transitions,
            // and the symbols' vectors (f64 drawn, then the run's type).
            let (k, v) = (h.states as u64, h.symbols as u64 + 2);
            let tables = product([k, v, 2, 8]).saturating_add(product([k, k, 8]));
            let vectors = product([v, h.embeddings.dim() as u64, 8 + element]);
            words
                .saturating_add(per_sentence)
                .saturating_add(tables)
                .saturating_add(vectors)
        }
        DataSource::Sst(_) | DataSource::Table(_) => 0,
    }
}

/// The memory the system reports available (Linux `MemAvailable`), if
/// it says.
pub fn available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

/// `Err` with the estimate and the machine's memory when `estimate` will
/// not fit; `at` says at what sizes it was made.
pub fn fits(estimate: &Estimate, at: &str) -> Result<(), String> {
    let Some(free) = available() else {
        return Ok(());
    };
    if estimate.total() <= free {
        return Ok(());
    }
    Err(format!(
        "this run needs {estimate} {at}, but the machine has {} available; make the model or the batch smaller",
        human(free)
    ))
}

/// Checks that one forward pass over a batch of `batch` examples with
/// these text lengths fits (evaluation and predictions: no gradients,
/// no optimizer).
pub fn batch_fits(
    graph: &Graph,
    batch: u64,
    lengths: &[(&str, usize)],
    element: u64,
) -> Result<(), String> {
    let estimate = Estimate {
        activations: activations(graph, batch, lengths, element) / 2,
        ..Estimate::default()
    };
    fits(&estimate, &format!("for {}", batch_sizes(batch, lengths)))
}

/// `a batch of 64 with N = 31, M = 17`, as estimates say where they were made.
pub fn batch_sizes(batch: u64, lengths: &[(&str, usize)]) -> String {
    let words: Vec<String> = lengths.iter().map(|(s, n)| format!("{s} = {n}")).collect();
    if words.is_empty() {
        format!("a batch of {batch}")
    } else {
        format!("a batch of {batch} with {}", words.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_sequences_count_every_word_of_every_split_and_the_chains_tables() {
        let hmm = |train: usize, states: usize, symbols: usize| {
            DataSource::HmmSequences(lsmc_ir::data::Hmm {
                states,
                symbols,
                min_length: 5,
                max_length: 1000,
                train,
                valid: 1,
                test: 1,
                seed: 1,
                embeddings: lsmc_ir::data::Embeddings::Random { dim: 16 },
            })
        };
        // A billion sentences of up to 1,000 words: no machine holds them,
        // so training refuses before generating (it used to abort).
        assert!(data(&hmm(1_000_000_000, 5, 30), 4) > 10_000_000_000_000);
        // The largest chain's tables alone: 1,000 × 100,002 × 2 f64.
        assert!(data(&hmm(1, 1000, 100_000), 4) > 1_600_000_000);
        assert!(data(&hmm(100, 5, 30), 4) < 10_000_000);
    }

    #[test]
    fn sizes_read_for_people() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(4_100_000), "4.1 MB");
        assert_eq!(human(812_300_000_000), "812.3 GB");
        assert_eq!(human(u64::MAX), "more than 18 EB");
    }

    #[test]
    fn products_saturate_instead_of_wrapping() {
        assert_eq!(product([u64::MAX / 2, 3]), u64::MAX);
        let e = Estimate {
            params: u64::MAX,
            optimizer: 1,
            activations: 1,
            data: 0,
        };
        assert_eq!(e.total(), u64::MAX);
    }
}
