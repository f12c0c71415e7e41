//! The latent node: the forward mapping of a structure (MAP, marginals,
//! SparseMAP, sampling) and its backward pass — exact for the relaxations,
//! the surrogate program of the spec for the others.

pub mod absorbing;
pub mod brute;
pub mod categorical;
pub mod constituency;
pub mod exclusive_arcs;
pub mod logspace;
pub mod matrix_tree;
pub mod matrix_tree_batch;
pub mod matrix_tree_lanes;
mod mtt_reference;
pub mod nonprojective;
pub mod on_gpu;
mod part_scan;
pub mod projection_record;
pub mod projective;
pub mod projective_lanes;
pub mod registry;
pub mod sequence;
pub mod sparsemap;
pub mod structure;
pub mod surrogate;
#[cfg(test)]
mod tests;
pub mod tree;
