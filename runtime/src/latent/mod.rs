//! The latent node: the forward mapping of a structure (MAP, marginals,
//! SparseMAP, sampling) and its backward pass — exact for the relaxations,
//! the surrogate program of the spec for the others.

pub mod categorical;
pub mod projective;
pub mod surrogate;
pub mod tree;
