//! The kernels of `cuda/projective.cu` run on the CPU through the host
//! emulation (`cuda/host_emulation.h`), following the same launch plans as
//! the GPU ([`crate::plan`]). Tests compare these results with the CPU
//! engine; nothing in lsmc computes with them otherwise (the CPU engine is
//! faster on the CPU).

use crate::plan::{self, Kernel, Launch, Shape};
use crate::{Dual, Marginals};
use std::ffi::c_int;

/// A launch the emulator refused (too many threads or too much shared
/// memory), as the GPU would.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused(pub Launch);

macro_rules! log_kernels {
    ($t:ty, $n:ty, $inside:ident, $logz:ident, $outside:ident, $marg:ident) => {
        extern "C" {
            fn $inside(
                gx: u32,
                gy: u32,
                bx: u32,
                shared: u32,
                k: c_int,
                s: *const $t,
                ds: *const $t,
                len: *const c_int,
                n1: c_int,
                ir: *mut $n,
                il: *mut $n,
                cr: *mut $n,
                cl: *mut $n,
            ) -> c_int;
            fn $logz(
                gx: u32,
                gy: u32,
                bx: u32,
                shared: u32,
                s: *const $t,
                ds: *const $t,
                len: *const c_int,
                n1: c_int,
                single_root: c_int,
                cr: *const $n,
                cl: *const $n,
                log_z: *mut $n,
            ) -> c_int;
            fn $outside(
                gx: u32,
                gy: u32,
                bx: u32,
                shared: u32,
                k: c_int,
                s: *const $t,
                ds: *const $t,
                len: *const c_int,
                n1: c_int,
                single_root: c_int,
                ir: *const $n,
                il: *const $n,
                cr: *const $n,
                cl: *const $n,
                oir: *mut $n,
                oil: *mut $n,
                ocr: *mut $n,
                ocl: *mut $n,
            ) -> c_int;
            fn $marg(
                gx: u32,
                gy: u32,
                bx: u32,
                shared: u32,
                s: *const $t,
                ds: *const $t,
                len: *const c_int,
                n1: c_int,
                batch: c_int,
                single_root: c_int,
                ir: *const $n,
                il: *const $n,
                cr: *const $n,
                cl: *const $n,
                oir: *const $n,
                oil: *const $n,
                log_z: *const $n,
                mu: *mut $t,
                dmu: *mut $t,
            ) -> c_int;
        }
    };
}

macro_rules! map_kernels {
    ($t:ty, $eisner:ident, $back:ident) => {
        extern "C" {
            fn $eisner(
                gx: u32,
                gy: u32,
                bx: u32,
                shared: u32,
                k: c_int,
                s: *const $t,
                len: *const c_int,
                n1: c_int,
                ir: *mut $t,
                il: *mut $t,
                cr: *mut $t,
                cl: *mut $t,
                bi: *mut c_int,
                bcr: *mut c_int,
                bcl: *mut c_int,
            ) -> c_int;
            fn $back(
                gx: u32,
                gy: u32,
                bx: u32,
                shared: u32,
                s: *const $t,
                len: *const c_int,
                n1: c_int,
                batch: c_int,
                single_root: c_int,
                cr: *const $t,
                cl: *const $t,
                bi: *const c_int,
                bcr: *const c_int,
                bcl: *const c_int,
                stack: *mut c_int,
                heads: *mut c_int,
                z: *mut $t,
            ) -> c_int;
        }
    };
}

log_kernels!(
    f32,
    f32,
    lsmc_emu_inside_f32,
    lsmc_emu_log_partition_f32,
    lsmc_emu_outside_f32,
    lsmc_emu_marginals_f32
);
log_kernels!(
    f64,
    f64,
    lsmc_emu_inside_f64,
    lsmc_emu_log_partition_f64,
    lsmc_emu_outside_f64,
    lsmc_emu_marginals_f64
);
log_kernels!(
    f32,
    Dual<f32>,
    lsmc_emu_inside_dual_f32,
    lsmc_emu_log_partition_dual_f32,
    lsmc_emu_outside_dual_f32,
    lsmc_emu_marginals_dual_f32
);
log_kernels!(
    f64,
    Dual<f64>,
    lsmc_emu_inside_dual_f64,
    lsmc_emu_log_partition_dual_f64,
    lsmc_emu_outside_dual_f64,
    lsmc_emu_marginals_dual_f64
);
map_kernels!(f32, lsmc_emu_eisner_f32, lsmc_emu_backtrack_f32);
map_kernels!(f64, lsmc_emu_eisner_f64, lsmc_emu_backtrack_f64);

/// The log-semiring kernels over chart numbers `N` with scores `T`.
pub trait LogKernels<T>: Copy + Default {
    /// # Safety
    /// Every pointer covers the batch the launch's grid and `n1` describe.
    unsafe fn run(l: &Launch, a: &LogArgs<T, Self>) -> c_int;
}

/// The buffers of one inside-outside computation.
pub struct LogArgs<T, N> {
    pub s: *const T,
    pub ds: *const T,
    pub len: *const c_int,
    pub n1: c_int,
    pub batch: c_int,
    pub single_root: c_int,
    pub charts: [*mut N; 4],
    pub outside: [*mut N; 4],
    pub log_z: *mut N,
    pub mu: *mut T,
    pub dmu: *mut T,
}

macro_rules! impl_log {
    ($t:ty, $n:ty, $inside:ident, $logz:ident, $outside:ident, $marg:ident) => {
        impl LogKernels<$t> for $n {
            unsafe fn run(l: &Launch, a: &LogArgs<$t, $n>) -> c_int {
                let (gx, gy, bx, sh) = (l.grid.0, l.grid.1, l.block, l.shared);
                let [ir, il, cr, cl] = a.charts;
                let [oir, oil, ocr, ocl] = a.outside;
                match l.kernel {
                    Kernel::Inside { k } => $inside(
                        gx, gy, bx, sh, k as c_int, a.s, a.ds, a.len, a.n1, ir, il, cr, cl,
                    ),
                    Kernel::LogPartition => $logz(
                        gx,
                        gy,
                        bx,
                        sh,
                        a.s,
                        a.ds,
                        a.len,
                        a.n1,
                        a.single_root,
                        cr,
                        cl,
                        a.log_z,
                    ),
                    Kernel::Outside { k } => $outside(
                        gx,
                        gy,
                        bx,
                        sh,
                        k as c_int,
                        a.s,
                        a.ds,
                        a.len,
                        a.n1,
                        a.single_root,
                        ir,
                        il,
                        cr,
                        cl,
                        oir,
                        oil,
                        ocr,
                        ocl,
                    ),
                    Kernel::Marginals => $marg(
                        gx,
                        gy,
                        bx,
                        sh,
                        a.s,
                        a.ds,
                        a.len,
                        a.n1,
                        a.batch,
                        a.single_root,
                        ir,
                        il,
                        cr,
                        cl,
                        oir,
                        oil,
                        a.log_z,
                        a.mu,
                        a.dmu,
                    ),
                    Kernel::Eisner { .. } | Kernel::Backtrack => unreachable!("not in this plan"),
                }
            }
        }
    };
}

impl_log!(
    f32,
    f32,
    lsmc_emu_inside_f32,
    lsmc_emu_log_partition_f32,
    lsmc_emu_outside_f32,
    lsmc_emu_marginals_f32
);
impl_log!(
    f64,
    f64,
    lsmc_emu_inside_f64,
    lsmc_emu_log_partition_f64,
    lsmc_emu_outside_f64,
    lsmc_emu_marginals_f64
);
impl_log!(
    f32,
    Dual<f32>,
    lsmc_emu_inside_dual_f32,
    lsmc_emu_log_partition_dual_f32,
    lsmc_emu_outside_dual_f32,
    lsmc_emu_marginals_dual_f32
);
impl_log!(
    f64,
    Dual<f64>,
    lsmc_emu_inside_dual_f64,
    lsmc_emu_log_partition_dual_f64,
    lsmc_emu_outside_dual_f64,
    lsmc_emu_marginals_dual_f64
);

/// A batch: scores `[batch, n1, n1]` and each sentence's length (< n1).
pub struct Batch<'a, T> {
    pub s: &'a [T],
    pub lengths: &'a [c_int],
    pub n1: usize,
    pub single_root: bool,
    /// Threads per span block (a power of two).
    pub threads: u32,
}

impl<T> Batch<'_, T> {
    fn shape(&self) -> Shape {
        assert_eq!(
            self.s.len(),
            self.lengths.len() * self.n1 * self.n1,
            "scores shape"
        );
        assert!(self
            .lengths
            .iter()
            .all(|&n| n >= 0 && (n as usize) < self.n1));
        Shape::new(self.lengths.len(), self.n1, self.threads)
    }
}

fn inside_outside<T: Copy + Default, N: LogKernels<T>>(
    b: &Batch<T>,
    ds: Option<&[T]>,
    value: impl Fn(N) -> T,
) -> Result<Marginals<T>, Refused> {
    let shape = b.shape();
    let cells = b.s.len();
    let mut charts: Vec<Vec<N>> = (0..8).map(|_| vec![N::default(); cells]).collect();
    let mut log_z = vec![N::default(); shape.batch];
    let mut mu = vec![T::default(); cells];
    let mut dmu = vec![T::default(); cells];
    let ptrs: Vec<*mut N> = charts.iter_mut().map(|c| c.as_mut_ptr()).collect();
    let args = LogArgs {
        s: b.s.as_ptr(),
        ds: ds.map_or(std::ptr::null(), |d| d.as_ptr()),
        len: b.lengths.as_ptr(),
        n1: b.n1 as c_int,
        batch: shape.batch as c_int,
        single_root: c_int::from(b.single_root),
        charts: [ptrs[0], ptrs[1], ptrs[2], ptrs[3]],
        outside: [ptrs[4], ptrs[5], ptrs[6], ptrs[7]],
        log_z: log_z.as_mut_ptr(),
        mu: mu.as_mut_ptr(),
        dmu: if ds.is_some() {
            dmu.as_mut_ptr()
        } else {
            std::ptr::null_mut()
        },
    };
    for l in plan::inside_outside(shape, std::mem::size_of::<N>(), true) {
        // SAFETY: every buffer holds batch · n1² cells (log Z: batch), as
        // the kernels index them; `ds` is null or as long as `s`.
        if unsafe { N::run(&l, &args) } != 0 {
            return Err(Refused(l));
        }
    }
    Ok(Marginals {
        log_z: log_z.into_iter().map(value).collect(),
        mu,
        dmu: if ds.is_some() { dmu } else { Vec::new() },
    })
}

/// Log Z and marginals, in f32 or f64 (`N = T`).
pub fn marginals<T: LogKernels<T>>(b: &Batch<T>) -> Result<Marginals<T>, Refused> {
    inside_outside::<T, T>(b, None, |x| x)
}

/// The marginals and their derivative in direction `ds` (which is their
/// VJP with upstream gradient `ds`), on dual numbers.
pub fn marginals_jvp<T>(b: &Batch<T>, ds: &[T]) -> Result<Marginals<T>, Refused>
where
    T: Copy + Default,
    Dual<T>: LogKernels<T>,
{
    assert_eq!(ds.len(), b.s.len(), "direction shape");
    inside_outside::<T, Dual<T>>(b, Some(ds), |x| x.v)
}

/// Eisner's MAP trees: heads `[batch, n1]` (0 for the root and padding)
/// and the one-hot arcs `[batch, n1, n1]`.
pub trait MapKernels: Copy + Default {
    /// # Safety
    /// As [`LogKernels::run`].
    unsafe fn run(l: &Launch, a: &MapArgs<Self>) -> c_int;
}

pub struct MapArgs<T> {
    pub s: *const T,
    pub len: *const c_int,
    pub n1: c_int,
    pub batch: c_int,
    pub single_root: c_int,
    pub charts: [*mut T; 4],
    pub back: [*mut c_int; 3],
    pub stack: *mut c_int,
    pub heads: *mut c_int,
    pub z: *mut T,
}

macro_rules! impl_map {
    ($t:ty, $eisner:ident, $back:ident) => {
        impl MapKernels for $t {
            unsafe fn run(l: &Launch, a: &MapArgs<$t>) -> c_int {
                let (gx, gy, bx, sh) = (l.grid.0, l.grid.1, l.block, l.shared);
                let [ir, il, cr, cl] = a.charts;
                let [bi, bcr, bcl] = a.back;
                match l.kernel {
                    Kernel::Eisner { k } => $eisner(
                        gx, gy, bx, sh, k as c_int, a.s, a.len, a.n1, ir, il, cr, cl, bi, bcr, bcl,
                    ),
                    Kernel::Backtrack => $back(
                        gx,
                        gy,
                        bx,
                        sh,
                        a.s,
                        a.len,
                        a.n1,
                        a.batch,
                        a.single_root,
                        cr,
                        cl,
                        bi,
                        bcr,
                        bcl,
                        a.stack,
                        a.heads,
                        a.z,
                    ),
                    _ => unreachable!("not in this plan"),
                }
            }
        }
    };
}

impl_map!(f32, lsmc_emu_eisner_f32, lsmc_emu_backtrack_f32);
impl_map!(f64, lsmc_emu_eisner_f64, lsmc_emu_backtrack_f64);

pub fn map<T: MapKernels>(b: &Batch<T>) -> Result<(Vec<c_int>, Vec<T>), Refused> {
    let shape = b.shape();
    let cells = b.s.len();
    let mut charts: Vec<Vec<T>> = (0..4).map(|_| vec![T::default(); cells]).collect();
    let mut back: Vec<Vec<c_int>> = (0..3).map(|_| vec![0; cells]).collect();
    let mut stack = vec![0 as c_int; shape.batch * 12 * b.n1];
    let mut heads = vec![0 as c_int; shape.batch * b.n1];
    let mut z = vec![T::default(); cells];
    let cp: Vec<*mut T> = charts.iter_mut().map(|c| c.as_mut_ptr()).collect();
    let bp: Vec<*mut c_int> = back.iter_mut().map(|c| c.as_mut_ptr()).collect();
    let args = MapArgs {
        s: b.s.as_ptr(),
        len: b.lengths.as_ptr(),
        n1: b.n1 as c_int,
        batch: shape.batch as c_int,
        single_root: c_int::from(b.single_root),
        charts: [cp[0], cp[1], cp[2], cp[3]],
        back: [bp[0], bp[1], bp[2]],
        stack: stack.as_mut_ptr(),
        heads: heads.as_mut_ptr(),
        z: z.as_mut_ptr(),
    };
    for l in plan::eisner(shape, std::mem::size_of::<T>()) {
        // SAFETY: as in `inside_outside`; the stack holds 12·n1 ints a sentence.
        if unsafe { T::run(&l, &args) } != 0 {
            return Err(Refused(l));
        }
    }
    Ok((heads, z))
}
