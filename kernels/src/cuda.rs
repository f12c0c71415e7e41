//! The kernels on an NVIDIA GPU, through cudarc's driver API (loaded at run
//! time) and the committed PTX ([`crate::PROJECTIVE_PTX`]), following the
//! launch plans of [`crate::plan`] as the host emulation does. cudarc
//! panics when it cannot load `libcuda`: its presence is probed first, and
//! every failure comes back as a [`CudaError`].

use crate::plan::{self, Kernel, Launch, Shape};
use crate::{Dual, Marginals};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DeviceRepr, LaunchConfig,
    PushKernelArg, ValidAsZeroBits,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, PartialEq)]
pub enum CudaError {
    /// No NVIDIA driver (`libcuda.so`) on this machine.
    NoDriver,
    /// The driver is there but has no device `ordinal` (it has `count`).
    NoDevice { ordinal: usize, count: usize },
    /// A driver call failed: which one, and the driver's words.
    Driver { during: String, message: String },
}

impl std::fmt::Display for CudaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CudaError::NoDriver => write!(f, "no NVIDIA driver (libcuda.so) was found"),
            CudaError::NoDevice { ordinal, count: 0 } => {
                write!(
                    f,
                    "the NVIDIA driver sees no GPU (asked for cuda:{ordinal})"
                )
            }
            CudaError::NoDevice { ordinal, count } => write!(
                f,
                "there is no GPU cuda:{ordinal}: the driver sees {count} (cuda:0 to cuda:{})",
                count - 1
            ),
            CudaError::Driver { during, message } => write!(f, "CUDA failed {during}: {message}"),
        }
    }
}

impl std::error::Error for CudaError {}

fn driver<E: std::fmt::Debug>(during: &str) -> impl FnOnce(E) -> CudaError + '_ {
    move |e| CudaError::Driver {
        during: during.to_string(),
        message: format!("{e:?}"),
    }
}

/// Threads a span's block uses on the GPU: one warp.
pub const THREADS: u32 = 32;

/// An opened GPU with the kernels loaded.
pub struct Gpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    module: Arc<CudaModule>,
    functions: Mutex<HashMap<String, CudaFunction>>,
    name: String,
}

/// Element types the kernels are compiled for.
pub trait GpuReal: DeviceRepr + ValidAsZeroBits + Copy + Default + 'static {
    const SUFFIX: &'static str;
}

impl GpuReal for f32 {
    const SUFFIX: &'static str = "f32";
}

impl GpuReal for f64 {
    const SUFFIX: &'static str = "f64";
}

// SAFETY: `Dual<T>` is `repr(C)`, two `T`s, as the kernels declare it, and
// all-zero bits are the dual number zero.
unsafe impl DeviceRepr for Dual<f32> {}
unsafe impl DeviceRepr for Dual<f64> {}
unsafe impl ValidAsZeroBits for Dual<f32> {}
unsafe impl ValidAsZeroBits for Dual<f64> {}

/// Whether the NVIDIA driver library can be loaded (it may still see no GPU).
pub fn driver_present() -> bool {
    // SAFETY: only tries to open the library.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// The number of GPUs the driver sees (0 without a driver).
pub fn device_count() -> usize {
    if !driver_present() {
        return 0;
    }
    CudaContext::device_count().map_or(0, |n| n.max(0) as usize)
}

impl Gpu {
    /// Opens GPU `ordinal` and loads the kernels.
    pub fn open(ordinal: usize) -> Result<Gpu, CudaError> {
        if !driver_present() {
            return Err(CudaError::NoDriver);
        }
        let count = CudaContext::device_count().map_err(driver("counting GPUs"))?;
        if ordinal >= count.max(0) as usize {
            return Err(CudaError::NoDevice {
                ordinal,
                count: count.max(0) as usize,
            });
        }
        let ctx = CudaContext::new(ordinal).map_err(driver("opening the GPU"))?;
        let module = ctx
            .load_module(cudarc::nvrtc::Ptx::from_src(crate::PROJECTIVE_PTX))
            .map_err(driver("loading the kernels' PTX"))?;
        let name = ctx.name().map_err(driver("reading the GPU's name"))?;
        let stream = ctx.default_stream();
        Ok(Gpu {
            ctx,
            stream,
            module,
            functions: Mutex::new(HashMap::new()),
            name,
        })
    }

    /// The card's name, as the driver reports it.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn ordinal(&self) -> usize {
        self.ctx.ordinal()
    }

    /// Waits for every launch so far (for timing).
    pub fn synchronize(&self) -> Result<(), CudaError> {
        self.stream.synchronize().map_err(driver("synchronising"))
    }

    fn function(&self, kernel: Kernel, suffix: &str) -> Result<CudaFunction, CudaError> {
        let name = format!("lsmc_{}_{suffix}", kernel.name());
        let mut cache = self.functions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = cache.get(&name) {
            return Ok(f.clone());
        }
        let f = self
            .module
            .load_function(&name)
            .map_err(driver(&format!("finding kernel {name}")))?;
        cache.insert(name, f.clone());
        Ok(f)
    }

    fn upload<T: DeviceRepr>(&self, xs: &[T]) -> Result<CudaSlice<T>, CudaError> {
        self.stream
            .memcpy_stod(xs)
            .map_err(driver("copying to the GPU"))
    }

    fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, n: usize) -> Result<CudaSlice<T>, CudaError> {
        self.stream
            .alloc_zeros(n.max(1))
            .map_err(driver("allocating GPU memory"))
    }

    fn download<T: DeviceRepr + Default + Clone>(
        &self,
        xs: &CudaSlice<T>,
    ) -> Result<Vec<T>, CudaError> {
        self.stream
            .memcpy_dtov(xs)
            .map_err(driver("copying from the GPU"))
    }

    /// Log Z and marginals (`[batch, n1, n1]` scores, lengths < n1).
    pub fn marginals<T: GpuReal>(
        &self,
        s: &[T],
        lengths: &[i32],
        n1: usize,
        single_root: bool,
    ) -> Result<Marginals<T>, CudaError> {
        let (log_z, mu, _) =
            self.inside_outside::<T, T>(T::SUFFIX, s, None, lengths, n1, single_root)?;
        Ok(Marginals {
            log_z,
            mu,
            dmu: Vec::new(),
        })
    }

    /// The marginals and their derivative in direction `ds` (their VJP
    /// with upstream gradient `ds`).
    pub fn marginals_jvp<T: GpuReal>(
        &self,
        s: &[T],
        ds: &[T],
        lengths: &[i32],
        n1: usize,
        single_root: bool,
    ) -> Result<Marginals<T>, CudaError>
    where
        Dual<T>: DeviceRepr + ValidAsZeroBits,
    {
        let suffix = format!("dual_{}", T::SUFFIX);
        let (log_z, mu, dmu) =
            self.inside_outside::<T, Dual<T>>(&suffix, s, Some(ds), lengths, n1, single_root)?;
        Ok(Marginals {
            log_z: log_z.iter().map(|d| d.v).collect(),
            mu,
            dmu,
        })
    }

    /// Log Z (as chart numbers), µ and, with `ds`, dµ.
    #[allow(clippy::type_complexity)]
    fn inside_outside<T: GpuReal, N: DeviceRepr + ValidAsZeroBits + Default + Clone>(
        &self,
        suffix: &str,
        s: &[T],
        ds: Option<&[T]>,
        lengths: &[i32],
        n1: usize,
        single_root: bool,
    ) -> Result<(Vec<N>, Vec<T>, Vec<T>), CudaError> {
        let batch = lengths.len();
        check(s.len(), lengths, n1);
        let shape = Shape::new(batch, n1, THREADS);
        let cells = s.len();
        let d_s = self.upload(s)?;
        let d_ds = ds.map(|d| self.upload(d)).transpose()?;
        let d_len = self.upload(lengths)?;
        let (mut ir, mut il, mut cr, mut cl) = (
            self.zeros::<N>(cells)?,
            self.zeros::<N>(cells)?,
            self.zeros::<N>(cells)?,
            self.zeros::<N>(cells)?,
        );
        let (mut oir, mut oil, mut ocr, mut ocl) = (
            self.zeros::<N>(cells)?,
            self.zeros::<N>(cells)?,
            self.zeros::<N>(cells)?,
            self.zeros::<N>(cells)?,
        );
        let mut log_z = self.zeros::<N>(batch)?;
        let mut mu = self.zeros::<T>(cells)?;
        let mut dmu = self.zeros::<T>(if ds.is_some() { cells } else { 1 })?;
        let (n1i, bi, root) = (n1 as i32, batch as i32, i32::from(single_root));
        let null: u64 = 0;
        for l in plan::inside_outside(shape, std::mem::size_of::<N>(), true) {
            let f = self.function(l.kernel, suffix)?;
            let mut b = self.stream.launch_builder(&f);
            let k = match l.kernel {
                Kernel::Inside { k } | Kernel::Outside { k } => k as i32,
                _ => 0,
            };
            // Every log kernel starts (k,) s, ds, len, n1; the rest differs.
            if matches!(l.kernel, Kernel::Inside { .. } | Kernel::Outside { .. }) {
                b.arg(&k);
            }
            b.arg(&d_s);
            match &d_ds {
                Some(d) => b.arg(d),
                None => b.arg(&null),
            };
            b.arg(&d_len).arg(&n1i);
            match l.kernel {
                Kernel::Inside { .. } => {
                    b.arg(&mut ir).arg(&mut il).arg(&mut cr).arg(&mut cl);
                }
                Kernel::LogPartition => {
                    b.arg(&root).arg(&cr).arg(&cl).arg(&mut log_z);
                }
                Kernel::Outside { .. } => {
                    b.arg(&root).arg(&ir).arg(&il).arg(&cr).arg(&cl);
                    b.arg(&mut oir).arg(&mut oil).arg(&mut ocr).arg(&mut ocl);
                }
                Kernel::Marginals => {
                    b.arg(&bi).arg(&root);
                    b.arg(&ir)
                        .arg(&il)
                        .arg(&cr)
                        .arg(&cl)
                        .arg(&oir)
                        .arg(&oil)
                        .arg(&log_z);
                    b.arg(&mut mu);
                    if ds.is_some() {
                        b.arg(&mut dmu);
                    } else {
                        b.arg(&null);
                    }
                }
                Kernel::Eisner { .. } | Kernel::Backtrack => unreachable!("not in this plan"),
            }
            // SAFETY: the arguments are those the kernel declares, in order,
            // and every buffer holds what the plan's grid indexes.
            unsafe { b.launch(config(&l)) }
                .map_err(driver(&format!("running {}", l.kernel.name())))?;
        }
        let dmu = if ds.is_some() {
            self.download(&dmu)?
        } else {
            Vec::new()
        };
        Ok((self.download(&log_z)?, self.download(&mu)?, dmu))
    }

    /// Eisner's MAP trees: heads `[batch, n1]` and one-hot arcs `[batch, n1, n1]`.
    pub fn map<T: GpuReal>(
        &self,
        s: &[T],
        lengths: &[i32],
        n1: usize,
        single_root: bool,
    ) -> Result<(Vec<i32>, Vec<T>), CudaError> {
        let batch = lengths.len();
        check(s.len(), lengths, n1);
        let shape = Shape::new(batch, n1, THREADS);
        let cells = s.len();
        let d_s = self.upload(s)?;
        let d_len = self.upload(lengths)?;
        let (mut ir, mut il, mut cr, mut cl) = (
            self.zeros::<T>(cells)?,
            self.zeros::<T>(cells)?,
            self.zeros::<T>(cells)?,
            self.zeros::<T>(cells)?,
        );
        let (mut bi, mut bcr, mut bcl) = (
            self.zeros::<i32>(cells)?,
            self.zeros::<i32>(cells)?,
            self.zeros::<i32>(cells)?,
        );
        let mut stack = self.zeros::<i32>(batch * 12 * n1)?;
        let mut heads = self.zeros::<i32>(batch * n1)?;
        let mut z = self.zeros::<T>(cells)?;
        let (n1i, bn, root) = (n1 as i32, batch as i32, i32::from(single_root));
        for l in plan::eisner(shape, std::mem::size_of::<T>()) {
            let f = self.function(l.kernel, T::SUFFIX)?;
            let mut b = self.stream.launch_builder(&f);
            match l.kernel {
                Kernel::Eisner { k } => {
                    let k = k as i32;
                    b.arg(&k).arg(&d_s).arg(&d_len).arg(&n1i);
                    b.arg(&mut ir).arg(&mut il).arg(&mut cr).arg(&mut cl);
                    b.arg(&mut bi).arg(&mut bcr).arg(&mut bcl);
                    // SAFETY: as in `inside_outside`.
                    unsafe { b.launch(config(&l)) }.map_err(driver("running eisner"))?;
                }
                Kernel::Backtrack => {
                    b.arg(&d_s).arg(&d_len).arg(&n1i).arg(&bn).arg(&root);
                    b.arg(&cr).arg(&cl).arg(&bi).arg(&bcr).arg(&bcl);
                    b.arg(&mut stack).arg(&mut heads).arg(&mut z);
                    // SAFETY: as in `inside_outside`; the stack holds 12·n1 ints a sentence.
                    unsafe { b.launch(config(&l)) }.map_err(driver("running backtrack"))?;
                }
                _ => unreachable!("not in this plan"),
            }
        }
        Ok((self.download(&heads)?, self.download(&z)?))
    }
}

fn config(l: &Launch) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (l.grid.0, l.grid.1, 1),
        block_dim: (l.block, 1, 1),
        shared_mem_bytes: l.shared,
    }
}

/// The batch's shape, as every entry point needs it; a mismatch is a bug
/// in the caller, not bad input (the runtime checks user data first).
fn check(cells: usize, lengths: &[i32], n1: usize) {
    assert_eq!(cells, lengths.len() * n1 * n1, "scores are [batch, n1, n1]");
    assert!(
        lengths.iter().all(|&n| n >= 0 && (n as usize) < n1),
        "lengths fit n1"
    );
}
