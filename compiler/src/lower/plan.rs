//! The data line and the training block as typed values.

// A diagnostic is the error of a whole lowering, made at most once per
// problem: its size does not matter.
#![allow(clippy::result_large_err)]

use super::internal;
use crate::builtins::shapes::{ArgError, Args, Val};
use crate::diag::Diagnostic;
use crate::model::Model;
use crate::span::{FileId, Span};
use lsmc_ir::data::{
    DataSource, Embeddings, Hmm, LabelField, Mixture, SplitRule, Sst, SstLabels, Table,
    TableFormat, TextField, Tokenize,
};
use lsmc_ir::plan::{Adam, Decay, Metric, MetricKind, Optimizer, Schedule, Split, TrainPlan};
use std::path::PathBuf;

/// Where a plan-level problem is reported: the model carries no span for
/// its data and training lines.
fn nowhere() -> Span {
    Span::new(FileId(0), 0, 0)
}

fn arg_error(what: &str, e: ArgError) -> Diagnostic {
    internal(format!("{what}: {e}"), nowhere())
}

/// The word vectors a data line's `embeddings = …` names.
fn embeddings(a: &Args) -> Result<Embeddings, Diagnostic> {
    let (name, e) = a
        .call("embeddings")
        .map_err(|x| arg_error("embeddings", x))?;
    let dim = e.size("dim").map_err(|x| arg_error(name, x))? as usize;
    match name {
        "glove" => Ok(Embeddings::Glove {
            path: PathBuf::from(e.string("path").map_err(|x| arg_error(name, x))?),
            dim,
        }),
        "random" => Ok(Embeddings::Random { dim }),
        other => Err(internal(
            format!("no embedding source `{other}`"),
            nowhere(),
        )),
    }
}

/// `table(…)`'s arguments as the reader's configuration. The checker
/// reports [`table_problems`] on the data line.
pub(crate) fn table(a: &Args) -> Result<Table, Diagnostic> {
    table_args(a, embeddings(a)?).map_err(|e| arg_error("table", e))
}

/// What the checker refuses in a `table(…)` line whatever its files
/// hold: the reader's own [`Table::problems`], texts without a column or
/// more texts than there are length symbols.
pub(crate) fn table_problems(a: &Args) -> Vec<String> {
    let mut out = Vec::new();
    if let (Ok(texts), Ok(columns)) = (a.strings("texts"), a.strings("columns")) {
        if !columns.is_empty() && columns.len() != texts.len() {
            out.push(format!(
                "`columns` names {} columns for {} texts",
                columns.len(),
                texts.len()
            ));
        }
        let most = lsmc_ir::types::TEXT_LENGTHS.len();
        if texts.len() > most {
            out.push(format!(
                "{} texts; a record may have at most {most}",
                texts.len()
            ));
        }
    }
    match table(a) {
        Ok(t) => out.extend(t.problems()),
        Err(d) => out.push(d.message),
    }
    out
}

/// `hmm_sequences(…)`'s arguments as the generator's configuration.
pub(crate) fn hmm(a: &Args) -> Result<Hmm, Diagnostic> {
    let embeddings = embeddings(a)?;
    let size = |name: &str| {
        a.size(name)
            .map(|v| v as usize)
            .map_err(|e| arg_error("hmm_sequences", e))
    };
    Ok(Hmm {
        states: size("states")?,
        symbols: size("symbols")?,
        min_length: size("min_length")?,
        max_length: size("max_length")?,
        train: size("train")?,
        valid: size("valid")?,
        test: size("test")?,
        seed: a.size("seed").map_err(|e| arg_error("hmm_sequences", e))?,
        embeddings,
    })
}

/// What the checker refuses in an `hmm_sequences(…)` line beyond each
/// argument's own range: the generator's [`Hmm::problems`]
/// (`min_length` above `max_length`, GloVe vectors for symbols).
pub(crate) fn hmm_problems(a: &Args) -> Vec<String> {
    match hmm(a) {
        Ok(h) => h.problems(),
        Err(d) => vec![d.message],
    }
}

fn table_args(a: &Args, embeddings: Embeddings) -> Result<Table, ArgError> {
    let texts = a.strings("texts")?;
    let columns = a.strings("columns")?;
    let columns = if columns.is_empty() { texts } else { columns };
    let (rule, r) = a.call("split")?;
    let file = PathBuf::from(a.string("file")?);
    let split = match rule {
        "holdout" => SplitRule::Holdout {
            file,
            fraction: r.float("fraction")?,
            seed: r.size("seed")?,
            test: PathBuf::from(r.string("test")?),
        },
        "column" => SplitRule::Column {
            file,
            column: r.string("name")?.to_string(),
            train: r.string("train")?.to_string(),
            valid: r.string("valid")?.to_string(),
            test: r.string("test")?.to_string(),
        },
        _ => SplitRule::Files {
            train: file,
            valid: PathBuf::from(r.string("valid")?),
            test: PathBuf::from(r.string("test")?),
        },
    };
    Ok(Table {
        format: match a.symbol("format")? {
            "tsv" => TableFormat::Tsv,
            _ => TableFormat::Jsonl,
        },
        split,
        texts: texts
            .iter()
            .zip(columns)
            .map(|(name, column)| TextField {
                name: name.clone(),
                column: column.clone(),
            })
            .collect(),
        label: LabelField {
            column: a.string("label")?.to_string(),
            names: a.strings("classes")?.to_vec(),
            skip: a.strings("skip")?.to_vec(),
        },
        tokenize: Tokenize {
            lowercase: a.bool("lowercase")?,
        },
        embeddings,
    })
}

pub(super) fn data(model: &Model) -> Result<DataSource, Diagnostic> {
    let a = &model.data_args;
    let err = |e| arg_error(&model.data_source, e);
    let size = |name: &str| a.size(name).map(|v| v as usize).map_err(err);
    match model.data_source.as_str() {
        "synthetic_mixture" => Ok(DataSource::SyntheticMixture(Mixture {
            clusters: size("clusters")?,
            features: size("features")?,
            train: size("train")?,
            valid: size("valid")?,
            test: size("test")?,
            noise: a.float("noise").map_err(err)?,
            seed: a.size("seed").map_err(err)?,
        })),
        "sst" => {
            let labels = match a.symbol("labels").map_err(err)? {
                "binary" => SstLabels::Binary,
                "fine" => SstLabels::Fine,
                other => {
                    return Err(internal(
                        format!("sst has no label set `{other}`"),
                        nowhere(),
                    ))
                }
            };
            let embeddings = embeddings(a)?;
            Ok(DataSource::Sst(Sst {
                path: PathBuf::from(a.string("path").map_err(err)?),
                labels,
                embeddings,
            }))
        }
        "table" => Ok(DataSource::Table(table(a)?)),
        "hmm_sequences" => Ok(DataSource::HmmSequences(hmm(a)?)),
        "" => Err(internal("the spec has no `data` line".into(), nowhere())),
        other => Err(Diagnostic::error(
            "lsm::lower::unsupported",
            format!("the `{other}` data source has no reader in this runtime yet"),
            nowhere(),
            "no runtime implementation",
        )),
    }
}

fn betas(a: &Args) -> Result<(f64, f64), ArgError> {
    match a.get("betas") {
        Some(Val::Floats(b)) if b.len() == 2 => Ok((b[0], b[1])),
        other => Err(ArgError {
            name: "betas".into(),
            expected: "a list of 2 numbers",
            found: other.map(crate::check::format_val),
        }),
    }
}

fn optimizer(name: &str, a: &Args) -> Result<Optimizer, ArgError> {
    let adam = || -> Result<Adam, ArgError> {
        Ok(Adam {
            lr: a.float("lr")?,
            betas: betas(a)?,
            eps: a.float("eps")?,
            weight_decay: a.float("weight_decay")?,
        })
    };
    Ok(match name {
        "adam" => Optimizer::Adam(adam()?),
        "adamw" => Optimizer::AdamW(adam()?),
        "sgd" => Optimizer::Sgd {
            lr: a.float("lr")?,
            momentum: a.float("momentum")?,
            weight_decay: a.float("weight_decay")?,
        },
        other => {
            return Err(ArgError {
                name: "optimizer".into(),
                expected: "adam, adamw or sgd",
                found: Some(format!("`{other}`")),
            })
        }
    })
}

pub(super) fn train(model: &Model) -> Result<TrainPlan, Diagnostic> {
    let t = &model.train;
    let optimizer = optimizer(&t.optimizer, &t.optimizer_args)
        .map_err(|e| arg_error(&format!("optimizer `{}`", t.optimizer), e))?;
    let evaluate_on = if t.evaluate_on.is_empty() {
        vec![Split::Valid, Split::Test]
    } else {
        t.evaluate_on
            .iter()
            .map(|s| {
                Split::parse(s).ok_or_else(|| internal(format!("no split named `{s}`"), nowhere()))
            })
            .collect::<Result<_, _>>()?
    };
    let metrics = t
        .metrics
        .iter()
        .map(|m| {
            let kind = match m.name.as_str() {
                "accuracy" => MetricKind::Accuracy,
                "v_measure" => MetricKind::VMeasure,
                "path_match" => MetricKind::PathMatch,
                other => return Err(internal(format!("no metric `{other}`"), nowhere())),
            };
            let [pred, gold] = m.args.as_slice() else {
                return Err(internal(
                    format!("`{}` reads {} values, not 2", m.text, m.args.len()),
                    nowhere(),
                ));
            };
            Ok(Metric {
                kind,
                pred: pred.clone(),
                gold: gold.clone(),
                lengths: word_lengths(model, gold),
                text: m.text.clone(),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(TrainPlan {
        optimizer,
        batch: t.batch,
        steps: t.steps,
        epochs: t.epochs,
        seed: t.seed,
        evaluate_every: t.evaluate_every,
        evaluate_on,
        metrics,
        patience: t.patience,
        schedule: match &t.schedule {
            None => Schedule::default(),
            Some((name, args)) => schedule(name, args).map_err(|e| arg_error("schedule", e))?,
        },
        clip_norm: t.clip_norm,
        log_every: t.log_every,
    })
}

/// The input holding the true lengths of the sentences a per-word gold
/// `class(K)[B, N]` labels (`lengths` for `N`, `lengths_M` for `M`), so a
/// metric over words never counts padding; `None` for a gold with one
/// label per example. The gold is a value the data provides, or one an
/// encoder or decoder line names.
fn word_lengths(model: &Model, gold: &str) -> Option<String> {
    let provided = crate::builtins::shapes::provides(&model.data_source, &model.data_args).ok()?;
    let ty = provided
        .into_iter()
        .find(|(name, _, _)| name == gold)
        .map(|(_, ty, _)| ty)
        .or_else(|| {
            model
                .encoder
                .iter()
                .chain(&model.decoder)
                .find(|s| s.name == gold)
                .map(|s| s.value.ty.clone())
        })?;
    match ty.dims.as_slice() {
        [_, lsmc_ir::types::Dim::Sym(symbol, 0)] => Some(lsmc_ir::types::lengths_input(symbol)),
        _ => None,
    }
}

/// A `schedule NAME(…)` with its arguments bound by the checker.
fn schedule(name: &str, a: &Args) -> Result<Schedule, ArgError> {
    let decay = match name {
        "constant" => Decay::Constant,
        "linear_decay" => Decay::Linear,
        "cosine" => Decay::Cosine,
        "step_decay" => Decay::Step {
            every: a.size("every")?,
            gamma: a.float("gamma")?,
        },
        other => {
            return Err(ArgError {
                name: "schedule".into(),
                expected: "constant, linear_decay, cosine or step_decay",
                found: Some(format!("`{other}`")),
            })
        }
    };
    Ok(Schedule {
        warmup: a.size("warmup")?,
        decay,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check_text, Origin};
    use lsmc_runtime::latent::registry::catalog;

    /// A sequence latent over `hmm_sequences` data; `data` replaces the
    /// data line's arguments, `metrics` the metric lines.
    fn hmm_spec(data: &str, metrics: &str) -> String {
        format!(
            "model seq\n\
             data hmm_sequences({data})\n\
             encoder {{\n  e = embed(tokens, embeddings)\n  s = chain_scores(e, 3)\n}}\n\
             latent z : sequence(3) = marg(s)\n\
             decoder {{\n  y_hat = linear(sum_pool(tags(z) * linear(e, 3)), 2)\n}}\n\
             loss cross_entropy(y_hat, y)\n\
             train {{\n  optimizer adam()\n  batch 10\n  steps 1\n{metrics}\n}}\n"
        )
    }

    const DATA: &str =
        "states = 4, symbols = 9, train = 20, valid = 5, test = 5, embeddings = random(dim = 4)";

    /// The errors of a spec: code, message and the text the primary label
    /// points at.
    fn errors(text: &str) -> Vec<(&'static str, String, String)> {
        let report = check_text("seq.lsm", text, Origin::CommandLine, &[], catalog());
        report
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| {
                let at = report.sources.slice(d.primary.span).to_string();
                (d.code, d.message.clone(), at)
            })
            .collect()
    }

    fn program(text: &str) -> lsmc_ir::Program {
        let report = check_text("seq.lsm", text, Origin::CommandLine, &[], catalog());
        assert!(!report.has_errors(), "{:#?}", report.diagnostics);
        crate::lower::lower(report.model.as_ref().expect("a model"))
            .unwrap_or_else(|d| panic!("does not lower: {d:#?}"))
    }

    #[test]
    fn an_hmm_data_line_lowers_to_the_generator_with_its_defaults() {
        let p = program(&hmm_spec(DATA, "  metric accuracy(y_hat, y)"));
        assert_eq!(
            p.data,
            DataSource::HmmSequences(Hmm {
                states: 4,
                symbols: 9,
                min_length: 5,
                max_length: 15,
                train: 20,
                valid: 5,
                test: 5,
                seed: 42,
                embeddings: Embeddings::Random { dim: 4 },
            })
        );
    }

    #[test]
    fn metrics_over_words_read_the_sentence_lengths_and_others_do_not() {
        let metrics = "  metric accuracy(y_hat, y)\n  metric v_measure(z, z_gold)\n  metric path_match(z, z_gold)";
        let p = program(&hmm_spec(DATA, metrics));
        let got: Vec<(MetricKind, Option<&str>)> = p
            .train
            .metrics
            .iter()
            .map(|m| (m.kind, m.lengths.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (MetricKind::Accuracy, None),
                (MetricKind::VMeasure, Some("lengths")),
                (MetricKind::PathMatch, Some("lengths")),
            ]
        );
        assert_eq!(
            p.train.metric_keys(),
            ["accuracy", "v_measure", "path_match"]
        );
    }

    #[test]
    fn hmm_arguments_out_of_range_are_diagnosed_where_they_are_written() {
        let text = hmm_spec(
            "states = 1, symbols = 9, max_length = 1001, embeddings = random(dim = 4)",
            "",
        );
        let got = errors(&text);
        assert_eq!(got.len(), 2, "{got:#?}");
        assert_eq!(got[0].0, "lsm::check::out_of_range");
        assert_eq!(
            got[0].1,
            "`states` of `hmm_sequences` must be from 2 to 1,000, but it is 1"
        );
        assert_eq!(got[0].2, "1");
        assert_eq!(
            got[1].1,
            "`max_length` of `hmm_sequences` must be from 1 to 1,000, but it is 1001"
        );
    }

    #[test]
    fn hmm_arguments_that_disagree_are_bad_data() {
        let text = hmm_spec(
            "min_length = 9, max_length = 4, embeddings = glove(path = \"Cargo.toml\", dim = 4)",
            "",
        );
        let got = errors(&text);
        let messages: Vec<&str> = got.iter().map(|(_, m, _)| m.as_str()).collect();
        assert!(
            got.iter().all(|(c, _, _)| *c == "lsm::check::bad_data"),
            "{got:#?}"
        );
        assert_eq!(
            messages,
            [
                "this data source cannot be read: `min_length` (9) is more than `max_length` (4)",
                "this data source cannot be read: the symbols are not words, so GloVe has no vectors for them; use `embeddings = random(dim = …)`",
            ]
        );
    }

    #[test]
    fn word_metrics_need_a_sequence_latent_and_a_gold_tag_per_word() {
        let cases = [
            (
                "  metric v_measure(z, y)",
                "`v_measure` of a sequence latent over [B, N] expects a gold tag per word class(K)[B, N], found class(2)[B]",
                "y",
            ),
            (
                "  metric path_match(z, y)",
                "`path_match` of a sequence latent over [B, N] expects a gold tag per word class(K)[B, N], found class(2)[B]",
                "y",
            ),
            (
                "  metric path_match(y_hat, z_gold)",
                "`path_match` compares the tag paths of a sequence latent, and this is not one",
                "y_hat",
            ),
            (
                "  metric v_measure(s, z_gold)",
                "`v_measure` measures the clusters of a categorical latent or the tags of a sequence latent, and this is neither",
                "s",
            ),
        ];
        for (metric, message, at) in cases {
            let got = errors(&hmm_spec(DATA, metric));
            assert_eq!(got.len(), 1, "{metric}: {got:#?}");
            assert_eq!(got[0].0, "lsm::check::shape_mismatch", "{metric}");
            assert_eq!(got[0].1, message, "{metric}");
            assert_eq!(got[0].2, at, "{metric}");
        }
    }

    #[test]
    fn a_categorical_latent_keeps_one_gold_cluster_per_example() {
        let text = "data synthetic_mixture(clusters = 3, features = 4)\n\
             encoder { s = linear(x, 3) }\n\
             latent z : categorical(3) = marg(s)\n\
             decoder { y_hat = bilinear(z, x, 2) }\n\
             loss cross_entropy(y_hat, y)\n\
             train { optimizer adam()  batch full  steps 1  metric v_measure(z, z_gold) }\n";
        let p = program(text);
        assert_eq!(p.train.metrics[0].lengths, None);
        let got = errors(&text.replace("v_measure(z, z_gold)", "path_match(z, z_gold)"));
        assert_eq!(
            got[0].1,
            "`path_match` compares the tag paths of a sequence latent, and this is not one"
        );
        assert!(errors(&text.replace("v_measure(z, z_gold)", "v_measure(z, y)")).is_empty());
    }

    fn adam_args() -> Args {
        Args(vec![
            ("lr", Val::Float(2e-3)),
            ("betas", Val::Floats(vec![0.9, 0.999])),
            ("eps", Val::Float(1e-8)),
            ("weight_decay", Val::Float(0.0)),
        ])
    }

    #[test]
    fn optimizers_bind_every_hyper_parameter() {
        let got = optimizer("adamw", &adam_args()).expect("binds");
        assert_eq!(
            got,
            Optimizer::AdamW(Adam {
                lr: 2e-3,
                betas: (0.9, 0.999),
                eps: 1e-8,
                weight_decay: 0.0
            })
        );
    }

    #[test]
    fn an_unknown_optimizer_is_an_error_not_adam() {
        let e = optimizer("adagrad", &adam_args()).unwrap_err();
        assert_eq!(e.found.as_deref(), Some("`adagrad`"));
    }

    #[test]
    fn a_missing_or_mistyped_argument_is_an_error_not_zero() {
        let mut a = adam_args();
        a.0.retain(|(n, _)| *n != "eps");
        let e = optimizer("adam", &a).unwrap_err();
        assert_eq!((e.name.as_str(), e.found), ("eps", None));
        let a = Args(vec![("lr", Val::Symbol("fast".into()))]);
        let e = optimizer("sgd", &a).unwrap_err();
        assert_eq!(e.name, "lr");
        assert!(e.to_string().contains("should be a number"), "{e}");
        // Sizes refuse negatives instead of wrapping.
        let a = Args(vec![("clusters", Val::Int(-3))]);
        assert!(a.size("clusters").is_err());
        assert!(Args::default().bool("bias").is_err());
        assert!(Args::default().symbol("activation").is_err());
    }
}
