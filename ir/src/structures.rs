//! What a structure is, as every stage reads it. A structure is defined
//! once, beside its engine in the runtime (`lsmc_runtime::latent`), by a
//! [`Descriptor`]: how a spec writes it, how its scores are laid out, the
//! operations its engine provides and the statistics evaluation reports.
//! The runtime's registry lists the engines; their descriptors make the
//! [`Catalog`] that the checker resolves latent lines against and the
//! commands take names from. Nothing matches on a closed set of kinds, so
//! a structure is added by its module and one registry line.

use std::collections::BTreeMap;

/// One axis of a batch of scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// The examples of the batch: `B`.
    Batch,
    /// The structure's categories: `K`, fixed by the spec.
    Categories,
    /// The words of each sentence plus a constant: `N+1` for a tree's
    /// arcs with the root in row and column 0.
    Words(u64),
}

/// How a structure's scores (and its values) are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout(pub &'static [Axis]);

/// `s[B, K]`: one score per category.
pub const CATEGORIES: Layout = Layout(&[Axis::Batch, Axis::Categories]);

/// `s[B, N+1, N+1]`: `s[b][head][modifier]`, head 0 the root.
pub const ARCS: Layout = Layout(&[Axis::Batch, Axis::Words(1), Axis::Words(1)]);

/// `s[B, N, K, K]`: `s[b][i][p][c]`, tag `c` at word `i` after tag `p` at
/// word `i − 1`; at word 0 only row `p = 0` is a part (the first tag's
/// score), the other rows of word 0 are no part.
pub const TAG_PAIRS: Layout = Layout(&[
    Axis::Batch,
    Axis::Words(0),
    Axis::Categories,
    Axis::Categories,
]);

/// `s[B, N, N]`: `s[b][i][j]`, the span of words `i..=j` (`i ≤ j`, words
/// counted from 0); entries below the diagonal are no part.
pub const SPANS: Layout = Layout(&[Axis::Batch, Axis::Words(0), Axis::Words(0)]);

impl Layout {
    /// Axes of a batch of scores.
    pub fn rank(self) -> usize {
        self.0.len()
    }

    /// The spec fixes a number of categories (`categorical(K)`).
    pub fn sized(self) -> bool {
        self.0.contains(&Axis::Categories)
    }

    /// The items are sentences, so the latent needs their lengths.
    pub fn over_words(self) -> bool {
        self.0.iter().any(|a| matches!(a, Axis::Words(_)))
    }

    /// The shape of `batch` items of `size` categories or words (both
    /// `size` for a layout with both).
    pub fn shape(self, batch: usize, size: usize) -> Vec<usize> {
        self.shape_of(batch, size, size)
    }

    /// The shape of `batch` items of `words` words and `categories`
    /// categories.
    pub fn shape_of(self, batch: usize, words: usize, categories: usize) -> Vec<usize> {
        self.0
            .iter()
            .map(|a| match *a {
                Axis::Batch => batch,
                Axis::Categories => categories,
                Axis::Words(plus) => words + plus as usize,
            })
            .collect()
    }

    /// The layout as `lsmc infer` documents nested arrays: `[B][N+1][N+1]`.
    pub fn written(self) -> String {
        self.0
            .iter()
            .map(|a| match *a {
                Axis::Batch => "[B]".to_string(),
                Axis::Categories => "[K]".to_string(),
                Axis::Words(0) => "[N]".to_string(),
                Axis::Words(plus) => format!("[N+{plus}]"),
            })
            .collect()
    }
}

/// How a spec writes a structure: `callee(K)` when the layout is sized,
/// else `callee(VARIANT)` (`dependency_tree(projective)`) or `callee()`,
/// with `root = single | multi` where the structure takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spelling {
    pub callee: &'static str,
    /// The value of the `kind` argument that picks this structure among
    /// those written with the same callee.
    pub variant: Option<&'static str>,
    /// Whether the spec may say how many words attach to the root.
    pub rooted: bool,
    /// What the built-in is, for `lsmc` help and diagnostics (the first
    /// structure of a callee speaks for all of them).
    pub doc: &'static str,
    /// What `kind = VARIANT` means, for the built-in's documentation.
    pub variant_doc: &'static str,
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
    /// The name `lsmc infer --structure` and `lsmc bench --structure` take
    /// and print; unique in a catalog.
    pub name: &'static str,
    pub spelling: Spelling,
    pub scores: Layout,
    /// How to produce scores of this layout, for the checker's help when
    /// they have the wrong shape; `{K}` stands for the categories.
    pub scores_hint: &'static str,
    pub ops: Ops,
    /// The statistics evaluation reports about the structures a latent
    /// induced, in the order the engine reports them.
    pub statistics: &'static [&'static str],
}

impl Descriptor {
    /// As the spec writes it, given the latent's number of categories and
    /// root choice.
    pub fn written(&self, k: u64, single_root: bool) -> String {
        let mut args = Vec::new();
        if self.scores.sized() {
            args.push(k.to_string());
        }
        if let Some(v) = self.spelling.variant {
            args.push(v.to_string());
        }
        if self.spelling.rooted && !single_root {
            args.push("root = multi".into());
        }
        format!("{}({})", self.spelling.callee, args.join(", "))
    }

    /// The help for scores of the wrong shape.
    pub fn scores_hint(&self, k: u64) -> String {
        self.scores_hint.replace("{K}", &k.to_string())
    }

    /// Two descriptors are the same structure when they share the name
    /// (a catalog keeps names unique).
    pub fn is(&self, other: &Descriptor) -> bool {
        self.name == other.name
    }
}

/// The built-in a family of structures shares: `dependency_tree` for the
/// projective and non-projective trees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Family {
    pub callee: &'static str,
    pub doc: &'static str,
    pub sized: bool,
    /// The `kind` values, in catalog order (empty when there is one
    /// structure and no variant).
    pub variants: Vec<(&'static str, &'static str)>,
    pub rooted: bool,
}

/// The structures a build of lsmc can run, in the order the command line
/// lists them. The default is empty: a checker with it knows no structure.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    structures: Vec<&'static Descriptor>,
}

impl Catalog {
    /// Refuses catalogs the checker could not resolve unambiguously:
    /// repeated names or spellings, or families whose members disagree on
    /// how they are written.
    pub fn new(structures: Vec<&'static Descriptor>) -> Result<Catalog, String> {
        for (i, d) in structures.iter().enumerate() {
            for e in &structures[i + 1..] {
                if d.name == e.name {
                    return Err(format!("two structures are named `{}`", d.name));
                }
                if d.spelling.callee != e.spelling.callee {
                    continue;
                }
                if d.spelling.variant.is_none()
                    || e.spelling.variant.is_none()
                    || d.spelling.variant == e.spelling.variant
                {
                    return Err(format!(
                        "`{}` and `{}` are written the same way",
                        d.name, e.name
                    ));
                }
                if d.scores.sized() != e.scores.sized() || d.spelling.rooted != e.spelling.rooted {
                    return Err(format!(
                        "`{}` and `{}` share the built-in `{}` but take different arguments",
                        d.name, e.name, d.spelling.callee
                    ));
                }
            }
        }
        Ok(Catalog { structures })
    }

    pub fn iter(&self) -> impl Iterator<Item = &'static Descriptor> + '_ {
        self.structures.iter().copied()
    }

    /// The structure the command line calls `name`.
    pub fn by_name(&self, name: &str) -> Option<&'static Descriptor> {
        self.iter().find(|d| d.name == name)
    }

    /// The structure a spec's latent line declares: the callee and, for a
    /// family, its `kind` argument.
    pub fn written_as(&self, callee: &str, variant: Option<&str>) -> Option<&'static Descriptor> {
        self.iter()
            .find(|d| d.spelling.callee == callee && d.spelling.variant == variant)
    }

    /// One built-in per callee, in catalog order.
    pub fn families(&self) -> Vec<Family> {
        let mut order: Vec<&'static str> = Vec::new();
        let mut by_callee: BTreeMap<&'static str, Family> = BTreeMap::new();
        for d in self.iter() {
            let s = d.spelling;
            let f = by_callee.entry(s.callee).or_insert_with(|| {
                order.push(s.callee);
                Family {
                    callee: s.callee,
                    doc: s.doc,
                    sized: d.scores.sized(),
                    variants: Vec::new(),
                    rooted: s.rooted,
                }
            });
            if let Some(v) = s.variant {
                f.variants.push((v, s.variant_doc));
            }
        }
        order
            .into_iter()
            .filter_map(|c| by_callee.remove(c))
            .collect()
    }
}

/// Descriptors made up for the IR's own tests, which cannot see the
/// runtime's.
#[cfg(test)]
pub(crate) fn made_up(
    name: &'static str,
    callee: &'static str,
    variant: Option<&'static str>,
    scores: Layout,
) -> &'static Descriptor {
    Box::leak(Box::new(Descriptor {
        name,
        spelling: Spelling {
            callee,
            variant,
            rooted: variant.is_some(),
            doc: "",
            variant_doc: "",
        },
        scores,
        scores_hint: "`linear(x, {K})`",
        ops: Ops {
            map: true,
            marginals: true,
            sparsemap: true,
            sample: false,
        },
        statistics: &[],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::new(vec![
            made_up("categorical", "categorical", None, CATEGORIES),
            made_up("projective", "dependency_tree", Some("projective"), ARCS),
            made_up(
                "nonprojective",
                "dependency_tree",
                Some("nonprojective"),
                ARCS,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn a_latent_line_finds_its_structure_by_how_it_is_written() {
        let c = catalog();
        assert_eq!(
            c.written_as("categorical", None).unwrap().name,
            "categorical"
        );
        let p = c.written_as("dependency_tree", Some("projective")).unwrap();
        assert_eq!(p.name, "projective");
        assert!(c.written_as("dependency_tree", None).is_none());
        assert!(c.written_as("dependency_tree", Some("planar")).is_none());
        assert_eq!(
            c.by_name("nonprojective").unwrap().spelling.variant,
            Some("nonprojective")
        );
    }

    #[test]
    fn structures_written_with_one_callee_make_one_family() {
        let f = catalog().families();
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].callee, f[0].sized), ("categorical", true));
        let variants: Vec<_> = f[1].variants.iter().map(|v| v.0).collect();
        assert_eq!(variants, ["projective", "nonprojective"]);
        assert!(f[1].rooted);
    }

    #[test]
    fn ambiguous_catalogs_are_refused() {
        let a = made_up("a", "tree", Some("x"), ARCS);
        let twin = made_up("b", "tree", Some("x"), ARCS);
        assert!(Catalog::new(vec![a, twin])
            .unwrap_err()
            .contains("written the same way"));
        let renamed = made_up("a", "other", None, ARCS);
        assert!(Catalog::new(vec![a, renamed])
            .unwrap_err()
            .contains("named `a`"));
        let sized = made_up("c", "tree", Some("y"), CATEGORIES);
        assert!(Catalog::new(vec![a, sized])
            .unwrap_err()
            .contains("different arguments"));
    }

    #[test]
    fn a_structure_is_written_as_the_spec_writes_it() {
        let c = catalog();
        assert_eq!(
            c.by_name("categorical").unwrap().written(7, true),
            "categorical(7)"
        );
        let np = c.by_name("nonprojective").unwrap();
        assert_eq!(np.written(0, true), "dependency_tree(nonprojective)");
        assert_eq!(
            np.written(0, false),
            "dependency_tree(nonprojective, root = multi)"
        );
        assert_eq!(
            c.by_name("categorical").unwrap().scores_hint(3),
            "`linear(x, 3)`"
        );
    }

    #[test]
    fn layouts_give_shapes_and_needs() {
        assert_eq!(ARCS.shape(2, 5), vec![2, 6, 6]);
        assert_eq!(CATEGORIES.shape(2, 5), vec![2, 5]);
        assert!(ARCS.over_words() && !ARCS.sized());
        assert!(CATEGORIES.sized() && !CATEGORIES.over_words());
        assert_eq!(ARCS.rank(), 3);
        assert_eq!(TAG_PAIRS.shape_of(2, 5, 3), vec![2, 5, 3, 3]);
        assert!(TAG_PAIRS.sized() && TAG_PAIRS.over_words());
        assert_eq!(SPANS.shape(2, 4), vec![2, 4, 4]);
        assert_eq!(ARCS.written(), "[B][N+1][N+1]");
        assert_eq!(TAG_PAIRS.written(), "[B][N][K][K]");
        assert_eq!(CATEGORIES.written(), "[B][K]");
    }
}
