//! The checker: resolves names, binds arguments against the built-in table,
//! infers symbolic shapes, checks latent, surrogate and training rules, and
//! collects every problem it finds (it never stops at the first).

mod error;
mod exprs;
mod latent;
pub(crate) mod overrides;
mod shared;
mod train;

pub use error::{CheckError, Unknown};

use crate::builtins::shapes::{Args, Val};
use crate::builtins::{self, Builtin, Kind};
use crate::diag::{self, Diagnostic};
use crate::span::{DataRoot, FileId, Origin, Sources, Span};
use crate::summary::{self, Summary};
use crate::syntax::ast::*;
use crate::types::{ParamCount, Tensor};
use lsmc_ir::structures::Catalog;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The built-in surrogates, written in the language.
/// The most files one chain of `use`s may hold, the spec itself included
/// (`lsm::check::use_too_deep`).
pub const MAX_USE_DEPTH: usize = 100;

pub const PRELUDE: &str = include_str!("../../../grammar/prelude.lsm");

/// Everything a check produced: the sources read (to render diagnostics),
/// the diagnostics sorted by position, and a summary when there was no error.
pub struct Report {
    pub sources: Sources,
    pub diagnostics: Vec<Diagnostic>,
    pub summary: Option<Summary>,
    /// The typed model, when there was no error.
    pub model: Option<crate::model::Model>,
    /// Text edits that apply the `--set` flags to the main file.
    edits: Vec<overrides::Edit>,
    pub main: FileId,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The main file with every `--set` flag written into it: a spec that
    /// reproduces the run without flags. Overrides of params that live in
    /// `use`d files are noted in a comment at the top.
    pub fn resolved_text(&self, overrides: &[String]) -> String {
        let mut text = self.sources.get(self.main).text.clone();
        let mut edits: Vec<&overrides::Edit> = self
            .edits
            .iter()
            .filter(|(s, _)| s.file == self.main)
            .collect();
        edits.sort_by_key(|(s, _)| std::cmp::Reverse((s.start, s.end)));
        for (span, new) in edits {
            if text.is_char_boundary(span.start as usize)
                && text.is_char_boundary(span.end as usize)
            {
                text.replace_range(span.range(), new);
            }
        }
        if overrides.is_empty() {
            text
        } else {
            format!(
                "// resolved by lsmc with: --set {}\n{text}",
                overrides.join(" --set ")
            )
        }
    }
}

/// Reads and checks the spec at `path`; `name` is how diagnostics name it.
/// Fails only when the file itself cannot be read.
/// `structures` are the ones latent lines may declare (the runtime's
/// `lsmc_runtime::latent::registry::catalog()`).
pub fn check_path(
    path: &Path,
    name: &str,
    overrides: &[String],
    structures: &Catalog,
) -> std::io::Result<Report> {
    check_path_with(path, name, overrides, structures, None)
}

/// [`check_path`], relative data paths resolving against `data_root`
/// when given (`use` paths stay relative to their file).
pub fn check_path_with(
    path: &Path,
    name: &str,
    overrides: &[String],
    structures: &Catalog,
    data_root: Option<&DataRoot>,
) -> std::io::Result<Report> {
    let text = std::fs::read_to_string(path)?;
    Ok(check_text_with(
        name,
        &text,
        Origin::File(path.to_path_buf()),
        overrides,
        structures,
        data_root,
    ))
}

/// Checks spec text. Relative paths in it resolve against `origin`'s directory.
pub fn check_text(
    name: &str,
    text: &str,
    origin: Origin,
    overrides: &[String],
    structures: &Catalog,
) -> Report {
    check_text_with(name, text, origin, overrides, structures, None)
}

/// [`check_text`], relative data paths resolving against `data_root`
/// when given.
pub fn check_text_with(
    name: &str,
    text: &str,
    origin: Origin,
    overrides: &[String],
    structures: &Catalog,
    data_root: Option<&DataRoot>,
) -> Report {
    let mut c = Checker {
        structures: structures.clone(),
        structure_builtins: builtins::structure_builtins(structures),
        data_root: data_root.cloned(),
        ..Checker::default()
    };
    let prelude = c.sources.add("<prelude>", PRELUDE, Origin::Prelude);
    let main = c.sources.add(name, text, origin);
    c.run(prelude, main, overrides);
    c.hint_unquoted_set_values();
    let mut diagnostics = std::mem::take(&mut c.diags);
    diag::sort(&mut diagnostics);
    let clean = !diagnostics.iter().any(Diagnostic::is_error);
    let summary = if clean { c.summary.take() } else { None };
    let model = clean.then(|| std::mem::take(&mut c.model));
    let edits = std::mem::take(&mut c.edits);
    Report {
        edits,
        sources: c.sources,
        diagnostics,
        summary,
        model,
        main,
    }
}

/// Where a named value was defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Block {
    Data,
    Encoder,
    Latent,
    Decoder,
}

#[derive(Clone, Debug)]
pub(crate) struct Value {
    pub ty: Tensor,
    pub span: Span,
    pub block: Block,
    pub used: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct ParamEntry {
    pub value: Option<exprs::Const>,
    pub span: Span,
    /// Where the value was written: in the spec, or in a `--set` flag.
    pub value_span: Span,
    pub used: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct SurrogateEntry {
    pub def: SurrogateDef,
    pub info: Option<latent::SurrogateInfo>,
}

#[derive(Default)]
pub(crate) struct Checker {
    pub sources: Sources,
    pub diags: Vec<Diagnostic>,
    pub params: HashMap<String, ParamEntry>,
    pub param_order: Vec<String>,
    pub values: HashMap<String, Value>,
    pub value_order: Vec<String>,
    pub surrogates: HashMap<String, SurrogateEntry>,
    pub surrogate_order: Vec<String>,
    /// Shared layer instances (`layer F = …`) of the blocks checked so far.
    pub instances: HashMap<String, shared::Instance>,
    pub instance_order: Vec<String>,
    pub summary: Option<Summary>,
    /// `(file, canonical path)` of files being read, for `use` cycles.
    pub reading: Vec<PathBuf>,
    /// The main file is a library (only surrogates and params).
    pub library: bool,
    /// Canonical paths of the `use`d files already read.
    pub loaded: std::collections::HashSet<PathBuf>,
    pub overrides_applied: Vec<String>,
    /// Names whose definition failed: uses of them report nothing more, so
    /// one mistake gives one diagnostic.
    pub poisoned: std::collections::HashSet<String>,
    /// The data source is unknown, so which names it provides is unknown too:
    /// undefined names are not reported.
    pub data_unknown: bool,
    /// Text edits mirroring the applied `--set` flags.
    pub edits: Vec<overrides::Edit>,
    /// The typed model being built.
    pub model: crate::model::Model,
    /// Parameters of every layer call checked so far; blocks take differences.
    pub layer_params: ParamCount,
    /// The structures latent lines may declare: the runtime's registry.
    pub structures: Catalog,
    /// Their built-ins (`categorical`, `dependency_tree`).
    pub structure_builtins: Vec<&'static Builtin>,
    /// Where relative data paths resolve, when not against their file.
    pub data_root: Option<DataRoot>,
}

impl Checker {
    /// The built-in called `name`: a layer, a fixed built-in, or one that
    /// writes a structure of the catalog.
    pub fn builtin(&self, name: &str) -> Option<&'static Builtin> {
        builtins::lookup(name).or_else(|| {
            self.structure_builtins
                .iter()
                .copied()
                .find(|b| b.name == name)
        })
    }

    pub fn names_of(&self, kind: Kind) -> Vec<&'static str> {
        builtins::all()
            .chain(self.structure_builtins.iter().copied())
            .filter(|b| b.kind == kind)
            .map(|b| b.name)
            .collect()
    }

    pub fn emit(&mut self, span: Span, e: CheckError) -> &mut Diagnostic {
        let d = e.details();
        self.diags
            .push(Diagnostic::error(d.code, d.message, span, d.label).with_help(d.help));
        self.diags.last_mut().expect("just pushed")
    }

    pub fn warn(&mut self, span: Span, e: CheckError) {
        let d = e.details();
        self.diags.push(
            Diagnostic::error(d.code, d.message, span, d.label)
                .with_help(d.help)
                .warning(),
        );
    }

    fn parse(&mut self, file: FileId) -> Option<Module> {
        let text = self.sources.get(file).text.clone();
        match crate::syntax::parse_module(&text, file) {
            Ok(m) => Some(m),
            Err(ds) => {
                self.diags.extend(ds);
                None
            }
        }
    }

    fn run(&mut self, prelude: FileId, main: FileId, overrides: &[String]) {
        if let Some(m) = self.parse(prelude) {
            self.library(&m, prelude);
        }
        let Some(mut module) = self.parse(main) else {
            return;
        };
        if let Origin::File(p) = &self.sources.get(main).origin {
            self.reading
                .push(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
        }
        // Surrogates and params of `use`d files come first, then this file's.
        for item in &module.items {
            if let Item::Use { path, span } = item {
                self.use_file(path, *span);
            }
        }
        for item in &module.items {
            if let Item::Surrogate(def) = item {
                self.add_surrogate(def.clone());
            }
        }
        // A flag that could not be applied is reported; the spec is still
        // checked with the others, so one run shows every problem.
        self.apply_overrides(&mut module, overrides);
        self.model(&module, main);
    }

    /// Reads `use "path"` relative to the file that says it.
    fn use_file(&mut self, path: &str, span: Span) {
        // Reading recurses once per file of the chain: bounded, like an
        // expression's nesting, before a long chain can exhaust the stack.
        if self.reading.len() >= MAX_USE_DEPTH {
            self.emit(
                span,
                CheckError::UseTooDeep {
                    path: path.to_string(),
                },
            );
            return;
        }
        let base = self.sources.get(span.file).base_dir();
        let full = base.join(path);
        let canonical = std::fs::canonicalize(&full).unwrap_or_else(|_| full.clone());
        if self.reading.contains(&canonical) {
            self.emit(
                span,
                CheckError::UseCycle {
                    path: path.to_string(),
                },
            );
            return;
        }
        // A file reached twice (two `use`s, or two libraries sharing one)
        // is read once.
        if !self.loaded.insert(canonical.clone()) {
            return;
        }
        let text = match std::fs::read_to_string(&full) {
            Ok(t) => t,
            Err(e) => {
                self.emit(
                    span,
                    CheckError::UseNotFound {
                        path: path.to_string(),
                        reason: io_reason(&e),
                    },
                );
                return;
            }
        };
        let shown = Path::new(&self.sources.get(span.file).name)
            .parent()
            .map(|d| d.join(path).display().to_string())
            .unwrap_or_else(|| path.to_string());
        let file = self.sources.add(shown, text, Origin::File(full));
        let Some(m) = self.parse(file) else {
            return;
        };
        self.reading.push(canonical);
        for item in &m.items {
            if let Item::Use { path, span } = item {
                self.use_file(path, *span);
            }
        }
        self.library(&m, file);
        self.reading.pop();
    }

    /// Registers the shareable items of a prelude or `use`d file.
    fn library(&mut self, m: &Module, _file: FileId) {
        for item in &m.items {
            match item {
                Item::Surrogate(def) => self.add_surrogate(def.clone()),
                Item::Param { name, value, .. } => self.param(name, value),
                Item::Use { .. } => {}
                other => {
                    let section = section_name(other);
                    let span = keyword_span(other);
                    self.emit(span, CheckError::NotALibrary { item: section });
                }
            }
        }
    }

    fn add_surrogate(&mut self, def: SurrogateDef) {
        let name = def.name.name.clone();
        if let Some(prev) = self.surrogates.get(&name) {
            let prev_span = prev.def.name.span;
            self.emit(def.name.span, CheckError::DuplicateDefinition { name })
                .with_secondary_mut(prev_span, "first defined here");
            return;
        }
        let info = self.surrogate_def(&def);
        self.surrogate_order.push(name.clone());
        self.surrogates.insert(name, SurrogateEntry { def, info });
    }

    fn param(&mut self, name: &Ident, value: &Expr) {
        if let Some(prev) = self.params.get(&name.name) {
            let prev_span = prev.span;
            self.emit(
                name.span,
                CheckError::DuplicateDefinition {
                    name: name.name.clone(),
                },
            )
            .with_secondary_mut(prev_span, "first defined here");
            return;
        }
        let v = self.const_expr(value);
        self.param_order.push(name.name.clone());
        self.params.insert(
            name.name.clone(),
            ParamEntry {
                value: v,
                span: name.span,
                value_span: value.span,
                used: false,
            },
        );
    }

    /// Checks the model items of the main file, in pipeline order whatever
    /// their order in the file.
    fn model(&mut self, m: &Module, main: FileId) {
        let mut model_name: Option<&Ident> = None;
        let mut data = None;
        let mut encoder = None;
        // Any number of latent lines, each its own latent.
        let mut latents: Vec<&Latent> = Vec::new();
        let mut decoder = None;
        let mut loss = None;
        let mut train = None;
        for item in &m.items {
            let slot_taken = match item {
                Item::Model { name, .. } => model_name.replace(name).is_some(),
                Item::Data { .. } => data.replace(item).is_some(),
                Item::Encoder(_) => encoder.replace(item).is_some(),
                Item::Latent(l) => {
                    latents.push(l);
                    false
                }
                Item::Decoder(_) => decoder.replace(item).is_some(),
                Item::Loss { .. } => loss.replace(item).is_some(),
                Item::Train(_) => train.replace(item).is_some(),
                Item::Param { name, value, .. } => {
                    self.param(name, value);
                    false
                }
                Item::Use { .. } | Item::Surrogate(_) => false,
            };
            if slot_taken {
                let first = m
                    .items
                    .iter()
                    .find(|i| std::mem::discriminant(*i) == std::mem::discriminant(item))
                    .map(keyword_span);
                let d = self.emit(
                    keyword_span(item),
                    CheckError::DuplicateSection {
                        section: section_name(item),
                    },
                );
                if let Some(f) = first {
                    d.with_secondary_mut(f, "first one here");
                }
            }
        }
        // A file with no model items at all is a library (surrogates and
        // params to `use`), not a model: nothing is missing from it.
        let library = m.items.iter().all(|i| {
            matches!(
                i,
                Item::Use { .. } | Item::Surrogate(_) | Item::Param { .. }
            )
        });
        self.library = library;
        let file_start = Span::new(main, 0, 0);
        for (present, section) in [
            (data.is_some(), "data"),
            (decoder.is_some(), "decoder"),
            (loss.is_some(), "loss"),
            (train.is_some(), "train"),
        ] {
            if !present && !library {
                self.emit(file_start, CheckError::MissingSection { section });
            }
        }

        self.model.name = model_name.map(|n| n.name.clone()).unwrap_or_default();
        let mut s = Summary {
            model: model_name.map(|n| n.name.clone()).unwrap_or_else(|| {
                let name = &self.sources.get(main).name;
                Path::new(name)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "model".into())
            }),
            ..Summary::default()
        };
        if let Some(Item::Data { source, .. }) = data {
            s.data = self.data(source);
        }
        if let Some(Item::Encoder(b)) = encoder {
            s.blocks.push(self.block("encoder", Block::Encoder, b));
        }
        self.latent_lines(&latents, &mut s);
        if let Some(Item::Decoder(b)) = decoder {
            s.blocks.push(self.block("decoder", Block::Decoder, b));
        }
        if let Some(Item::Loss { expr, .. }) = loss {
            s.loss = self.loss(expr);
        }
        if let Some(Item::Train(t)) = train {
            s.train = self.train(t);
        }
        self.unused();
        s.params = self
            .param_order
            .iter()
            .filter_map(|n| {
                self.params[n]
                    .value
                    .as_ref()
                    .map(|v| (n.clone(), v.to_string()))
            })
            .collect();
        s.total_params = s
            .blocks
            .iter()
            .fold(ParamCount::default(), |a, b| a + b.params);
        s.overrides = self.overrides_applied.clone();
        s.library = library;
        self.model.name = s.model.clone();
        s.surrogates = self
            .surrogate_order
            .iter()
            .filter(|n| self.surrogates[*n].def.name.span.file != FileId(0))
            .cloned()
            .collect();
        self.summary = Some(s);
    }

    /// Checks every latent line in file order; a name given to an earlier
    /// latent is refused before anything else about its line.
    fn latent_lines(&mut self, latents: &[&Latent], s: &mut Summary) {
        for (i, l) in latents.iter().enumerate() {
            if let Some(first) = latents[..i].iter().find(|f| f.name.name == l.name.name) {
                let first = first.name.span;
                self.emit(
                    l.name.span,
                    CheckError::DuplicateLatent {
                        name: l.name.name.clone(),
                    },
                )
                .with_secondary_mut(first, "first latent with this name");
                continue;
            }
            match self.latent(l) {
                Some(summary) => s.latents.push(summary),
                None => {
                    self.poisoned.insert(l.name.name.clone());
                }
            }
        }
    }

    fn define(&mut self, name: &Ident, ty: Tensor, block: Block) {
        if let Some(prev) = self.params.get(&name.name) {
            let prev_span = prev.span;
            self.emit(
                name.span,
                CheckError::DuplicateDefinition {
                    name: name.name.clone(),
                },
            )
            .with_secondary_mut(prev_span, "a `param` has this name");
            self.poisoned.insert(name.name.clone());
            return;
        }
        if let Some(prev) = self.instances.get(&name.name) {
            let prev_span = prev.def.name.span;
            self.duplicate_definition(name, prev_span, "a shared layer has this name");
            self.poisoned.insert(name.name.clone());
            return;
        }
        if let Some(prev) = self.values.get(&name.name) {
            let prev_span = prev.span;
            let what = if prev.block == Block::Data {
                "provided by the data source here"
            } else {
                "first defined here"
            };
            self.emit(
                name.span,
                CheckError::DuplicateDefinition {
                    name: name.name.clone(),
                },
            )
            .with_secondary_mut(prev_span, what);
            return;
        }
        self.value_order.push(name.name.clone());
        self.values.insert(
            name.name.clone(),
            Value {
                ty,
                span: name.span,
                block,
                used: false,
            },
        );
    }

    /// `name` defined again; `first` is the earlier definition.
    pub(crate) fn duplicate_definition(&mut self, name: &Ident, first: Span, note: &str) {
        self.emit(
            name.span,
            CheckError::DuplicateDefinition {
                name: name.name.clone(),
            },
        )
        .with_secondary_mut(first, note);
    }

    fn data(&mut self, source: &Call) -> Option<summary::DataSummary> {
        let Some(args) = self.builtin_call(
            source,
            crate::builtins::Kind::DataSource,
            exprs::Ctx::Constant,
        ) else {
            // The names a source provides do not depend on its arguments.
            self.data_unknown = crate::builtins::lookup(&source.callee.name)
                .is_none_or(|b| b.kind != crate::builtins::Kind::DataSource);
            for name in crate::builtins::shapes::provided_names(&source.callee.name) {
                self.poisoned.insert(name.to_string());
            }
            // A table's texts are named by its arguments: with those
            // unknown, so are the names it provides.
            if source.callee.name == "table" {
                self.data_unknown = true;
            }
            return None;
        };
        // The names a table provides stay defined after its problems are
        // reported: one mistake, one diagnostic.
        if source.callee.name == "table" {
            for message in crate::lower::plan::table_problems(&args) {
                self.emit(source.span, CheckError::BadData { message });
            }
        }
        if source.callee.name == "hmm_sequences" {
            for message in crate::lower::plan::hmm_problems(&args) {
                self.emit(source.span, CheckError::BadData { message });
            }
        }
        self.model.data_source = source.callee.name.clone();
        self.model.data_args = args.clone();
        let mut provides = Vec::new();
        let provided = match crate::builtins::shapes::provides(&source.callee.name, &args) {
            Ok(p) => p,
            Err(e) => {
                self.diags.push(Diagnostic::error(
                    "lsm::internal::binding",
                    format!("`{}`: {e}", source.callee.name),
                    source.span,
                    "in this data source",
                ));
                return None;
            }
        };
        for (name, ty, doc) in provided {
            provides.push(summary::NamedShape {
                name: name.to_string(),
                shape: ty.to_string(),
                note: doc.to_string(),
            });
            let ident = Ident {
                name: name.to_string(),
                span: source.callee.span,
            };
            self.define(&ident, ty, Block::Data);
        }
        Some(summary::DataSummary {
            source: format_call(&source.callee.name, &args),
            provides,
        })
    }

    fn block(
        &mut self,
        name: &'static str,
        kind: Block,
        b: &crate::syntax::ast::Block,
    ) -> summary::BlockSummary {
        let ctx = if kind == Block::Encoder {
            exprs::Ctx::Encoder
        } else {
            exprs::Ctx::Decoder
        };
        let mut out = summary::BlockSummary {
            block: name.to_string(),
            values: Vec::new(),
            params: ParamCount::default(),
        };
        self.layer_instances(&b.layers, name);
        for stmt in &b.stmts {
            let before = self.layer_params;
            let ty = self.tensor_value(&stmt.value, ctx.clone());
            let params = self.layer_params - before;
            out.params = out.params + params;
            if let Some(te) = ty {
                out.values.push(summary::ValueSummary {
                    name: stmt.name.name.clone(),
                    shape: te.ty.to_string(),
                    expr: self.sources.slice(stmt.value.span).to_string(),
                    params,
                });
                self.define(&stmt.name, te.ty.clone(), kind);
                let typed = crate::model::Stmt {
                    name: stmt.name.name.clone(),
                    value: te,
                    span: stmt.name.span,
                };
                if kind == Block::Encoder {
                    self.model.encoder.push(typed);
                } else {
                    self.model.decoder.push(typed);
                }
            } else {
                self.poisoned.insert(stmt.name.name.clone());
            }
        }
        out
    }

    fn loss(&mut self, e: &Expr) -> String {
        if let Some(t) = self.tensor_value(e, exprs::Ctx::Loss) {
            if t.ty.rank() != 0 {
                self.emit(
                    e.span,
                    CheckError::LossNotScalar {
                        found: t.ty.to_string(),
                    },
                );
            } else {
                self.model.loss = Some(t);
            }
        }
        self.sources.slice(e.span).to_string()
    }

    fn unused(&mut self) {
        // After an error, "unused" is usually a consequence, not news.
        if self.diags.iter().any(Diagnostic::is_error) {
            return;
        }
        let mut warnings = Vec::new();
        for name in &self.value_order {
            let v = &self.values[name];
            if !v.used && matches!(v.block, Block::Encoder) {
                warnings.push((v.span, CheckError::UnusedValue { name: name.clone() }));
            }
        }
        warnings.extend(self.unused_instances());
        for name in &self.param_order {
            let p = &self.params[name];
            // Params of the prelude or of shared files may serve other specs.
            if !p.used
                && p.span.file != FileId(0)
                && self.is_main_file(p.span.file)
                && !self.library
            {
                warnings.push((p.span, CheckError::UnusedParam { name: name.clone() }));
            }
        }
        for (span, w) in warnings {
            self.warn(span, w);
        }
    }

    fn is_main_file(&self, f: FileId) -> bool {
        f == FileId(1)
    }
}

impl Diagnostic {
    pub(crate) fn with_secondary_mut(&mut self, span: Span, text: &str) -> &mut Diagnostic {
        self.secondary.push(crate::diag::Label {
            span,
            text: text.to_string(),
        });
        self
    }
}

fn section_name(item: &Item) -> &'static str {
    match item {
        Item::Use { .. } => "use",
        Item::Model { .. } => "model",
        Item::Param { .. } => "param",
        Item::Data { .. } => "data",
        Item::Encoder(_) => "encoder",
        Item::Latent(_) => "latent",
        Item::Decoder(_) => "decoder",
        Item::Loss { .. } => "loss",
        Item::Train(_) => "train",
        Item::Surrogate(_) => "surrogate",
    }
}

/// The span of an item's leading keyword.
fn keyword_span(item: &Item) -> Span {
    let s = item.span();
    let len = section_name(item).len() as u32;
    Span {
        end: (s.start + len).min(s.end),
        ..s
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".into(),
        _ => e.to_string(),
    }
}

/// Formats a number the way a person writes it: `10`, `0.5`, `1e-4`.
pub use lsmc_ir::types::fmt_number;

pub fn format_val(v: &Val) -> String {
    match v {
        Val::Tensor(t) => t.ty.to_string(),
        Val::Int(i) => i.to_string(),
        Val::Float(f) => fmt_number(*f),
        Val::Bool(b) => b.to_string(),
        Val::Str(s) => format!("{s:?}"),
        Val::Symbol(s) => s.clone(),
        Val::Floats(fs) => format!(
            "[{}]",
            fs.iter()
                .map(|f| fmt_number(*f))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Val::Strs(v) => format!(
            "[{}]",
            v.iter()
                .map(|x| format!("{x:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Val::Call(name, args) => format_call(name, args),
    }
}

/// A structure as written: `categorical(10)`, `dependency_tree(projective, root = single)`.
pub(crate) fn format_structure(name: &str, args: &Args) -> String {
    let parts: Vec<String> = args
        .0
        .iter()
        .enumerate()
        .map(|(i, (n, v))| {
            if i == 0 {
                format_val(v)
            } else {
                format!("{n} = {}", format_val(v))
            }
        })
        .collect();
    format!("{name}({})", parts.join(", "))
}

/// `name(a = 1, b = 2)` with every argument, defaults included.
pub(crate) fn format_call(name: &str, args: &Args) -> String {
    let parts: Vec<String> = args
        .0
        .iter()
        .filter(|(_, v)| !matches!(v, Val::Tensor(_)))
        .map(|(n, v)| format!("{n} = {}", format_val(v)))
        .collect();
    format!("{name}({})", parts.join(", "))
}
