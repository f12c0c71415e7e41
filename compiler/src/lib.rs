//! The lsmc front end: `.lsm` text → spanned AST → checked model, with
//! diagnostics as data.
//!
//! ```text
//! text ──lexcheck + pest──▶ AST (spans) ──check──▶ Model ──lower──▶ lsmc_ir::Program
//!                                              └──▶ Summary | Vec<Diagnostic>
//! ```
//!
//! [`check::check_path`] is the entry point used by `lsmc check`
//! ([`check::check_path_with`] with a data root).

pub mod builtins;
pub mod check;
pub mod diag;
pub mod layers;
pub mod lower;
pub mod model;
pub mod span;
pub mod suggest;
pub mod summary;
pub mod syntax;
pub mod types;

pub use check::{check_path, check_path_with, check_text, check_text_with, Report};
pub use diag::{Diagnostic, Severity};
pub use lsmc_ir;
pub use span::{DataBase, DataRoot, FileId, Origin, RootFrom, Sources, Span};
