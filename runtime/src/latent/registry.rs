//! The one registry of structure engines: a structure is added by its
//! module (its engine and its [`Descriptor`]) and one line here. The
//! catalog the checker resolves latent lines against is made from these
//! engines' descriptors, and the tests run every registered engine
//! against its own brute force, so a new structure is checked and usable
//! by registering it.

use super::categorical::Categorical;
use super::constituency::ConstituencyTrees;
use super::sequence::Sequence;
use super::structure::{Engine, StructureError};
use super::tree::DependencyTrees;
use crate::real::Real;
use lsmc_ir::structures::{Catalog, Descriptor};
use std::sync::OnceLock;

/// Every engine, in the order the command line lists them.
pub fn engines<T: Real>() -> &'static [&'static dyn Engine<T>] {
    const {
        &[
            &Categorical,
            &DependencyTrees { projective: true },
            &DependencyTrees { projective: false },
            &Sequence,
            &ConstituencyTrees,
        ]
    }
}

/// The engine of the structure `d` describes.
pub fn engine<T: Real>(d: &Descriptor) -> Result<&'static dyn Engine<T>, StructureError> {
    engines::<T>()
        .iter()
        .copied()
        .find(|e| e.descriptor().is(d))
        .ok_or_else(|| {
            StructureError::Unsupported(format!(
                "the runtime has no engine for `{}` structures",
                d.name
            ))
        })
}

/// The structures this build runs, for the checker and the commands.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let descriptors = engines::<f64>().iter().map(|e| e.descriptor()).collect();
        // The registry is code: an ambiguous one is a bug the tests catch
        // (`the_registered_engines_make_a_catalog`), not an input error.
        Catalog::new(descriptors).expect("the registered structures are unambiguous")
    })
}
