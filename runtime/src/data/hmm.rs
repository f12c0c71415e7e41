//! `hmm_sequences(…)`: sentences from a hidden Markov chain, labelled by a
//! function of the hidden path — the paper's §7.1 question (does the
//! surrogate recover the latent?) asked of a structured latent. Generated
//! deterministically from `seed` (ChaCha8), in this order:
//!
//! - the chain, with `K` = `states` and `V` = `symbols`: transition rows
//!   `A[k] ~ Dirichlet(0.3·1_K)` (sparse, a different few successors per
//!   state), emission rows `E[k] ~ Dirichlet(0.1·1_V)` (each state emits a
//!   few symbols, and a symbol is shared by some states, so the symbol
//!   alone is ambiguous and the chain disambiguates), label weights
//!   `w[k][v] ~ N(0, 1)` per state and symbol;
//! - per sentence: its length `n` uniform in `min_length..=max_length`,
//!   the first state uniform, `z_i ~ A[z_{i−1}]`, the symbols
//!   `x_i ~ E[z_i]`;
//! - the label `y = 1[Σ_i w[z_i][x_i] > b]`, `b` the median of that sum
//!   over the train and valid sentences (so labels are balanced); those
//!   are drawn first, train then valid, and the test sentences after them,
//!   from the same chain with the same `b`.
//!
//! The symbols are tokens `s0` … `s{V−1}` of a vocabulary with padding
//! (id 0) and an unknown word (id 1), as the other text sources have, so
//! symbol `v` is token id `v + 2`; their vectors are `random(dim)`'s,
//! seeded by the token. A sentence's gold states `z_gold` are padded with
//! 0, a valid state: consumers mask by `lengths`.

use super::vectors::Vocabulary;
use super::{Dataset, Sequences, Split};
use crate::real::Real;
use lsmc_ir::data::Embeddings;
use lsmc_ir::types::lengths_input;
use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, StandardNormal};
use std::collections::HashMap;
use std::sync::Arc;

/// The generator's settings: the `hmm_sequences(…)` data line.
pub type Config = lsmc_ir::data::Hmm;

/// The Dirichlet concentration of every transition row.
pub const TRANSITION_CONCENTRATION: f64 = 0.3;
/// The Dirichlet concentration of every emission row.
pub const EMISSION_CONCENTRATION: f64 = 0.1;

/// The chain and the label's weights, drawn from the seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    /// `transitions[p][c]`: the probability of state `c` after state `p`.
    pub transitions: Vec<Vec<f64>>,
    /// `emissions[k][v]`: the probability that state `k` emits symbol `v`.
    pub emissions: Vec<Vec<f64>>,
    /// `weights[k][v]`: what symbol `v` emitted by state `k` adds to the
    /// label's score.
    pub weights: Vec<Vec<f64>>,
}

/// One generated sentence: its symbols and the hidden states that
/// emitted them.
#[derive(Clone, Debug, PartialEq)]
pub struct Sentence {
    pub symbols: Vec<usize>,
    pub states: Vec<usize>,
}

/// A sentence with its class.
pub type Labelled = (Sentence, usize);

/// A draw from `Dirichlet(alpha·1_n)`, computed in log space: with
/// `alpha` < 1 a Gamma(alpha) draw can underflow to 0 (all of them, now and
/// then), so each is drawn as `log Gamma(alpha + 1) + log(U)/alpha` (the
/// same law) and the row normalised by a max-shifted softmax.
fn dirichlet(rng: &mut ChaCha8Rng, alpha: f64, n: usize) -> Vec<f64> {
    let gamma = Gamma::new(alpha + 1.0, 1.0).expect("a positive shape and scale");
    let logs: Vec<f64> = (0..n)
        .map(|_| {
            // 1 − U lies in (0, 1]: its logarithm is finite.
            let u = 1.0 - rng.random::<f64>();
            let g: f64 = gamma.sample(rng);
            g.ln() + u.ln() / alpha
        })
        .collect();
    let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = logs.iter().map(|l| (l - top).exp()).collect();
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| w / total).collect()
}

/// An index drawn with probabilities `p` (summing to 1 up to rounding,
/// which the last index absorbs).
fn categorical(rng: &mut ChaCha8Rng, p: &[f64]) -> usize {
    let mut u = rng.random::<f64>();
    for (i, &pi) in p.iter().enumerate() {
        if u < pi {
            return i;
        }
        u -= pi;
    }
    p.len() - 1
}

impl Chain {
    /// The chain of `c`'s sizes: transitions, then emissions, then weights.
    pub fn draw(rng: &mut ChaCha8Rng, c: &Config) -> Chain {
        let (k, v) = (c.states, c.symbols);
        let transitions = (0..k)
            .map(|_| dirichlet(rng, TRANSITION_CONCENTRATION, k))
            .collect();
        let emissions = (0..k)
            .map(|_| dirichlet(rng, EMISSION_CONCENTRATION, v))
            .collect();
        let weights = (0..k)
            .map(|_| (0..v).map(|_| rng.sample(StandardNormal)).collect())
            .collect();
        Chain {
            transitions,
            emissions,
            weights,
        }
    }

    /// A sentence of `lengths` words (a length drawn from the range).
    pub fn sentence(
        &self,
        rng: &mut ChaCha8Rng,
        lengths: std::ops::RangeInclusive<usize>,
    ) -> Sentence {
        let n = rng.random_range(lengths);
        let mut states: Vec<usize> = Vec::with_capacity(n);
        let mut symbols = Vec::with_capacity(n);
        for i in 0..n {
            let z = match i {
                0 => rng.random_range(0..self.transitions.len()),
                _ => categorical(rng, &self.transitions[states[i - 1]]),
            };
            states.push(z);
            symbols.push(categorical(rng, &self.emissions[z]));
        }
        Sentence { symbols, states }
    }

    /// The label's score of a sentence: `Σ_i w[z_i][x_i]`.
    pub fn score(&self, s: &Sentence) -> f64 {
        s.states
            .iter()
            .zip(&s.symbols)
            .map(|(&z, &x)| self.weights[z][x])
            .sum()
    }
}

/// The median (the mean of the middle two of an even count).
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The chain, the labelled train+valid sentences (train first) and the
/// labelled test sentences, with the threshold `b` they share.
pub fn draws(c: &Config) -> Result<(Chain, Vec<Labelled>, Vec<Labelled>, f64), String> {
    if let Some(problem) = c.problems().first() {
        return Err(format!("hmm_sequences: {problem}"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
    let chain = Chain::draw(&mut rng, c);
    let lengths = c.min_length..=c.max_length;
    let sentences = |n: usize, rng: &mut ChaCha8Rng| -> Vec<Sentence> {
        (0..n)
            .map(|_| chain.sentence(rng, lengths.clone()))
            .collect()
    };
    let seen = sentences(c.train + c.valid, &mut rng);
    let test = sentences(c.test, &mut rng);
    let scores: Vec<f64> = seen.iter().map(|s| chain.score(s)).collect();
    let b = median(&scores);
    let label = |s: Sentence| {
        let y = usize::from(chain.score(&s) > b);
        (s, y)
    };
    let seen = seen.into_iter().map(label).collect();
    let test = test.into_iter().map(label).collect();
    Ok((chain, seen, test, b))
}

/// The symbols' vocabulary: `s0` … `s{V−1}` after padding and the unknown
/// word, every one with a seeded random vector.
pub fn vocabulary(c: &Config) -> Result<Vocabulary, String> {
    let Embeddings::Random { dim } = c.embeddings else {
        return Err(
            "hmm_sequences: the symbols are not words; give `embeddings = random(dim = …)`".into(),
        );
    };
    let names: Vec<String> = (0..c.symbols).map(|v| format!("s{v}")).collect();
    Ok(Vocabulary::build(
        names.iter().map(String::as_str),
        std::iter::empty(),
        None,
        dim,
        |w| vec![w.to_string()],
    ))
}

/// Sentences as the model's inputs: `tokens` (symbol `v` is id `v + 2`)
/// and `z_gold`, both padded with 0 to the longest sentence, `lengths`,
/// `y`, and the shared `embeddings` table.
fn encode<T: Real>(sentences: &[Labelled], table: &Arc<ArrayD<T>>) -> Split<T> {
    let n = sentences.len();
    let width = sentences
        .iter()
        .map(|(s, _)| s.symbols.len())
        .max()
        .unwrap_or(0);
    let mut tokens = ArrayD::<T>::zeros(IxDyn(&[n, width]));
    let mut states = ArrayD::<T>::zeros(IxDyn(&[n, width]));
    let mut lengths = ArrayD::<T>::zeros(IxDyn(&[n]));
    let mut y = ArrayD::<T>::zeros(IxDyn(&[n]));
    for (i, (s, label)) in sentences.iter().enumerate() {
        for (j, (&x, &z)) in s.symbols.iter().zip(&s.states).enumerate() {
            tokens[[i, j]] = T::of((x + 2) as f64);
            states[[i, j]] = T::of(z as f64);
        }
        lengths[[i]] = T::of(s.symbols.len() as f64);
        y[[i]] = T::of(*label as f64);
    }
    let inputs = HashMap::from([
        ("tokens".to_string(), Arc::new(tokens)),
        ("z_gold".to_string(), Arc::new(states)),
        (lengths_input("N"), Arc::new(lengths)),
        ("y".to_string(), Arc::new(y)),
    ]);
    Split {
        inputs,
        shared: HashMap::from([("embeddings".to_string(), Arc::clone(table))]),
        sequences: vec![Sequences {
            symbol: "N",
            lengths: sentences.iter().map(|(s, _)| s.symbols.len()).collect(),
            padded: vec!["tokens".into(), "z_gold".into()],
        }],
        len: n,
    }
}

/// The three splits of `c`, or why `c` cannot be generated.
pub fn generate<T: Real>(c: &Config) -> Result<Dataset<T>, String> {
    let (_, seen, test, _) = draws(c)?;
    let table = Arc::new(vocabulary(c)?.embedding_table::<T>());
    let (train, valid) = seen.split_at(c.train);
    Ok(Dataset {
        train: encode(train, &table),
        valid: encode(valid, &table),
        test: encode(&test, &table),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64) -> Config {
        Config {
            states: 4,
            symbols: 12,
            min_length: 3,
            max_length: 9,
            train: 2000,
            valid: 400,
            test: 400,
            seed,
            embeddings: Embeddings::Random { dim: 6 },
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_data_and_another_seed_other_data() {
        let a: Dataset<f64> = generate(&config(1)).unwrap();
        let b: Dataset<f64> = generate(&config(1)).unwrap();
        let c: Dataset<f64> = generate(&config(2)).unwrap();
        for k in ["tokens", "z_gold", "y", "lengths"] {
            assert_eq!(a.train.inputs[k], b.train.inputs[k], "{k}");
            assert_eq!(a.test.inputs[k], b.test.inputs[k], "{k}");
        }
        assert_ne!(a.train.inputs["tokens"], c.train.inputs["tokens"]);
    }

    #[test]
    fn dirichlet_rows_are_distributions_with_the_concentration_they_are_drawn_with() {
        // E[Σ p_i²] = (α + 1) / (nα + 1) for Dirichlet(α·1_n): small α
        // concentrates the mass on few entries.
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (alpha, n) in [(0.1, 30), (0.3, 5), (1.0, 4)] {
            let draws = 4000;
            let mut sum_sq = 0.0;
            for _ in 0..draws {
                let p = dirichlet(&mut rng, alpha, n);
                assert!(p.iter().all(|&x| (0.0..=1.0).contains(&x)));
                assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                sum_sq += p.iter().map(|x| x * x).sum::<f64>();
            }
            let want = (alpha + 1.0) / (n as f64 * alpha + 1.0);
            let got = sum_sq / draws as f64;
            assert!(
                (got - want).abs() < 0.02,
                "α {alpha}, n {n}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn sentences_follow_the_chain_transitions_and_emissions() {
        let c = Config {
            train: 6000,
            ..config(3)
        };
        let (chain, seen, _, _) = draws(&c).unwrap();
        let (k, v) = (c.states, c.symbols);
        let mut moves = vec![vec![0.0; k]; k];
        let mut emits = vec![vec![0.0; v]; k];
        let mut first = vec![0.0; k];
        for (s, _) in &seen {
            assert!((c.min_length..=c.max_length).contains(&s.symbols.len()));
            first[s.states[0]] += 1.0;
            for w in s.states.windows(2) {
                moves[w[0]][w[1]] += 1.0;
            }
            for (&z, &x) in s.states.iter().zip(&s.symbols) {
                emits[z][x] += 1.0;
            }
        }
        let close = |counts: &[f64], p: &[f64], what: &str| {
            let total: f64 = counts.iter().sum();
            if total < 500.0 {
                return;
            }
            for (i, (&n, &pi)) in counts.iter().zip(p).enumerate() {
                let got = n / total;
                assert!((got - pi).abs() < 0.05, "{what}[{i}]: {got} vs {pi}");
            }
        };
        close(&first, &vec![1.0 / k as f64; k], "initial");
        for z in 0..k {
            close(&moves[z], &chain.transitions[z], &format!("A[{z}]"));
            close(&emits[z], &chain.emissions[z], &format!("E[{z}]"));
        }
    }

    #[test]
    fn labels_threshold_the_path_score_at_the_train_valid_median() {
        let c = config(4);
        let (chain, seen, test, b) = draws(&c).unwrap();
        let positive = seen.iter().filter(|(_, y)| *y == 1).count();
        assert_eq!(positive, seen.len() / 2, "balanced at the median");
        for (s, y) in seen.iter().chain(&test) {
            assert_eq!(*y, usize::from(chain.score(s) > b));
        }
        // The score is the sum of the weights along the hidden path.
        let (s, _) = &seen[0];
        let by_hand: f64 = (0..s.symbols.len())
            .map(|i| chain.weights[s.states[i]][s.symbols[i]])
            .sum();
        assert_eq!(chain.score(s), by_hand);
        let test_positive = test.iter().filter(|(_, y)| *y == 1).count() as f64;
        assert!((test_positive / test.len() as f64 - 0.5).abs() < 0.1);
    }

    #[test]
    fn splits_hold_padded_tokens_and_states_with_their_lengths() {
        let c = config(5);
        let d: Dataset<f64> = generate(&c).unwrap();
        let (_, seen, test, _) = draws(&c).unwrap();
        assert_eq!(
            (d.train.len, d.valid.len, d.test.len),
            (c.train, c.valid, c.test)
        );
        for (split, sentences) in [
            (&d.train, &seen[..c.train]),
            (&d.valid, &seen[c.train..]),
            (&d.test, &test[..]),
        ] {
            let (tokens, states) = (&split.inputs["tokens"], &split.inputs["z_gold"]);
            assert_eq!(tokens.shape(), states.shape());
            for (i, (s, y)) in sentences.iter().enumerate() {
                let n = s.symbols.len();
                assert_eq!(split.inputs["lengths"][[i]], n as f64);
                assert_eq!(split.sequences[0].lengths[i], n);
                assert_eq!(split.inputs["y"][[i]], *y as f64);
                for j in 0..tokens.shape()[1] {
                    let (t, z) = (tokens[[i, j]], states[[i, j]]);
                    if j < n {
                        assert_eq!(t, (s.symbols[j] + 2) as f64);
                        assert_eq!(z, s.states[j] as f64);
                    } else {
                        assert_eq!((t, z), (0.0, 0.0), "padding");
                    }
                }
            }
        }
        // A batch cuts both padded inputs to its longest sentence.
        let batch = d.train.batch(&[0, 1]);
        let longest = seen[0].0.symbols.len().max(seen[1].0.symbols.len());
        assert_eq!(batch.inputs["z_gold"].shape(), &[2, longest]);
        assert_eq!(batch.inputs["tokens"].shape(), &[2, longest]);
        let table = &d.train.shared["embeddings"];
        assert_eq!(table.shape(), &[c.symbols + 2, 6]);
        let padding_row = table.index_axis(ndarray::Axis(0), 0);
        assert!(padding_row.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn an_unusable_configuration_is_an_error_not_a_panic() {
        let bad = Config {
            min_length: 10,
            max_length: 2,
            ..config(1)
        };
        let e = generate::<f64>(&bad).unwrap_err();
        assert!(
            e.contains("`min_length` (10) is more than `max_length` (2)"),
            "{e}"
        );
        let glove = Config {
            embeddings: Embeddings::Glove {
                path: "vectors.txt".into(),
                dim: 6,
            },
            ..config(1)
        };
        assert!(generate::<f64>(&glove).unwrap_err().contains("not words"));
        let one_state = Config {
            states: 1,
            ..config(1)
        };
        assert!(generate::<f64>(&one_state).is_err());
    }
}
