//! What each structure is, as both sides read it: the compiler asks which
//! operations a structure supports, the runtime's registry
//! (`lsmc_runtime::latent::registry`) holds one engine per descriptor, and
//! the commands take names and layouts from here instead of matching on
//! kinds. A runtime test checks that descriptors and engines pair up.

use crate::types::StructureKind;

/// How a structure's scores are laid out, per batch item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `s[B, K]`: one score per category.
    Categories,
    /// `s[B, N+1, N+1]`: `s[b][head][modifier]`, head 0 the root.
    Arcs,
}

impl Layout {
    /// Axes of a batch of scores.
    pub fn rank(self) -> usize {
        match self {
            Layout::Categories => 2,
            Layout::Arcs => 3,
        }
    }

    /// The shape of `batch` items of `size` categories or words.
    pub fn shape(self, batch: usize, size: usize) -> Vec<usize> {
        match self {
            Layout::Categories => vec![batch, size],
            Layout::Arcs => vec![batch, size + 1, size + 1],
        }
    }
}

/// How a spec writes the structure (`lsmc inspect` echoes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// A built-in called with the number of categories: `categorical(K)`.
    Sized(&'static str),
    /// A call with fixed arguments: `dependency_tree(projective)`.
    Fixed(&'static str),
}

/// The operations a structure's engine provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ops {
    pub map: bool,
    /// Marginals and the log-partition.
    pub marginals: bool,
    pub sparsemap: bool,
    /// Exact samples from the Gibbs distribution.
    pub sample: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub kind: StructureKind,
    /// The name `lsmc infer --structure` and `lsmc bench --structure` take
    /// and print.
    pub name: &'static str,
    pub written: Written,
    pub scores: Layout,
    pub ops: Ops,
    /// The statistics evaluation reports about the structures a latent
    /// induced, in the order the engine reports them.
    pub statistics: &'static [&'static str],
}

impl Descriptor {
    /// As the spec writes it, given the latent's number of categories.
    pub fn written(&self, k: u64) -> String {
        match self.written {
            Written::Sized(name) => format!("{name}({k})"),
            Written::Fixed(call) => call.to_string(),
        }
    }
}

const TREE_STATISTICS: &[&str] = &["tree_depth", "flat_trees", "arc_length"];

pub static CATEGORICAL: Descriptor = Descriptor {
    kind: StructureKind::Categorical,
    name: "categorical",
    written: Written::Sized("categorical"),
    scores: Layout::Categories,
    ops: Ops {
        map: true,
        marginals: true,
        sparsemap: true,
        sample: true,
    },
    statistics: &[],
};

pub static PROJECTIVE: Descriptor = Descriptor {
    kind: StructureKind::Projective,
    name: "projective",
    written: Written::Fixed("dependency_tree(projective)"),
    scores: Layout::Arcs,
    ops: Ops {
        map: true,
        marginals: true,
        sparsemap: true,
        sample: true,
    },
    statistics: TREE_STATISTICS,
};

/// Exact sampling of non-projective trees needs Wilson's algorithm, which
/// the engine does not have yet.
pub static NONPROJECTIVE: Descriptor = Descriptor {
    kind: StructureKind::Nonprojective,
    name: "nonprojective",
    written: Written::Fixed("dependency_tree(nonprojective)"),
    scores: Layout::Arcs,
    ops: Ops {
        map: true,
        marginals: true,
        sparsemap: true,
        sample: false,
    },
    statistics: TREE_STATISTICS,
};

/// Every structure, in the order the command line lists them.
pub static ALL: &[&Descriptor] = &[&CATEGORICAL, &PROJECTIVE, &NONPROJECTIVE];

/// The descriptor of a kind. Exhaustive, so a new kind without a
/// descriptor does not compile.
pub fn descriptor(kind: StructureKind) -> &'static Descriptor {
    match kind {
        StructureKind::Categorical => &CATEGORICAL,
        StructureKind::Projective => &PROJECTIVE,
        StructureKind::Nonprojective => &NONPROJECTIVE,
    }
}

/// The structure a spec's latent line declares: `categorical(K)` is the
/// sized built-in `categorical`, `dependency_tree(projective, …)` the
/// fixed call with that `kind`.
pub fn written_as(callee: &str, kind: Option<&str>) -> Option<&'static Descriptor> {
    ALL.iter().copied().find(|d| match d.written {
        Written::Sized(name) => name == callee,
        Written::Fixed(call) => kind.is_some_and(|k| call == format!("{callee}({k})")),
    })
}

/// The structure the command line calls `name`.
pub fn by_name(name: &str) -> Option<&'static Descriptor> {
    ALL.iter().copied().find(|d| d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_descriptor_is_its_kinds_and_names_are_distinct() {
        for (i, d) in ALL.iter().enumerate() {
            assert!(std::ptr::eq(descriptor(d.kind), *d), "{}", d.name);
            assert_eq!(by_name(d.name).map(|x| x.kind), Some(d.kind));
            for e in &ALL[i + 1..] {
                assert_ne!(d.name, e.name);
                assert_ne!(d.kind, e.kind);
            }
        }
    }

    #[test]
    fn a_latent_line_finds_its_structure_by_how_it_is_written() {
        for d in ALL {
            let (callee, kind) = match d.written {
                Written::Sized(name) => (name.to_string(), None),
                Written::Fixed(call) => {
                    let (c, rest) = call.split_once('(').expect("a call");
                    (c.to_string(), Some(rest.trim_end_matches(')').to_string()))
                }
            };
            assert_eq!(
                written_as(&callee, kind.as_deref()).map(|x| x.kind),
                Some(d.kind)
            );
        }
        assert!(written_as("dependency_tree", None).is_none());
        assert!(written_as("dependency_tree", Some("planar")).is_none());
    }

    #[test]
    fn a_structure_is_written_as_the_spec_writes_it() {
        assert_eq!(CATEGORICAL.written(7), "categorical(7)");
        assert_eq!(NONPROJECTIVE.written(0), "dependency_tree(nonprojective)");
    }
}
