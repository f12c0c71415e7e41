//! The one registry of structure engines: a structure is added by its
//! module and one line here (and its descriptor in
//! `lsmc_ir::structures`). The tests run every registered engine against
//! its own brute force, so a new structure is checked by registering it.

use super::categorical::Categorical;
use super::structure::{Engine, StructureError};
use super::tree::DependencyTrees;
use crate::real::Real;
use lsmc_ir::types::StructureKind;

/// Every engine, one per descriptor.
pub fn engines<T: Real>() -> &'static [&'static dyn Engine<T>] {
    const {
        &[
            &Categorical,
            &DependencyTrees { projective: true },
            &DependencyTrees { projective: false },
        ]
    }
}

/// The engine of `kind`.
pub fn engine<T: Real>(kind: StructureKind) -> Result<&'static dyn Engine<T>, StructureError> {
    engines::<T>()
        .iter()
        .copied()
        .find(|e| e.descriptor().kind == kind)
        .ok_or_else(|| {
            StructureError::Unsupported(format!(
                "the runtime has no engine for `{}` structures",
                lsmc_ir::structures::descriptor(kind).name
            ))
        })
}
