//! lsmc's compiled program: what `lsmc-compiler` produces and
//! `lsmc-runtime` executes, and nothing else passes between them.
//!
//! ```text
//! .lsm ──compiler──▶ Program { graph, data, train } ──runtime──▶ runs
//! ```
//!
//! A [`Program`] is plain typed data: the computation graph with ops as
//! enums and typed attributes ([`graph`]), each latent's surrogate lowered
//! to a program over a closed set of intrinsics ([`surrogate`]), the data
//! source with its arguments bound and paths resolved ([`data`]), and the
//! training plan ([`plan`]). [`Graph::validate`] states what a well-formed
//! graph is.

pub mod data;
pub mod graph;
pub mod plan;
pub mod span;
pub mod structures;
pub mod surrogate;
pub mod types;
pub mod validate;

pub use data::DataSource;
pub use graph::{Graph, NodeId, Op};
pub use plan::TrainPlan;
pub use span::Span;
pub use validate::GraphError;

/// A whole compiled spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// The spec's `model` name.
    pub name: String,
    pub graph: Graph,
    pub data: DataSource,
    pub train: TrainPlan,
}
