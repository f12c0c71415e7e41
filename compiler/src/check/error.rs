//! What the checker can find wrong. One variant per kind of problem; all
//! wording (message, label, help) lives in [`CheckError::details`].

use crate::span::{DataBase, RootFrom};
use crate::syntax::Details;

/// What kind of unknown name was used: decides the code and the candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unknown {
    Layer,
    Structure,
    DataSource,
    Embeddings,
    Split,
    Optimizer,
    Schedule,
    Metric,
    Loss,
    Surrogate,
    SurrogateOp,
}

impl Unknown {
    fn code(self) -> &'static str {
        match self {
            Unknown::Layer => "lsm::check::unknown_layer",
            Unknown::Structure => "lsm::check::unknown_structure",
            Unknown::DataSource => "lsm::check::unknown_data_source",
            Unknown::Embeddings => "lsm::check::unknown_embeddings",
            Unknown::Split => "lsm::check::unknown_split_rule",
            Unknown::Optimizer => "lsm::check::unknown_optimizer",
            Unknown::Schedule => "lsm::check::unknown_schedule",
            Unknown::Metric => "lsm::check::unknown_metric",
            Unknown::Loss => "lsm::check::unknown_loss",
            Unknown::Surrogate => "lsm::check::unknown_surrogate",
            Unknown::SurrogateOp => "lsm::check::unknown_surrogate_op",
        }
    }
    fn noun(self) -> &'static str {
        match self {
            Unknown::Layer => "layer or function",
            Unknown::Structure => "structure",
            Unknown::DataSource => "data source",
            Unknown::Embeddings => "embedding source",
            Unknown::Split => "split rule",
            Unknown::Optimizer => "optimizer",
            Unknown::Schedule => "learning-rate schedule",
            Unknown::Metric => "metric",
            Unknown::Loss => "loss",
            Unknown::Surrogate => "surrogate",
            Unknown::SurrogateOp => "surrogate operation",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum CheckError {
    /// A name used but defined nowhere it is visible.
    UndefinedName {
        name: String,
        suggestion: Option<String>,
        note: Option<String>,
    },
    /// A name defined twice in the same scope.
    DuplicateDefinition { name: String },
    /// A call to a name that is no built-in of the expected kind.
    Unknown {
        what: Unknown,
        name: String,
        suggestion: Option<String>,
        note: Option<String>,
    },
    /// A built-in used where another kind is expected (`adam` as a layer).
    WrongKind {
        name: String,
        is: String,
        expected: String,
    },
    /// More positional arguments than the signature has.
    TooManyArguments {
        callee: String,
        max: usize,
        given: usize,
        signature: String,
    },
    /// A required argument not given.
    MissingArgument {
        callee: String,
        param: String,
        signature: String,
    },
    /// A keyword argument the callee does not have.
    UnknownArgument {
        callee: String,
        name: String,
        suggestion: Option<String>,
        signature: String,
    },
    /// The same parameter given twice.
    DuplicateArgument { name: String },
    /// A positional argument after a keyword argument.
    PositionalAfterKeyword,
    /// An argument of the wrong type.
    ArgumentType {
        callee: String,
        param: String,
        expected: String,
        found: String,
        help: Option<String>,
    },
    /// A number outside the range its parameter allows.
    OutOfRange {
        what: String,
        value: String,
        requirement: &'static str,
    },
    /// Tensor shapes that do not fit.
    ShapeMismatch {
        message: String,
        label: String,
        help: Option<String>,
    },
    /// `heads(z, h)` and friends with a latent that is not a tree.
    NeedsTreeLatent {
        message: String,
        label: String,
        help: Option<String>,
    },
    /// `tags(z)` with a latent that is not a sequence.
    NeedsSequenceLatent {
        message: String,
        label: String,
        help: Option<String>,
    },
    /// A size a layer cannot use.
    BadSize {
        message: String,
        label: String,
        help: Option<String>,
    },
    /// A data line whose arguments no file can make usable (a table with
    /// a class named twice, a fraction outside (0, 1), …).
    BadData { message: String },
    /// `grad`, `loss`, `project`, … outside a surrogate.
    SurrogateOnly { name: String },
    /// A latent mapping (`argmax`, `marg`, …) or noise outside a latent line.
    LatentOnly { name: String },
    /// A layer call on a latent line.
    LayerInLatent { name: String },
    /// A layer call on the loss line.
    LayerInLoss { name: String },
    /// A latent mapping inside a latent mapping (`argmax(marg(s))`).
    NestedMapping { name: String },
    /// `evaluate` without `every N steps|epochs`.
    MalformedEvaluate,
    /// The structure has no algorithm for an operation the spec needs.
    StructureLacks {
        structure: String,
        op: &'static str,
        what: String,
    },
    /// A surrogate body that does not end in `return`.
    MissingReturn { surrogate: String },
    /// A `return` that is not the last statement of the body.
    ReturnNotLast,
    /// A surrogate that returns something not shaped like the scores.
    ReturnShape { found: String },
    /// A surrogate operation applied to a value of the wrong kind.
    SurrogateType { message: String, label: String },
    /// Assigning to `s` or `z` inside a surrogate.
    AssignToInput { name: String },
    /// The right side of a latent line is not a latent mapping.
    BadForward,
    /// Two latent lines with one name.
    DuplicateLatent { name: String },
    /// A latent's scores read another latent's value.
    LatentInScores { latent: String, reads: String },
    /// `argmax(s)` or `sample(s)` without `via`: no gradient would flow.
    MissingSurrogate { forward: String },
    /// A data file or directory that does not exist.
    MissingFile {
        path: String,
        /// Where it was looked for: absolute, `..` resolved.
        resolved: String,
        kind: &'static str,
        /// What a relative `path` was resolved against (`None`: absolute).
        base: Option<(String, DataBase)>,
    },
    /// A required item (`data`, `decoder`, `loss`, `train`) is absent.
    MissingSection { section: &'static str },
    /// An item that may appear once appears again.
    DuplicateSection { section: &'static str },
    /// A required training setting is absent.
    MissingSetting { setting: &'static str },
    /// A training setting that does not exist.
    UnknownSetting {
        name: String,
        suggestion: Option<String>,
    },
    /// Both or neither of `steps` and `epochs`.
    TrainingLength { both: bool },
    /// `evaluate … on SPLIT` with an unknown split.
    UnknownSplit {
        name: String,
        suggestion: Option<String>,
    },
    /// `evaluate every N UNIT` with an unknown unit.
    UnknownUnit { name: String },
    /// `patience N` where no evaluation on valid happens during training.
    PatienceWithoutEvaluation { evaluates: bool },
    /// A warm-up as long as the run or longer.
    WarmupTooLong { warmup: u64, steps: u64 },
    /// A metric argument that is an expression rather than a name.
    MetricArgument,
    /// The loss is not a scalar.
    LossNotScalar { found: String },
    /// A value used where a constant is needed.
    NotConstant { name: String },
    /// An operation on constants that has no meaning (`"a" * 2`).
    BadConstant { message: String },
    /// `use "file"` naming a file that cannot be read.
    UseNotFound { path: String, reason: String },
    /// A file that (indirectly) uses itself.
    UseCycle { path: String },
    /// A chain of `use`s longer than [`super::MAX_USE_DEPTH`] files.
    UseTooDeep { path: String },
    /// A `use`d file holds something other than surrogates and params.
    NotALibrary { item: &'static str },
    /// A value computed and never used (warning).
    UnusedValue { name: String },
    /// A shared layer instance never applied (warning).
    UnusedLayer { name: String },
    /// A shared layer instance applied to inputs whose widths differ from
    /// those of its first application, which sized its weights.
    SharedLayerMismatch {
        name: String,
        first: String,
        here: String,
    },
    /// A `param` never referred to (warning).
    UnusedParam { name: String },
    /// `--set` without `PATH=VALUE` form.
    SetMalformed { text: String },
    /// `--set PATH=…` naming nothing that can be set.
    SetUnknownPath {
        path: String,
        suggestion: Option<String>,
        valid: String,
    },
}

impl CheckError {
    pub fn details(&self) -> Details {
        use CheckError::*;
        let (code, message, label, help): (&'static str, String, String, Option<String>) = match self {
            UndefinedName { name, suggestion, note } => (
                "lsm::check::undefined_name",
                format!("`{name}` is not defined"),
                "not defined".into(),
                join_help(suggestion.as_ref().map(|s| format!("did you mean `{s}`?")), note.clone()),
            ),
            DuplicateDefinition { name } => (
                "lsm::check::duplicate_definition",
                format!("`{name}` is defined more than once"),
                "defined again here".into(),
                Some(format!("rename one of the two definitions of `{name}`")),
            ),
            Unknown { what, name, suggestion, note } => (
                what.code(),
                format!("unknown {} `{name}`", what.noun()),
                format!("no {} is called `{name}`", what.noun()),
                join_help(suggestion.as_ref().map(|s| format!("did you mean `{s}`?")), note.clone()),
            ),
            WrongKind { name, is, expected } => (
                "lsm::check::wrong_kind",
                format!("`{name}` is {is}, not {expected}"),
                format!("expected {expected}"),
                None,
            ),
            TooManyArguments { callee, max, given, signature } => (
                "lsm::check::too_many_arguments",
                format!("`{callee}` takes {} but {given} were given", plural(*max, "argument")),
                "unexpected argument".into(),
                Some(format!("the signature is `{signature}`")),
            ),
            MissingArgument { callee, param, signature } => (
                "lsm::check::missing_argument",
                format!("`{callee}` is missing its argument `{param}`"),
                format!("`{param}` is missing"),
                Some(format!("the signature is `{signature}`")),
            ),
            UnknownArgument { callee, name, suggestion, signature } => (
                "lsm::check::unknown_argument",
                format!("`{callee}` has no argument `{name}`"),
                "unknown argument".into(),
                Some(match suggestion {
                    Some(s) => format!("did you mean `{s}`? the signature is `{signature}`"),
                    None => format!("the signature is `{signature}`"),
                }),
            ),
            DuplicateArgument { name } => (
                "lsm::check::duplicate_argument",
                format!("argument `{name}` is given twice"),
                "given again here".into(),
                None,
            ),
            PositionalAfterKeyword => (
                "lsm::check::positional_after_keyword",
                "positional argument after a keyword argument".into(),
                "positional argument".into(),
                Some("put positional arguments first, or name this one".into()),
            ),
            ArgumentType { callee, param, expected, found, help } => (
                "lsm::check::argument_type",
                format!("argument `{param}` of `{callee}` must be {expected}"),
                format!("this is {found}"),
                help.clone(),
            ),
            OutOfRange { what, value, requirement } => (
                "lsm::check::out_of_range",
                format!("{what} must be {requirement}, but it is {value}"),
                format!("must be {requirement}"),
                None,
            ),
            ShapeMismatch { message, label, help } => ("lsm::check::shape_mismatch", message.clone(), label.clone(), help.clone()),
            NeedsTreeLatent { message, label, help } => ("lsm::check::needs_tree_latent", message.clone(), label.clone(), help.clone()),
            NeedsSequenceLatent { message, label, help } => ("lsm::check::needs_sequence_latent", message.clone(), label.clone(), help.clone()),
            BadSize { message, label, help } => ("lsm::check::bad_size", message.clone(), label.clone(), help.clone()),
            BadData { message } => (
                "lsm::check::bad_data",
                format!("this data source cannot be read: {message}"),
                "in this data line".into(),
                None,
            ),
            SurrogateOnly { name } => (
                "lsm::check::surrogate_only",
                format!("`{name}` can only be used inside a `surrogate` block"),
                "only meaningful in a surrogate gradient".into(),
                Some("define the backward pass in a `surrogate` block and attach it with `via`".into()),
            ),
            LatentOnly { name } => (
                "lsm::check::latent_only",
                format!("`{name}` can only be used on a `latent` line"),
                "not a layer".into(),
                Some(format!("declare a latent: `latent z : categorical(K) = {name}(s) via …`")),
            ),
            LayerInLatent { name } => (
                "lsm::check::layer_in_latent",
                format!("layer `{name}` on a latent line"),
                "compute the scores in the `encoder` block".into(),
                Some("a latent line maps scores to a structure; layers with parameters belong in `encoder`".into()),
            ),
            LayerInLoss { name } => (
                "lsm::check::layer_in_loss",
                format!("layer `{name}` on the loss line"),
                "compute the prediction in the `decoder` block".into(),
                Some("the loss compares named values, e.g. `loss cross_entropy(y_hat, y)`".into()),
            ),
            NestedMapping { name } => (
                "lsm::check::nested_mapping",
                format!("`{name}` inside another latent mapping"),
                "latent mappings do not nest".into(),
                Some("a latent line applies one mapping to the scores, e.g. `= argmax(s)` or `= marg(s)`".into()),
            ),
            MalformedEvaluate => (
                "lsm::check::malformed_evaluate",
                "`evaluate` needs a period".into(),
                "expected `evaluate every N steps` or `evaluate every N epochs`".into(),
                Some("e.g. `evaluate every 500 steps on valid, test`".into()),
            ),
            StructureLacks { structure, op, what } => (
                "lsm::check::structure_lacks_op",
                format!("{structure} has no {op}"),
                format!("{what} needs {op}"),
                Some("choose a structure that provides it, or a surrogate/mapping that does not need it".into()),
            ),
            MissingReturn { surrogate } => (
                "lsm::check::missing_return",
                format!("surrogate `{surrogate}` does not return a gradient"),
                "the body ends here without `return`".into(),
                Some("end the body with `return EXPR`, the surrogate gradient with respect to the scores".into()),
            ),
            ReturnNotLast => (
                "lsm::check::return_not_last",
                "`return` must be the last statement of a surrogate".into(),
                "not at the end of the body".into(),
                None,
            ),
            ReturnShape { found } => (
                "lsm::check::surrogate_return_shape",
                "a surrogate must return a value shaped like the scores".into(),
                format!("this is {found}"),
                Some("surrogate gradients are taken with respect to the scores `s`: return e.g. `map(s) - mu`".into()),
            ),
            SurrogateType { message, label } => ("lsm::check::surrogate_type", message.clone(), label.clone(), None),
            AssignToInput { name } => (
                "lsm::check::assign_to_input",
                format!("cannot assign to `{name}` inside a surrogate"),
                format!("`{name}` is an input of the surrogate"),
                Some("use a new name, e.g. `t = s`".into()),
            ),
            BadForward => (
                "lsm::check::bad_forward",
                "a latent must be defined by a latent mapping".into(),
                "expected `argmax(…)`, `marg(…)`, `sparsemap(…)` or `sample(…)`".into(),
                Some("e.g. `latent z : categorical(10) = argmax(s) via spigot(eta = 1)`".into()),
            ),
            DuplicateLatent { name } => (
                "lsm::check::duplicate_latent",
                format!("two latents are called `{name}`"),
                "second latent with this name".into(),
                Some("each latent line defines its own latent: give this one another name (e.g. `zp` and `zh`)".into()),
            ),
            LatentInScores { latent, reads } => (
                "lsm::check::latent_in_scores",
                format!("the scores of `{latent}` read the latent `{reads}`"),
                format!("`{reads}` is a latent"),
                Some(format!(
                    "a latent's scores may use data, encoder values and params, not another latent: a surrogate of `{reads}` holds every other latent fixed; combine latents in the decoder"
                )),
            ),
            MissingSurrogate { forward } => (
                "lsm::check::missing_surrogate",
                format!("`{forward}` has no useful gradient, and no surrogate is given"),
                "add `via SURROGATE` after this".into(),
                Some(format!(
                    "e.g. `{forward}(s) via spigot(eta = 1.0)`, `via ste_identity`, or use `marg(s)` for a relaxed latent"
                )),
            ),
            MissingFile { path, resolved, kind, base } => (
                "lsm::check::missing_data_file",
                format!("{kind} `{path}` does not exist"),
                format!("no such {kind}"),
                // The absolute path last, on a line of its own: the text
                // before it wraps the same wherever the files are.
                Some(match base {
                    None => format!("looked for `{resolved}`"),
                    Some((_, DataBase::SpecDir)) => format!(
                        "a relative data path resolves against the spec's directory unless a data root is given (--data-root DIR or LSMC_DATA_ROOT)\nlooked for `{resolved}`"
                    ),
                    Some((_, DataBase::WorkingDir)) => format!(
                        "a relative path given with --set resolves against the working directory unless a data root is given (--data-root DIR or LSMC_DATA_ROOT)\nlooked for `{resolved}`"
                    ),
                    Some((dir, DataBase::Root(RootFrom::Flag))) => format!(
                        "relative data paths resolve against the data root given with --data-root\ndata root: `{dir}`\nlooked for `{resolved}`"
                    ),
                    Some((dir, DataBase::Root(RootFrom::Env))) => format!(
                        "relative data paths resolve against the data root in LSMC_DATA_ROOT (unset, against the spec's directory)\ndata root: `{dir}`\nlooked for `{resolved}`"
                    ),
                    Some((dir, DataBase::Root(RootFrom::Run))) => format!(
                        "relative data paths resolve against the data root the run was trained with (its run.json); give --data-root DIR to read them elsewhere\ndata root: `{dir}`\nlooked for `{resolved}`"
                    ),
                }),
            ),
            MissingSection { section } => (
                "lsm::check::missing_section",
                format!("this spec has no `{section}`"),
                format!("`{section}` is required"),
                Some(section_help(section).into()),
            ),
            DuplicateSection { section } => (
                "lsm::check::duplicate_section",
                format!("`{section}` appears more than once"),
                "second one here".into(),
                Some(format!("a spec has one `{section}`")),
            ),
            MissingSetting { setting } => (
                "lsm::check::missing_setting",
                format!("the `train` block has no `{setting}`"),
                format!("`{setting}` is required"),
                Some(setting_help(setting).into()),
            ),
            UnknownSetting { name, suggestion } => (
                "lsm::check::unknown_setting",
                format!("unknown training setting `{name}`"),
                "not a training setting".into(),
                Some(match suggestion {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "settings are `optimizer`, `batch`, `steps`, `epochs`, `seed`, `metric` and `evaluate`".into(),
                }),
            ),
            PatienceWithoutEvaluation { evaluates } => (
                "lsm::check::patience_without_evaluation",
                "`patience` needs evaluations on `valid` during training".into(),
                "early stopping counts evaluations that do not improve the validation metric".into(),
                Some(if *evaluates {
                    "add `valid` to the evaluation's splits: `evaluate every 500 steps on valid, test`".into()
                } else {
                    "add e.g. `evaluate every 500 steps on valid, test`".into()
                }),
            ),
            WarmupTooLong { warmup, steps } => (
                "lsm::check::warmup_too_long",
                format!("a warm-up of {warmup} steps in a run of {steps} steps"),
                "the learning rate would never reach the optimizer's `lr`".into(),
                Some(format!("warm up over fewer than {steps} steps, or train longer")),
            ),
            TrainingLength { both: true } => (
                "lsm::check::training_length",
                "both `steps` and `epochs` are given".into(),
                "second length here".into(),
                Some("train for a number of `steps` or of `epochs`, not both".into()),
            ),
            TrainingLength { both: false } => (
                "lsm::check::training_length",
                "the `train` block says neither `steps` nor `epochs`".into(),
                "how long to train?".into(),
                Some("add e.g. `steps 10000` or `epochs 40`".into()),
            ),
            UnknownSplit { name, suggestion } => (
                "lsm::check::unknown_split",
                format!("unknown split `{name}`"),
                "not a split".into(),
                Some(match suggestion {
                    Some(s) => format!("did you mean `{s}`? splits are `train`, `valid` and `test`"),
                    None => "splits are `train`, `valid` and `test`".into(),
                }),
            ),
            UnknownUnit { name } => (
                "lsm::check::unknown_unit",
                format!("`{name}` is not a unit of training time"),
                "expected `steps` or `epochs`".into(),
                None,
            ),
            MetricArgument => (
                "lsm::check::metric_argument",
                "metrics take named values".into(),
                "expected a name".into(),
                Some("name the value in `encoder` or `decoder` and pass the name".into()),
            ),
            LossNotScalar { found } => (
                "lsm::check::loss_not_scalar",
                "the loss must be a scalar".into(),
                format!("this is {found}"),
                Some("use a loss such as `cross_entropy(y_hat, y)`".into()),
            ),
            NotConstant { name } => (
                "lsm::check::not_constant",
                format!("`{name}` is not a constant"),
                "computed by the model".into(),
                Some("only numbers, strings, booleans, lists and `param`s can appear here".into()),
            ),
            BadConstant { message } => ("lsm::check::bad_constant", message.clone(), "cannot be computed".into(), None),
            UseNotFound { path, reason } => (
                "lsm::check::use_not_found",
                format!("cannot read `{path}`"),
                reason.clone(),
                Some("paths in `use` are relative to the file that uses them".into()),
            ),
            UseCycle { path } => (
                "lsm::check::use_cycle",
                format!("`{path}` is already being read: `use` goes round in a cycle"),
                "cyclic `use`".into(),
                None,
            ),
            UseTooDeep { path } => (
                "lsm::check::use_too_deep",
                format!(
                    "`{path}` would be the {}th file in one chain of `use`s; a chain holds at most {}",
                    super::MAX_USE_DEPTH + 1,
                    super::MAX_USE_DEPTH
                ),
                "too deep".into(),
                Some("gather the definitions into fewer files, or `use` them side by side from one".into()),
            ),
            NotALibrary { item } => (
                "lsm::check::not_a_library",
                format!("a `use`d file cannot contain `{item}`"),
                "not shareable".into(),
                Some("shared files hold `surrogate` and `param` definitions only".into()),
            ),
            UnusedValue { name } => (
                "lsm::check::unused_value",
                format!("`{name}` is computed but never used"),
                "unused".into(),
                Some(format!("remove it, or use `{name}` later in the model")),
            ),
            UnusedLayer { name } => (
                "lsm::check::unused_layer",
                format!("layer `{name}` is defined but never applied"),
                "unused".into(),
                Some(format!("remove it, or apply it as `{name}(…)`")),
            ),
            SharedLayerMismatch { name, first, here } => (
                "lsm::check::shared_layer_mismatch",
                format!("`{name}` is applied to {here}, but its shared weights were sized for {first}"),
                format!("`{name}` applied to {here}"),
                Some(format!(
                    "every application of `{name}` uses the same weights, so its inputs need the feature sizes of its first application; define a second layer for inputs of other sizes"
                )),
            ),
            UnusedParam { name } => (
                "lsm::check::unused_param",
                format!("parameter `{name}` is never used"),
                "unused".into(),
                None,
            ),
            SetMalformed { text } => (
                "lsm::set::malformed",
                format!("`--set {text}` is not of the form PATH=VALUE"),
                "expected PATH=VALUE".into(),
                Some("e.g. `--set K=3`, `--set train.optimizer.lr=0.01`, `--set z.eta=0.1`".into()),
            ),
            SetUnknownPath { path, suggestion, valid } => (
                "lsm::set::unknown_path",
                format!("`{path}` names nothing that can be set"),
                "unknown path".into(),
                Some(match suggestion {
                    Some(s) => format!("did you mean `{s}`? this spec has: {valid}"),
                    None => format!("this spec has: {valid}"),
                }),
            ),
        };
        Details {
            code,
            message,
            label,
            help,
        }
    }
}

/// The help for a string written without quotes, `--set PATH=VALUE`'s
/// (`flag: Some(PATH)`) or a spec's: strings are quoted, and on the
/// command line the shell eats quotes, so the flag is quoted whole.
pub(crate) fn unquoted_string_help(value: &str, flag: Option<&str>) -> String {
    match flag {
        Some(path) => format!(
            "write `--set '{path}=\"{value}\"'`: strings are quoted (the outer quotes are for the shell)"
        ),
        None => format!("write `\"{value}\"`: strings are quoted"),
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn join_help(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a} {b}")),
        (a, b) => a.or(b),
    }
}

fn section_help(section: &str) -> &'static str {
    match section {
        "data" => "add e.g. `data synthetic_mixture(clusters = 10)`",
        "decoder" => "add a `decoder { y_hat = … }` block that computes the prediction",
        "loss" => "add e.g. `loss cross_entropy(y_hat, y)`",
        "train" => "add a `train { optimizer adam(lr = 1e-3)  batch 32  epochs 10 }` block",
        _ => "",
    }
}

fn setting_help(setting: &str) -> &'static str {
    match setting {
        "optimizer" => "add e.g. `optimizer adam(lr = 1e-3)`",
        "batch" => "add e.g. `batch 32` or `batch full`",
        _ => "",
    }
}
