//! The spanned AST of a spec. Every node carries the [`Span`] it was parsed
//! from, so that every later stage can point at the exact source.

use crate::span::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

pub use lsmc_ir::surrogate::BinOp;

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A number literal; `integral` when written without `.` or exponent.
    Number {
        value: f64,
        integral: bool,
    },
    Str(String),
    Bool(bool),
    List(Vec<Expr>),
    /// A bare name: a value, a parameter, or a symbol such as `projective`.
    Name(Ident),
    Call(Call),
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Neg(Box<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub callee: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
    /// Span of the closing parenthesis: where a missing argument belongs.
    pub close: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// `Some` for a keyword argument `name = value`.
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

/// `name = value` inside `encoder`, `decoder` or a surrogate.
#[derive(Clone, Debug, PartialEq)]
pub struct Assign {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SurrogateStmt {
    Assign(Assign),
    Repeat {
        count: Expr,
        body: Vec<SurrogateStmt>,
        span: Span,
    },
    Return {
        value: Expr,
        span: Span,
    },
}

impl SurrogateStmt {
    pub fn span(&self) -> Span {
        match self {
            SurrogateStmt::Assign(a) => a.span,
            SurrogateStmt::Repeat { span, .. } | SurrogateStmt::Return { span, .. } => *span,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParamDef {
    pub name: Ident,
    pub default: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SurrogateDef {
    pub name: Ident,
    pub params: Vec<ParamDef>,
    pub body: Vec<SurrogateStmt>,
    pub span: Span,
    /// Span of the closing `}`: where a missing `return` belongs.
    pub close: Span,
}

/// A `structure` or `via` reference: either `name` or `name(args)`.
#[derive(Clone, Debug, PartialEq)]
pub struct CallOrName {
    pub callee: Ident,
    pub args: Vec<Arg>,
    /// `None` when written as a bare name.
    pub close: Option<Span>,
    pub span: Span,
}

impl CallOrName {
    pub fn as_call(&self) -> Call {
        Call {
            callee: self.callee.clone(),
            args: self.args.clone(),
            span: self.span,
            close: self.close.unwrap_or(Span {
                start: self.span.end,
                ..self.span
            }),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Latent {
    pub name: Ident,
    pub structure: CallOrName,
    pub forward: Expr,
    pub via: Option<CallOrName>,
    pub span: Span,
}

/// `layer F = feed_forward(hidden = 200)` inside `encoder` or `decoder`:
/// a layer instance whose weights every application `F(a)` shares. `call`
/// is the layer's call without its leading tensor arguments, which each
/// application gives.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerDef {
    pub name: Ident,
    pub call: Call,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub keyword: Span,
    pub stmts: Vec<Assign>,
    /// The block's shared layer instances, wherever they are written in it.
    pub layers: Vec<LayerDef>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TrainItem {
    /// `NAME VALUE`, e.g. `steps 10000`, `optimizer adam(lr = 1e-3)`.
    Setting {
        name: Ident,
        value: Expr,
        span: Span,
    },
    /// `evaluate every N UNIT on SPLIT, …`
    Evaluate {
        every: Expr,
        unit: Ident,
        splits: Vec<Ident>,
        span: Span,
    },
    /// `log every N UNIT`: the training loss and learning rate.
    Log {
        every: Expr,
        unit: Ident,
        span: Span,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Train {
    pub keyword: Span,
    pub items: Vec<TrainItem>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Use {
        path: String,
        span: Span,
    },
    Model {
        name: Ident,
        span: Span,
    },
    Param {
        name: Ident,
        value: Expr,
        span: Span,
    },
    Data {
        source: Call,
        span: Span,
    },
    Encoder(Block),
    Latent(Latent),
    Decoder(Block),
    Loss {
        expr: Expr,
        span: Span,
    },
    Train(Train),
    Surrogate(SurrogateDef),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Use { span, .. }
            | Item::Model { span, .. }
            | Item::Param { span, .. }
            | Item::Data { span, .. }
            | Item::Loss { span, .. } => *span,
            Item::Encoder(b) | Item::Decoder(b) => b.span,
            Item::Latent(l) => l.span,
            Item::Train(t) => t.span,
            Item::Surrogate(s) => s.span,
        }
    }
}

/// One parsed file.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Module {
    pub items: Vec<Item>,
}
