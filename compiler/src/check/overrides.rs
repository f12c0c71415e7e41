//! `--set PATH=VALUE`: overrides applied to the AST before it is checked, so
//! an overridden value is checked exactly like a written one and its
//! diagnostics point into the flag.

use super::{CheckError, Checker};
use crate::builtins;
use crate::span::{FileId, Origin, Span};
use crate::suggest::closest;
use crate::syntax::ast::*;
use crate::syntax::SetLatent;

const TRAIN_SETTINGS: &[&str] = &[
    "optimizer",
    "batch",
    "steps",
    "epochs",
    "seed",
    "schedule",
    "clip_norm",
    "patience",
    "log_every",
];

/// The calls whose arguments `--set train.CALL.ARG=V` reaches.
const TRAIN_CALLS: &[&str] = &["optimizer", "schedule"];

impl Checker {
    /// Applies every flag; returns false if any could not be applied.
    pub(crate) fn apply_overrides(&mut self, m: &mut Module, flags: &[String]) -> bool {
        // Each flag is its own source, so diagnostics quote the flag alone.
        let mut ok = true;
        for flag in flags {
            let file = self.sources.add("--set", flag.clone(), Origin::CommandLine);
            let whole = Span::new(file, 0, flag.len());
            let eq = flag.find('=');
            if eq.is_none_or(|i| flag[..i].trim().is_empty() || flag[i + 1..].trim().is_empty()) {
                self.emit(whole, CheckError::SetMalformed { text: flag.clone() });
                ok = false;
                continue;
            }
            match self.latent_override(m, flag, file) {
                LatentFlag::Applied => {
                    self.overrides_applied.push(flag.clone());
                    continue;
                }
                LatentFlag::Refused => {
                    ok = false;
                    continue;
                }
                LatentFlag::NotOne => {}
            }
            match crate::syntax::parse_set_flag(flag, file) {
                Err(ds) => {
                    self.diags.extend(ds);
                    ok = false;
                }
                Ok((path, value)) => {
                    if self.apply_one(m, &path, value) {
                        self.overrides_applied.push(flag.clone());
                    } else {
                        ok = false;
                    }
                }
            }
        }
        ok
    }

    /// `--set 'z=MAPPING [via SURROGATE]'` (optionally `z=STRUCTURE = …`):
    /// replaces the right side of the latent line `z`. A flag whose value
    /// only a latent line could hold (`via`, a structure) but whose name is
    /// no latent is an unknown path; anything else is left to the other
    /// paths.
    fn latent_override(&mut self, m: &mut Module, flag: &str, file: FileId) -> LatentFlag {
        let name = flag.split('=').next().unwrap_or_default().trim();
        let is_latent = |m: &Module| {
            m.items
                .iter()
                .any(|i| matches!(i, Item::Latent(l) if l.name.name == name))
        };
        let set = match crate::syntax::parse_set_latent(flag, file) {
            Ok(set) => set,
            Err(ds) if is_latent(m) => {
                self.diags.extend(ds);
                return LatentFlag::Refused;
            }
            Err(_) => return LatentFlag::NotOne,
        };
        if set.name.name == ALL_LATENTS && !is_latent(m) {
            return self.every_latent(m, &set);
        }
        let Some(l) = m.items.iter_mut().find_map(|i| match i {
            Item::Latent(l) if l.name.name == set.name.name => Some(l),
            _ => None,
        }) else {
            if set.via.is_none() && set.structure.is_none() {
                return LatentFlag::NotOne;
            }
            self.unknown_path(m, std::slice::from_ref(&set.name));
            return LatentFlag::Refused;
        };
        // The spec's right side ends where its surrogate (or mapping)
        // does: a comment after the line stays.
        let old_end = l.via.as_ref().map_or(l.forward.span, |v| v.span);
        self.edits.push((
            l.forward.span.to(old_end),
            self.sources.slice(set.right_side()).to_string(),
        ));
        if let Some(structure) = set.structure {
            self.edits.push((
                l.structure.span,
                self.sources.slice(structure.span).to_string(),
            ));
            l.structure = structure;
        }
        l.forward = set.forward;
        l.via = set.via;
        LatentFlag::Applied
    }

    /// `--set 'latents=MAPPING [via SURROGATE]'`: the same right side on
    /// every latent line, `scores` in it standing for each latent's own
    /// scores (the first argument of its mapping), so one flag, or one
    /// `--grid` value, is one row of a table for a model with a tree per
    /// sentence. Each latent gets the flag as if written for it alone
    /// (`za=marg(sa)`), and diagnostics quote that.
    fn every_latent(&mut self, m: &mut Module, set: &SetLatent) -> LatentFlag {
        let template = self.sources.slice(set.right_side()).to_string();
        let structure = set
            .structure
            .as_ref()
            .map(|s| format!("{} = ", self.sources.slice(s.span)))
            .unwrap_or_default();
        let mut flags = Vec::new();
        for item in &m.items {
            let Item::Latent(l) = item else { continue };
            let scores = match &l.forward.kind {
                ExprKind::Call(c) => c.args.first().map(|a| a.value.span),
                _ => None,
            };
            let scores = scores.map_or(SCORES.to_string(), |s| self.sources.slice(s).to_string());
            let right = replace_word(&template, SCORES, &scores);
            flags.push(format!("{}={structure}{right}", l.name.name));
        }
        if flags.is_empty() {
            self.unknown_path(m, std::slice::from_ref(&set.name));
            return LatentFlag::Refused;
        }
        let mut result = LatentFlag::Applied;
        for flag in flags {
            let file = self.sources.add("--set", flag.clone(), Origin::CommandLine);
            if let LatentFlag::Refused = self.latent_override(m, &flag, file) {
                result = LatentFlag::Refused;
            }
        }
        result
    }

    fn apply_one(&mut self, m: &mut Module, path: &[Ident], value: Expr) -> bool {
        let names: Vec<&str> = path.iter().map(|i| i.name.as_str()).collect();
        let text = self.sources.slice(value.span).to_string();
        let mut edits: Vec<Edit> = Vec::new();
        let applied = match names.as_slice() {
            [param] => {
                let mut done = false;
                for item in m.items.iter_mut() {
                    if let Item::Param { name, value: v, .. } = item {
                        if name.name == *param {
                            edits.push((v.span, text.clone()));
                            *v = value.clone();
                            done = true;
                        }
                    }
                }
                if !done && self.params.contains_key(*param) {
                    let c = self.const_expr(&value);
                    if let Some(p) = self.params.get_mut(*param) {
                        p.value = c;
                        p.value_span = value.span;
                        done = true;
                    }
                }
                done
            }
            ["data", arg] => m.items.iter_mut().any(|item| match item {
                Item::Data { source, .. } => match builtins::lookup(&source.callee.name) {
                    Some(b) if b.params.iter().any(|p| p.name == *arg) => {
                        let params: Vec<&str> = b.params.iter().map(|p| p.name).collect();
                        edits.push(set_arg(
                            &mut source.args,
                            &params,
                            arg,
                            value.clone(),
                            &text,
                            Some(source.close),
                            source.span,
                        ));
                        true
                    }
                    _ => false,
                },
                _ => false,
            }),
            ["train", setting] if TRAIN_SETTINGS.contains(setting) => {
                m.items.iter_mut().any(|item| match item {
                    Item::Train(t) => {
                        edits.extend(set_setting(t, setting, value.clone(), &text));
                        true
                    }
                    _ => false,
                })
            }
            ["train", call, arg] if TRAIN_CALLS.contains(call) => {
                m.items.iter_mut().any(|item| match item {
                    Item::Train(t) => t.items.iter_mut().any(|ti| match ti {
                        TrainItem::Setting {
                            name,
                            value:
                                Expr {
                                    kind: ExprKind::Call(c),
                                    ..
                                },
                            ..
                        } if name.name == *call => match builtins::lookup(&c.callee.name) {
                            Some(b) if b.params.iter().any(|p| p.name == *arg) => {
                                let params: Vec<&str> = b.params.iter().map(|p| p.name).collect();
                                edits.push(set_arg(
                                    &mut c.args,
                                    &params,
                                    arg,
                                    value.clone(),
                                    &text,
                                    Some(c.close),
                                    c.span,
                                ));
                                true
                            }
                            _ => false,
                        },
                        _ => false,
                    }),
                    _ => false,
                })
            }
            [latent, arg] => {
                let surrogates = &self.surrogates;
                m.items.iter_mut().any(|item| match item {
                    Item::Latent(l) if l.name.name == *latent => match &mut l.via {
                        Some(via) => match surrogates.get(&via.callee.name) {
                            Some(s) if s.def.params.iter().any(|p| p.name.name == *arg) => {
                                let params: Vec<&str> =
                                    s.def.params.iter().map(|p| p.name.name.as_str()).collect();
                                edits.push(set_arg(
                                    &mut via.args,
                                    &params,
                                    arg,
                                    value.clone(),
                                    &text,
                                    via.close,
                                    via.span,
                                ));
                                if via.close.is_none() {
                                    via.close = Some(Span {
                                        start: via.span.end,
                                        ..via.span
                                    });
                                }
                                true
                            }
                            _ => false,
                        },
                        None => false,
                    },
                    _ => false,
                })
            }
            _ => false,
        };
        if applied {
            self.edits.extend(edits);
        } else {
            self.unknown_path(m, path);
        }
        applied
    }

    /// Reports a flag path the spec does not have, with the closest one.
    fn unknown_path(&mut self, m: &Module, path: &[Ident]) {
        let valid = self.settable_paths(m);
        let joined = path
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(".");
        let suggestion = closest(&joined, valid.iter().map(String::as_str));
        let span = path[0].span.to(path[path.len() - 1].span);
        let listed = valid
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ");
        self.emit(
            span,
            CheckError::SetUnknownPath {
                path: joined,
                suggestion,
                valid: listed,
            },
        );
    }

    /// Every path `--set` accepts for this spec.
    fn settable_paths(&self, m: &Module) -> Vec<String> {
        let mut out = Vec::new();
        for item in &m.items {
            match item {
                Item::Param { name, .. } => out.push(name.name.clone()),
                Item::Data { source, .. } => {
                    if let Some(b) = builtins::lookup(&source.callee.name) {
                        out.extend(b.params.iter().map(|p| format!("data.{}", p.name)));
                    }
                }
                Item::Latent(l) => {
                    out.push(l.name.name.clone());
                    if let Some(s) = l
                        .via
                        .as_ref()
                        .and_then(|v| self.surrogates.get(&v.callee.name))
                    {
                        out.extend(
                            s.def
                                .params
                                .iter()
                                .map(|p| format!("{}.{}", l.name.name, p.name.name)),
                        );
                    }
                }
                Item::Train(t) => {
                    out.extend(TRAIN_SETTINGS.iter().map(|s| format!("train.{s}")));
                    for ti in &t.items {
                        if let TrainItem::Setting {
                            name,
                            value:
                                Expr {
                                    kind: ExprKind::Call(c),
                                    ..
                                },
                            ..
                        } = ti
                        {
                            if TRAIN_CALLS.contains(&name.name.as_str()) {
                                if let Some(b) = builtins::lookup(&c.callee.name) {
                                    out.extend(
                                        b.params
                                            .iter()
                                            .map(|p| format!("train.{}.{}", name.name, p.name)),
                                    );
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// What became of a flag tried as a latent override.
enum LatentFlag {
    Applied,
    /// Reported: malformed, or naming no latent.
    Refused,
    /// Not a latent override; another path may take it.
    NotOne,
}

/// A textual change to the spec that mirrors an applied override, so the
/// run directory can hold the resolved spec.
pub(crate) type Edit = (Span, String);

/// Replaces the argument bound to `name` (by keyword or by position), or
/// adds it as a keyword argument before `close` (a bare name gets
/// parentheses after `end`).
fn set_arg(
    args: &mut Vec<Arg>,
    params: &[&str],
    name: &str,
    value: Expr,
    text: &str,
    close: Option<Span>,
    end: Span,
) -> Edit {
    if let Some(a) = args
        .iter_mut()
        .find(|a| a.name.as_ref().is_some_and(|n| n.name == name))
    {
        let edit = (a.value.span, text.to_string());
        a.value = value;
        return edit;
    }
    let idx = params.iter().position(|p| *p == name).unwrap_or(usize::MAX);
    if let Some(a) = args.iter_mut().filter(|a| a.name.is_none()).nth(idx) {
        let edit = (a.value.span, text.to_string());
        a.value = value;
        return edit;
    }
    let edit = match close {
        Some(c) if args.is_empty() => (Span { end: c.start, ..c }, format!("{name} = {text}")),
        Some(c) => (Span { end: c.start, ..c }, format!(", {name} = {text}")),
        None => (
            Span {
                start: end.end,
                ..end
            },
            format!("({name} = {text})"),
        ),
    };
    args.push(Arg {
        name: Some(Ident {
            name: name.to_string(),
            span: value.span,
        }),
        span: value.span,
        value,
    });
    edit
}

/// `train.log_every=N`: the period of `log every N UNIT` (the unit kept),
/// or a new `log every N steps`.
fn set_log_every(t: &mut Train, value: Expr, text: &str) -> Edit {
    for ti in t.items.iter_mut() {
        if let TrainItem::Log { every, .. } = ti {
            let edit = (every.span, text.to_string());
            *every = value;
            return edit;
        }
    }
    let close = Span {
        start: t.span.end.saturating_sub(1),
        ..t.span
    };
    let edit = (
        Span {
            end: close.start,
            ..close
        },
        format!(" log every {text} steps "),
    );
    t.items.push(TrainItem::Log {
        every: value.clone(),
        unit: Ident {
            name: "steps".into(),
            span: value.span,
        },
        span: value.span,
    });
    edit
}

/// Replaces a training setting or adds it; `steps` and `epochs` replace
/// each other, since a run has one length.
fn set_setting(t: &mut Train, setting: &str, value: Expr, text: &str) -> Vec<Edit> {
    if setting == "log_every" {
        return vec![set_log_every(t, value, text)];
    }
    let other = match setting {
        "steps" => Some("epochs"),
        "epochs" => Some("steps"),
        _ => None,
    };
    let mut edits = Vec::new();
    t.items.retain(|ti| match ti {
        TrainItem::Setting { name, span, .. } if Some(name.name.as_str()) == other => {
            edits.push((*span, String::new()));
            false
        }
        _ => true,
    });
    for ti in t.items.iter_mut() {
        if let TrainItem::Setting { name, value: v, .. } = ti {
            if name.name == setting {
                edits.push((v.span, text.to_string()));
                *v = value;
                return edits;
            }
        }
    }
    let close = Span {
        start: t.span.end.saturating_sub(1),
        ..t.span
    };
    edits.push((
        Span {
            end: close.start,
            ..close
        },
        format!(" {setting} {text} "),
    ));
    t.items.push(TrainItem::Setting {
        name: Ident {
            name: setting.to_string(),
            span: value.span,
        },
        span: value.span,
        value,
    });
    edits
}

/// The flag name that sets every latent line at once.
const ALL_LATENTS: &str = "latents";

/// In `latents=…`, the name that stands for each latent's own scores.
const SCORES: &str = "scores";

/// `text` with every whole-word `word` replaced by `by` (for the run's
/// saved spec, which quotes the flag with each latent's scores put in).
fn replace_word(text: &str, word: &str, by: &str) -> String {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(word) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + word.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(is_word) || after.is_some_and(is_word) {
            out.push_str(word);
        } else {
            out.push_str(by);
        }
        rest = &rest[i + word.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::replace_word;

    #[test]
    fn only_whole_words_are_replaced() {
        assert_eq!(
            replace_word(
                "argmax(scores + gumbel()) via s(scores_x = 1)",
                "scores",
                "sa"
            ),
            "argmax(sa + gumbel()) via s(scores_x = 1)"
        );
    }
}
