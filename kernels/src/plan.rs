//! The launch sequences of the projective-tree kernels, written once and
//! run by every backend (the host emulation here; the GPU through cudarc):
//! which kernel, over which grid, in which order. Buffers are named, not
//! held: a backend owns its memory and binds each launch's arguments.

/// One kernel of `cuda/projective.cu` (the entry point's name without the
/// `lsmc_` prefix and the type suffix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Inside pass over spans of width `k` (log semiring).
    Inside {
        k: usize,
    },
    LogPartition,
    /// Outside pass over spans of width `k`, widest first.
    Outside {
        k: usize,
    },
    Marginals,
    /// Eisner (max with back-pointers) over spans of width `k`.
    Eisner {
        k: usize,
    },
    Backtrack,
}

impl Kernel {
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Inside { .. } => "inside",
            Kernel::LogPartition => "log_partition",
            Kernel::Outside { .. } => "outside",
            Kernel::Marginals => "marginals",
            Kernel::Eisner { .. } => "eisner",
            Kernel::Backtrack => "backtrack",
        }
    }
}

/// A launch: the kernel, its grid (`x`, `y`), threads per block and bytes
/// of dynamic shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Launch {
    pub kernel: Kernel,
    pub grid: (u32, u32),
    pub block: u32,
    pub shared: u32,
}

/// The shape of a batch: `batch` sentences, padded to `n1 = N + 1`
/// positions, and the threads each span's block uses (a power of two: the
/// block reductions halve it).
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub batch: usize,
    pub n1: usize,
    pub threads: u32,
}

impl Shape {
    pub fn new(batch: usize, n1: usize, threads: u32) -> Shape {
        assert!(
            threads.is_power_of_two() && threads <= 1024,
            "threads {threads}"
        );
        Shape { batch, n1, threads }
    }

    fn span_launch(&self, kernel: Kernel, k: usize, unit: usize) -> Launch {
        Launch {
            kernel,
            grid: ((self.n1 - k) as u32, self.batch as u32),
            block: self.threads,
            shared: self.threads * unit as u32,
        }
    }
}

/// Threads for one block per element: 128 a block.
fn elementwise(kernel: Kernel, count: usize) -> Launch {
    Launch {
        kernel,
        grid: (count.div_ceil(128).max(1) as u32, 1),
        block: 128,
        shared: 0,
    }
}

/// Inside (one launch per width), log Z, outside (one per width, widest
/// first), marginals. `num` is the size of one chart number (a dual number
/// is two). With `outside = false`, the plan stops at log Z.
pub fn inside_outside(shape: Shape, num: usize, outside: bool) -> Vec<Launch> {
    let n = shape.n1 - 1;
    let mut plan: Vec<Launch> = (1..=n)
        .map(|k| shape.span_launch(Kernel::Inside { k }, k, num))
        .collect();
    plan.push(Launch {
        kernel: Kernel::LogPartition,
        grid: (shape.batch as u32, 1),
        block: shape.threads,
        shared: shape.threads * num as u32,
    });
    if outside {
        plan.extend(
            (1..=n)
                .rev()
                .map(|k| shape.span_launch(Kernel::Outside { k }, k, num)),
        );
        plan.push(elementwise(
            Kernel::Marginals,
            shape.batch * shape.n1 * shape.n1,
        ));
    }
    plan
}

/// Eisner (one launch per width), then the trees read back, one thread a
/// sentence. `num` is the size of a score.
pub fn eisner(shape: Shape, num: usize) -> Vec<Launch> {
    let n = shape.n1 - 1;
    // Scores and split indices side by side in shared memory.
    let mut plan: Vec<Launch> = (1..=n)
        .map(|k| shape.span_launch(Kernel::Eisner { k }, k, 2 * num))
        .collect();
    plan.push(Launch {
        kernel: Kernel::Backtrack,
        grid: (shape.batch.div_ceil(32).max(1) as u32, 1),
        block: 32,
        shared: 0,
    });
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_outside_runs_widths_up_then_down_with_one_launch_each() {
        let plan = inside_outside(Shape::new(3, 5, 8), 8, true);
        let names: Vec<String> = plan
            .iter()
            .map(|l| match l.kernel {
                Kernel::Inside { k } => format!("i{k}"),
                Kernel::Outside { k } => format!("o{k}"),
                k => k.name().to_string(),
            })
            .collect();
        assert_eq!(
            names,
            [
                "i1",
                "i2",
                "i3",
                "i4",
                "log_partition",
                "o4",
                "o3",
                "o2",
                "o1",
                "marginals"
            ]
        );
        // Width k has n1 - k spans per sentence, every sentence in one launch.
        assert_eq!(plan[1].grid, (3, 3));
        assert_eq!(plan[1].shared, 64);
        assert_eq!(plan.last().unwrap().grid, (1, 1));
    }
}
