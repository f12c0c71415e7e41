//! pest parse tree → spanned AST, and pest errors → [`ParseError`]s.

use super::ast::*;
use super::{lexcheck, ParseError};
use crate::diag::Diagnostic;
use crate::span::{FileId, Span};
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser;
use std::sync::OnceLock;

#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/lsm.pest"]
struct LsmParser;

/// Parses one file. On failure returns every lexical error found, or the
/// grammar's first error when the text is lexically sound.
pub fn parse_module(text: &str, file: FileId) -> Result<Module, Vec<Diagnostic>> {
    let lexical = lexcheck::scan(text, file);
    if !lexical.is_empty() {
        return Err(lexical
            .into_iter()
            .map(|(err, span, other)| to_diagnostic(err, span, other))
            .collect());
    }
    match LsmParser::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let b = Builder { file };
            let file_pair = pairs
                .next()
                .expect("the `file` rule always produces one pair");
            Ok(b.module(file_pair))
        }
        Err(e) => Err(vec![grammar_error(text, file, e)]),
    }
}

/// A `--set` flag's text parsed as `rule`: the value after the first `=`
/// is scanned for lexical errors first, as a spec's text is.
fn parse_flag(
    rule: Rule,
    text: &str,
    file: FileId,
) -> Result<pest::iterators::Pairs<'_, Rule>, Vec<Diagnostic>> {
    let eq = text.find('=').unwrap_or(text.len());
    let lexical = lexcheck::scan_from(text, file, (eq + 1).min(text.len()));
    if !lexical.is_empty() {
        return Err(lexical
            .into_iter()
            .map(|(err, span, other)| to_diagnostic(err, span, other))
            .collect());
    }
    LsmParser::parse(rule, text).map_err(|e| vec![grammar_error(text, file, e)])
}

/// Parses a `--set PATH=VALUE` flag (the caller has checked there is a `=`).
pub fn parse_set_flag(text: &str, file: FileId) -> Result<(Vec<Ident>, Expr), Vec<Diagnostic>> {
    let mut pairs = parse_flag(Rule::set_flag, text, file)?;
    let b = Builder { file };
    let mut path = Vec::new();
    let mut value = None;
    for p in pairs
        .next()
        .expect("set_flag produces one pair")
        .into_inner()
    {
        match p.as_rule() {
            Rule::flag_path => path = p.into_inner().map(|i| b.ident(i)).collect(),
            Rule::expr => value = Some(b.expr(p)),
            _ => {}
        }
    }
    Ok((path, value.expect("set_flag has a value")))
}

/// A `--set NAME=…` flag read as a latent override: the right side of a
/// latent line, `[STRUCTURE =] MAPPING [via SURROGATE]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SetLatent {
    pub name: Ident,
    pub structure: Option<CallOrName>,
    pub forward: Expr,
    pub via: Option<CallOrName>,
}

impl SetLatent {
    /// The flag's span of the mapping and surrogate (what replaces the
    /// spec's `MAPPING [via SURROGATE]`).
    pub fn right_side(&self) -> Span {
        match &self.via {
            Some(v) => self.forward.span.to(v.span),
            None => self.forward.span,
        }
    }
}

/// Parses a `--set NAME=[STRUCTURE =] MAPPING [via SURROGATE]` flag.
pub fn parse_set_latent(text: &str, file: FileId) -> Result<SetLatent, Vec<Diagnostic>> {
    let mut pairs = parse_flag(Rule::set_latent, text, file)?;
    let b = Builder { file };
    let mut name = None;
    let mut structure = None;
    let mut forward = None;
    let mut via = None;
    for p in pairs
        .next()
        .expect("set_latent produces one pair")
        .into_inner()
    {
        match p.as_rule() {
            Rule::ident => name = Some(b.ident(p)),
            Rule::structure => {
                structure = Some(
                    b.call_or_name(p.into_inner().next().expect("structure has a call or name")),
                )
            }
            Rule::expr => forward = Some(b.expr(p)),
            Rule::via_clause => {
                let target = b.parts(p).into_iter().nth(1).expect("via has a target");
                via = Some(b.call_or_name(target));
            }
            _ => {}
        }
    }
    Ok(SetLatent {
        name: name.expect("set_latent has a name"),
        structure,
        forward: forward.expect("set_latent has a mapping"),
        via,
    })
}

pub(crate) fn to_diagnostic(err: ParseError, span: Span, other: Option<Span>) -> Diagnostic {
    let d = err.details();
    let mut diag = Diagnostic::error(d.code, d.message, span, d.label).with_help(d.help);
    if let Some(o) = other {
        match &err {
            ParseError::MismatchedDelimiter { .. } => diag = diag.with_secondary(o, "opened here"),
            ParseError::UnterminatedBlock { next_item: Some(_) } => {
                diag = diag.with_secondary(o, "the next item starts here")
            }
            _ => {}
        }
    }
    diag
}

// ---------------------------------------------------------------------------
// errors

const ITEM_WORDS: &[&str] = &[
    "model",
    "param",
    "data",
    "encoder",
    "latent",
    "decoder",
    "loss",
    "train",
    "surrogate",
    "use",
];

fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::eq => "`=`",
        Rule::colon => "`:`",
        Rule::comma => "`,`",
        Rule::lparen | Rule::paren => "`(`",
        Rule::rparen => "`)`",
        Rule::lbrace => "`{`",
        Rule::rbrace => "`}`",
        Rule::lbracket | Rule::list => "`[`",
        Rule::rbracket => "`]`",
        Rule::ident | Rule::assign | Rule::setting | Rule::param_def => "a name",
        Rule::expr
        | Rule::kwarg
        | Rule::call
        | Rule::number
        | Rule::string
        | Rule::boolean
        | Rule::neg => "a value",
        Rule::add | Rule::sub | Rule::mul | Rule::div => "an operator",
        Rule::structure => "a structure such as `categorical(3)`",
        Rule::via_clause | Rule::kw_via => "`via`",
        Rule::repeat_stmt | Rule::kw_repeat => "`repeat`",
        Rule::return_stmt | Rule::kw_return => "`return`",
        Rule::evaluate_item | Rule::kw_evaluate => "`evaluate`",
        Rule::log_item | Rule::kw_log => "`log`",
        Rule::kw_every => "`every`",
        Rule::kw_on => "`on`",
        Rule::EOI => "end of file",
        _ => return None,
    })
}

fn is_item_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_use
            | Rule::kw_model
            | Rule::kw_param
            | Rule::kw_data
            | Rule::kw_encoder
            | Rule::kw_latent
            | Rule::kw_decoder
            | Rule::kw_loss
            | Rule::kw_train
            | Rule::kw_surrogate
            | Rule::use_decl
            | Rule::model_decl
            | Rule::param_decl
            | Rule::data_decl
            | Rule::encoder_block
            | Rule::latent_decl
            | Rule::decoder_block
            | Rule::loss_decl
            | Rule::train_block
            | Rule::surrogate_def
    )
}

/// The token that starts at `pos`, as `(span, description)`.
fn token_at(text: &str, file: FileId, pos: usize) -> (Span, String) {
    let rest = &text[pos.min(text.len())..];
    let Some(c) = rest.chars().next() else {
        return (
            Span::new(file, text.len(), text.len()),
            "end of file".into(),
        );
    };
    let len = if c.is_ascii_alphanumeric() || c == '_' {
        rest.find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '.'))
            .unwrap_or(rest.len())
    } else {
        c.len_utf8()
    };
    (
        Span::new(file, pos, pos + len),
        format!("`{}`", &rest[..len]),
    )
}

/// The token that ends just before `pos` (skipping whitespace and comments).
fn token_before(text: &str, file: FileId, pos: usize) -> Option<(Span, String)> {
    let mut end = pos.min(text.len());
    loop {
        let trimmed = text[..end].trim_end();
        end = trimmed.len();
        // Skip a trailing `// comment` on the line.
        let ls = trimmed.rfind('\n').map(|p| p + 1).unwrap_or(0);
        match trimmed[ls..].find("//") {
            Some(c) if !trimmed[ls..ls + c].contains('"') => end = ls + c,
            _ => break,
        }
    }
    let before = &text[..end];
    let last = before.chars().next_back()?;
    let start = if last.is_ascii_alphanumeric() || last == '_' {
        before
            .rfind(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '.'))
            .map(|p| p + 1)
            .unwrap_or(0)
    } else {
        end - last.len_utf8()
    };
    Some((Span::new(file, start, end), before[start..].to_string()))
}

fn grammar_error(text: &str, file: FileId, e: pest::error::Error<Rule>) -> Diagnostic {
    let pos = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let positives = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let (found_span, found) = token_at(text, file, pos);
    let found_word = text[found_span.range()].to_string();

    if positives.contains(&Rule::eq) {
        if let Some((span, after)) = token_before(text, file, pos) {
            return to_diagnostic(ParseError::MissingEquals { after }, span, None);
        }
    }
    if positives.iter().any(|r| is_item_keyword(*r)) {
        let suggestion = crate::suggest::closest(&found_word, ITEM_WORDS.iter().copied());
        return to_diagnostic(
            ParseError::ExpectedItem { found, suggestion },
            found_span,
            None,
        );
    }
    if positives.contains(&Rule::ident)
        && ["via", "repeat", "return", "true", "false"].contains(&found_word.as_str())
    {
        return to_diagnostic(
            ParseError::ReservedWord { word: found_word },
            found_span,
            None,
        );
    }
    let mut expected: Vec<String> = Vec::new();
    for r in &positives {
        if let Some(d) = describe(*r) {
            if !expected.iter().any(|e| e == d) {
                expected.push(d.to_string());
            }
        }
    }
    // Alternatives are listed in a fixed order so messages are stable.
    expected.sort_by_key(|d| ORDER.iter().position(|o| o == d).unwrap_or(ORDER.len()));
    to_diagnostic(ParseError::Unexpected { expected, found }, found_span, None)
}

const ORDER: &[&str] = &[
    "`=`",
    "`:`",
    "a name",
    "a value",
    "an operator",
    "`(`",
    "`[`",
    "`{`",
    "`,`",
    "`)`",
    "`]`",
    "`}`",
];

// ---------------------------------------------------------------------------
// tree building

struct Builder {
    file: FileId,
}

fn pratt() -> &'static PrattParser<Rule> {
    static P: OnceLock<PrattParser<Rule>> = OnceLock::new();
    P.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left))
            .op(Op::prefix(Rule::neg))
    })
}

impl Builder {
    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.file, s.start(), s.end())
    }

    fn module(&self, file: Pair<Rule>) -> Module {
        let mut items = Vec::new();
        for p in file.into_inner() {
            if matches!(p.as_rule(), Rule::EOI | Rule::semi) {
                continue;
            }
            items.push(self.item(p));
        }
        Module { items }
    }

    fn ident(&self, p: Pair<Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    /// Inner pairs without punctuation tokens.
    fn parts<'i>(&self, p: Pair<'i, Rule>) -> Vec<Pair<'i, Rule>> {
        p.into_inner()
            .filter(|q| {
                !matches!(
                    q.as_rule(),
                    Rule::eq
                        | Rule::colon
                        | Rule::comma
                        | Rule::semi
                        | Rule::lparen
                        | Rule::rparen
                        | Rule::lbrace
                        | Rule::lbracket
                        | Rule::rbracket
                )
            })
            .collect()
    }

    fn item(&self, p: Pair<Rule>) -> Item {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut parts = self.parts(p).into_iter();
        let keyword = parts.next().expect("items start with a keyword");
        let kw_span = self.span(&keyword);
        match rule {
            Rule::use_decl => {
                let s = parts.next().expect("use has a string");
                Item::Use {
                    path: unescape(s.into_inner().next().map(|b| b.as_str()).unwrap_or("")),
                    span,
                }
            }
            Rule::model_decl => Item::Model {
                name: self.ident(parts.next().expect("model has a name")),
                span,
            },
            Rule::param_decl => Item::Param {
                name: self.ident(parts.next().expect("param has a name")),
                value: self.expr(parts.next().expect("param has a value")),
                span,
            },
            Rule::data_decl => Item::Data {
                source: self.call(parts.next().expect("data has a call")),
                span,
            },
            Rule::encoder_block | Rule::decoder_block => {
                let (mut stmts, mut layers) = (Vec::new(), Vec::new());
                for q in parts {
                    match q.as_rule() {
                        Rule::assign => stmts.push(self.assign(q)),
                        Rule::layer_def => layers.push(self.layer_def(q)),
                        _ => {}
                    }
                }
                let block = Block {
                    keyword: kw_span,
                    stmts,
                    layers,
                    span,
                };
                if rule == Rule::encoder_block {
                    Item::Encoder(block)
                } else {
                    Item::Decoder(block)
                }
            }
            Rule::latent_decl => {
                let name = self.ident(parts.next().expect("latent has a name"));
                let structure = self.call_or_name(
                    parts
                        .next()
                        .expect("latent has a structure")
                        .into_inner()
                        .next()
                        .expect("structure has a call or name"),
                );
                let forward = self.expr(parts.next().expect("latent has a forward"));
                let via = parts.next().map(|v| {
                    let target = self.parts(v).into_iter().nth(1).expect("via has a target");
                    self.call_or_name(target)
                });
                Item::Latent(Latent {
                    name,
                    structure,
                    forward,
                    via,
                    span,
                })
            }
            Rule::loss_decl => Item::Loss {
                expr: self.expr(parts.next().expect("loss has an expression")),
                span,
            },
            Rule::train_block => Item::Train(Train {
                keyword: kw_span,
                items: parts
                    .filter(|q| q.as_rule() != Rule::rbrace)
                    .map(|q| self.train_item(q))
                    .collect(),
                span,
            }),
            Rule::surrogate_def => {
                let name = self.ident(parts.next().expect("surrogate has a name"));
                let mut params = Vec::new();
                let mut body = Vec::new();
                let mut close = span;
                for q in parts {
                    match q.as_rule() {
                        Rule::param_def => params.push(self.param_def(q)),
                        Rule::rbrace => close = self.span(&q),
                        _ => body.push(self.sstmt(q)),
                    }
                }
                Item::Surrogate(SurrogateDef {
                    name,
                    params,
                    body,
                    span,
                    close,
                })
            }
            other => unreachable!("not an item rule: {other:?}"),
        }
    }

    fn param_def(&self, p: Pair<Rule>) -> ParamDef {
        let mut parts = self.parts(p).into_iter();
        ParamDef {
            name: self.ident(parts.next().expect("parameter has a name")),
            default: parts.next().map(|e| self.expr(e)),
        }
    }

    fn sstmt(&self, p: Pair<Rule>) -> SurrogateStmt {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::assign => SurrogateStmt::Assign(self.assign(p)),
            Rule::repeat_stmt => {
                let mut parts = self.parts(p).into_iter().skip(1);
                let count = self.expr(parts.next().expect("repeat has a count"));
                let body = parts
                    .filter(|q| q.as_rule() != Rule::rbrace)
                    .map(|q| self.sstmt(q))
                    .collect();
                SurrogateStmt::Repeat { count, body, span }
            }
            Rule::return_stmt => {
                let value = self.expr(
                    self.parts(p)
                        .into_iter()
                        .nth(1)
                        .expect("return has a value"),
                );
                SurrogateStmt::Return { value, span }
            }
            other => unreachable!("not a surrogate statement: {other:?}"),
        }
    }

    fn train_item(&self, p: Pair<Rule>) -> TrainItem {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::setting => {
                let mut parts = self.parts(p).into_iter();
                TrainItem::Setting {
                    name: self.ident(parts.next().expect("setting has a name")),
                    value: self.expr(parts.next().expect("setting has a value")),
                    span,
                }
            }
            Rule::evaluate_item => {
                let mut every = None;
                let mut unit = None;
                let mut splits = Vec::new();
                for q in self.parts(p) {
                    match q.as_rule() {
                        Rule::expr => every = Some(self.expr(q)),
                        Rule::ident if unit.is_none() => unit = Some(self.ident(q)),
                        Rule::ident => splits.push(self.ident(q)),
                        _ => {}
                    }
                }
                TrainItem::Evaluate {
                    every: every.expect("evaluate has a period"),
                    unit: unit.expect("evaluate has a unit"),
                    splits,
                    span,
                }
            }
            Rule::log_item => {
                let mut every = None;
                let mut unit = None;
                for q in self.parts(p) {
                    match q.as_rule() {
                        Rule::expr => every = Some(self.expr(q)),
                        Rule::ident => unit = Some(self.ident(q)),
                        _ => {}
                    }
                }
                TrainItem::Log {
                    every: every.expect("log has a period"),
                    unit: unit.expect("log has a unit"),
                    span,
                }
            }
            other => unreachable!("not a train item: {other:?}"),
        }
    }

    fn assign(&self, p: Pair<Rule>) -> Assign {
        let span = self.span(&p);
        let mut parts = self.parts(p).into_iter();
        Assign {
            name: self.ident(parts.next().expect("assignment has a name")),
            value: self.expr(parts.next().expect("assignment has a value")),
            span,
        }
    }

    fn layer_def(&self, p: Pair<Rule>) -> LayerDef {
        let span = self.span(&p);
        let mut parts = self.parts(p).into_iter().skip(1);
        LayerDef {
            name: self.ident(parts.next().expect("a layer instance has a name")),
            call: self.call(parts.next().expect("a layer instance has a call")),
            span,
        }
    }

    fn call_or_name(&self, p: Pair<Rule>) -> CallOrName {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::call => {
                let c = self.call(p);
                CallOrName {
                    callee: c.callee,
                    args: c.args,
                    close: Some(c.close),
                    span,
                }
            }
            _ => CallOrName {
                callee: self.ident(p),
                args: Vec::new(),
                close: None,
                span,
            },
        }
    }

    fn call(&self, p: Pair<Rule>) -> Call {
        let span = self.span(&p);
        let mut callee = None;
        let mut args = Vec::new();
        let mut close = span;
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::ident if callee.is_none() => callee = Some(self.ident(q)),
                Rule::kwarg => {
                    let aspan = self.span(&q);
                    let mut parts = self.parts(q).into_iter();
                    let name = self.ident(parts.next().expect("kwarg has a name"));
                    let value = self.expr(parts.next().expect("kwarg has a value"));
                    args.push(Arg {
                        name: Some(name),
                        value,
                        span: aspan,
                    });
                }
                Rule::expr => {
                    let value = self.expr(q);
                    args.push(Arg {
                        name: None,
                        span: value.span,
                        value,
                    });
                }
                Rule::rparen => close = self.span(&q),
                _ => {}
            }
        }
        Call {
            callee: callee.expect("call has a callee"),
            args,
            span,
            close,
        }
    }

    fn expr(&self, p: Pair<Rule>) -> Expr {
        let file = self.file;
        pratt()
            .map_primary(|q| self.primary(q))
            .map_prefix(move |op, rhs| Expr {
                span: Span::new(file, op.as_span().start(), rhs.span.end as usize),
                kind: ExprKind::Neg(Box::new(rhs)),
            })
            .map_infix(|lhs, op, rhs| {
                let op = match op.as_rule() {
                    Rule::add => BinOp::Add,
                    Rule::sub => BinOp::Sub,
                    Rule::mul => BinOp::Mul,
                    _ => BinOp::Div,
                };
                Expr {
                    span: lhs.span.to(rhs.span),
                    kind: ExprKind::Binary {
                        op,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                }
            })
            .parse(p.into_inner())
    }

    fn primary(&self, p: Pair<Rule>) -> Expr {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::number => {
                let s = p.as_str();
                ExprKind::Number {
                    value: s.parse().unwrap_or(f64::NAN),
                    integral: !s.contains(['.', 'e', 'E']),
                }
            }
            Rule::string => ExprKind::Str(unescape(
                p.into_inner().next().map(|b| b.as_str()).unwrap_or(""),
            )),
            Rule::boolean => ExprKind::Bool(p.as_str() == "true"),
            Rule::ident => ExprKind::Name(self.ident(p)),
            Rule::call => ExprKind::Call(self.call(p)),
            Rule::list => ExprKind::List(
                p.into_inner()
                    .filter(|q| q.as_rule() == Rule::expr)
                    .map(|q| self.expr(q))
                    .collect(),
            ),
            Rule::paren => {
                let inner = p
                    .into_inner()
                    .find(|q| q.as_rule() == Rule::expr)
                    .expect("parenthesised expression");
                let e = self.expr(inner);
                return Expr { kind: e.kind, span };
            }
            other => unreachable!("not a primary: {other:?}"),
        };
        Expr { kind, span }
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(text: &str) -> Block {
        let module = parse_module(text, FileId(1)).expect("parses");
        match module.items.into_iter().next() {
            Some(Item::Encoder(b)) => b,
            other => panic!("not an encoder: {other:?}"),
        }
    }

    #[test]
    fn a_layer_line_defines_a_shared_instance_and_layer_stays_a_name() {
        let b = block("encoder { layer F = linear(out = 4)\n layer = F(x) }");
        assert_eq!(b.layers.len(), 1);
        assert_eq!(b.layers[0].name.name, "F");
        assert_eq!(b.layers[0].call.callee.name, "linear");
        assert_eq!(b.stmts.len(), 1);
        assert_eq!(b.stmts[0].name.name, "layer");
    }
}
