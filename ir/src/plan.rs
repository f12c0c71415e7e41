//! The training plan: optimiser, batching, length, evaluations and metrics.

use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub struct TrainPlan {
    pub optimizer: Optimizer,
    /// `None`: the whole split in one batch.
    pub batch: Option<u64>,
    pub steps: Option<u64>,
    pub epochs: Option<u64>,
    pub seed: Option<u64>,
    /// `None`: evaluate once, at the end.
    pub evaluate_every: Option<(u64, Unit)>,
    /// Never empty: the compiler fills in valid and test.
    pub evaluate_on: Vec<Split>,
    pub metrics: Vec<Metric>,
    /// Stop after this many evaluations in a row that do not improve the
    /// selection metric (`patience N`); `None`: run every planned step.
    pub patience: Option<u64>,
    /// How the optimiser's learning rate changes over the run.
    pub schedule: Schedule,
    /// Rescale the gradient so its global L2 norm is at most this
    /// (`clip_norm X`, PyTorch's `clip_grad_norm_`).
    pub clip_norm: Option<f64>,
    /// Log the training loss and learning rate every this many steps
    /// (`log every N steps`).
    pub log_every: Option<(u64, Unit)>,
}

/// A learning-rate schedule: a linear warm-up from 0 over `warmup` steps,
/// then a decay; the factor each step's learning rate is multiplied by is
/// computed in the runtime (`lsmc_runtime::schedule`).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Schedule {
    pub warmup: u64,
    pub decay: Decay,
}

#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Decay {
    /// The optimiser's learning rate throughout (after any warm-up).
    #[default]
    Constant,
    /// Linearly to 0 at the last step.
    Linear,
    /// Along a half cosine to 0 at the last step.
    Cosine,
    /// Multiplied by `gamma` every `every` steps.
    Step { every: u64, gamma: f64 },
}

impl Schedule {
    /// The schedule as a spec writes it.
    pub fn name(&self) -> &'static str {
        match self.decay {
            Decay::Constant => "constant",
            Decay::Linear => "linear_decay",
            Decay::Cosine => "cosine",
            Decay::Step { .. } => "step_decay",
        }
    }
}

/// An optimiser with every hyper-parameter bound (PyTorch's semantics).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    Adam(Adam),
    /// Adam with decoupled weight decay.
    AdamW(Adam),
    Sgd {
        lr: f64,
        momentum: f64,
        weight_decay: f64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
}

impl TrainPlan {
    /// The key each metric's value is reported under, in metric order:
    /// its name, or, for two metrics of one kind, the text that tells
    /// them apart (`accuracy(y_hat, y)`).
    pub fn metric_keys(&self) -> Vec<String> {
        self.metrics
            .iter()
            .map(|m| {
                let twice = self.metrics.iter().filter(|o| o.kind == m.kind).count() > 1;
                if twice {
                    m.text.clone()
                } else {
                    m.kind.name().to_string()
                }
            })
            .collect()
    }
}

impl Optimizer {
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Adam(_) => "adam",
            Optimizer::AdamW(_) => "adamw",
            Optimizer::Sgd { .. } => "sgd",
        }
    }

    pub fn lr(&self) -> f64 {
        match self {
            Optimizer::Adam(a) | Optimizer::AdamW(a) => a.lr,
            Optimizer::Sgd { lr, .. } => *lr,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Unit {
    #[default]
    Steps,
    Epochs,
}

/// A part of the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Split {
    Train,
    Valid,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Valid, Split::Test];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
        }
    }

    pub fn parse(name: &str) -> Option<Split> {
        Split::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Share of examples whose highest logit is the gold class.
    Accuracy,
    /// V-measure of a latent's clusters against gold ones: a categorical
    /// latent's per example, a sequence latent's tags per word.
    VMeasure,
    /// Share of sentences whose whole tag path, after the one-to-one
    /// renaming of predicted tags that best agrees with the gold tags over
    /// the split, is the gold path.
    PathMatch,
}

impl MetricKind {
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Accuracy => "accuracy",
            MetricKind::VMeasure => "v_measure",
            MetricKind::PathMatch => "path_match",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub kind: MetricKind,
    /// The named values it reads: prediction, then gold.
    pub pred: String,
    pub gold: String,
    /// For a metric over the words of sentences (gold `class(K)[B, N]`):
    /// the input holding each sentence's true length (`lengths` for `N`),
    /// so padding is never counted. `None`: one gold label per example.
    pub lengths: Option<String>,
    /// As written in the spec, `accuracy(y_hat, y)`: the key of a metric
    /// that appears twice.
    pub text: String,
}
