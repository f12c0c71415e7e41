//! What `lsmc check` prints for a clean spec: every named value with its
//! shape, parameter counts per block, the latent resolved, the training plan.

use crate::types::ParamCount;
use serde::Serialize;
use std::fmt;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub model: String,
    /// `param`s after overrides, in order.
    pub params: Vec<(String, String)>,
    pub data: Option<DataSummary>,
    pub blocks: Vec<BlockSummary>,
    /// One per `latent` line, in file order.
    pub latents: Vec<LatentSummary>,
    pub loss: String,
    pub train: TrainSummary,
    pub total_params: ParamCount,
    /// `--set` flags applied.
    pub overrides: Vec<String>,
    /// Surrogates defined by the spec itself or its `use`d files.
    pub surrogates: Vec<String>,
    /// The file only defines surrogates and params for other specs.
    pub library: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct DataSummary {
    pub source: String,
    pub provides: Vec<NamedShape>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct NamedShape {
    pub name: String,
    pub shape: String,
    pub note: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct BlockSummary {
    pub block: String,
    pub values: Vec<ValueSummary>,
    pub params: ParamCount,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ValueSummary {
    pub name: String,
    pub shape: String,
    pub expr: String,
    pub params: ParamCount,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct LatentSummary {
    pub name: String,
    pub structure: String,
    pub forward: String,
    /// The surrogate with every argument resolved, defaults included.
    pub surrogate: Option<String>,
    pub shape: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TrainSummary {
    pub optimizer: String,
    pub batch: String,
    pub length: String,
    pub seed: Option<String>,
    pub evaluate: String,
    pub metrics: Vec<String>,
    /// Schedule, clipping, early stopping and logging, as set
    /// (`cosine(warmup = 100)`, `clip_norm 5`, `patience 3`, `log every 50 steps`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<String>,
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Summary {
    fn params_line(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.params.is_empty() {
            return Ok(());
        }
        let ps: Vec<String> = self
            .params
            .iter()
            .map(|(n, v)| format!("{n} = {v}"))
            .collect();
        writeln!(f, "  params   {}", ps.join(", "))
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.library {
            writeln!(f, "library {}", self.model)?;
            self.params_line(f)?;
            return match self.surrogates.is_empty() {
                true => writeln!(f, "  defines  no surrogates"),
                false => writeln!(f, "  defines  surrogate {}", self.surrogates.join(", ")),
            };
        }
        writeln!(f, "model {}", self.model)?;
        self.params_line(f)?;
        if !self.overrides.is_empty() {
            writeln!(f, "  --set    {}", self.overrides.join(", "))?;
        }
        if let Some(d) = &self.data {
            writeln!(f, "  data     {}", d.source)?;
            for p in &d.provides {
                writeln!(f, "             {:<12} {:<22} {}", p.name, p.shape, p.note)?;
            }
        }
        let width = self
            .blocks
            .iter()
            .flat_map(|b| b.values.iter().map(|v| one_line(&v.expr).chars().count()))
            .max()
            .unwrap_or(0)
            .min(44);
        let print_block = |f: &mut fmt::Formatter<'_>, b: &BlockSummary| -> fmt::Result {
            writeln!(f, "  {:<8} {} parameters", b.block, b.params)?;
            for v in &b.values {
                let expr = one_line(&v.expr);
                let params = if v.params == ParamCount::default() {
                    String::new()
                } else {
                    format!("{} params", v.params)
                };
                let line = format!(
                    "             {:<8} = {:<width$}  {:<18} {}",
                    v.name, expr, v.shape, params
                );
                writeln!(f, "{}", line.trim_end())?;
            }
            Ok(())
        };
        for b in self.blocks.iter().filter(|b| b.block == "encoder") {
            print_block(f, b)?;
        }
        for l in &self.latents {
            writeln!(
                f,
                "  latent   {} : {} = {}    {}",
                l.name,
                l.structure,
                one_line(&l.forward),
                l.shape
            )?;
            match &l.surrogate {
                Some(s) => writeln!(f, "             backward via {s}")?,
                None => writeln!(f, "             backward: exact gradient of the relaxation")?,
            }
        }
        for b in self.blocks.iter().filter(|b| b.block == "decoder") {
            print_block(f, b)?;
        }
        writeln!(f, "  loss     {}", one_line(&self.loss))?;
        writeln!(f, "  total    {} parameters", self.total_params)?;
        let t = &self.train;
        let seed = t
            .seed
            .as_ref()
            .map(|s| format!(", seed {s}"))
            .unwrap_or_default();
        writeln!(
            f,
            "  train    {}, batch {}, {}{seed}",
            t.optimizer, t.batch, t.length
        )?;
        writeln!(f, "             evaluate {}", t.evaluate)?;
        if !t.metrics.is_empty() {
            writeln!(f, "             metrics {}", t.metrics.join(", "))?;
        }
        if !t.controls.is_empty() {
            writeln!(f, "             {}", t.controls.join(", "))?;
        }
        if !self.surrogates.is_empty() {
            writeln!(f, "  defines  surrogate {}", self.surrogates.join(", "))?;
        }
        Ok(())
    }
}
