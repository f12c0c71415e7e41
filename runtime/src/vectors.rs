//! The instruction sets the numerical kernels are compiled for, chosen at
//! run time, so that one binary serves every x86-64 machine: the
//! matrix-tree lanes, SparseMAP's active set and the part scan of every
//! structured call run through [`widest_vectors!`], and tests narrow the
//! choice per thread to run every copy the CPU has.

/// The instruction sets the kernels are compiled for, widest first.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub(crate) enum Vectors {
    Baseline,
    Avx2Fma,
    Avx512Fma,
}

/// The widest [`Vectors`] this CPU runs.
pub(crate) fn widest_supported() -> Vectors {
    #[cfg(target_arch = "x86_64")]
    {
        let fma = std::is_x86_feature_detected!("fma");
        if fma && std::is_x86_feature_detected!("avx512f") {
            return Vectors::Avx512Fma;
        }
        if fma && std::is_x86_feature_detected!("avx2") {
            return Vectors::Avx2Fma;
        }
    }
    Vectors::Baseline
}

#[cfg(test)]
thread_local! {
    /// A narrower [`Vectors`] than the CPU's for this thread's kernels, so
    /// that tests run every copy.
    pub(crate) static NARROWED: std::cell::Cell<Option<Vectors>> =
        const { std::cell::Cell::new(None) };
}

/// The [`Vectors`] the kernels run with.
pub(crate) fn vectors() -> Vectors {
    let widest = widest_supported();
    #[cfg(test)]
    if let Some(v) = NARROWED.get() {
        return if v < widest { v } else { widest };
    }
    widest
}

/// The copies of every [`Vectors`] up to the CPU's, each run with `f`
/// under [`NARROWED`] (restored after): how tests compare the copies.
#[cfg(test)]
pub(crate) fn for_each_supported(mut f: impl FnMut(Vectors)) {
    let widest = widest_supported();
    for v in [Vectors::Baseline, Vectors::Avx2Fma, Vectors::Avx512Fma] {
        if v > widest {
            continue;
        }
        NARROWED.set(Some(v));
        assert_eq!(vectors(), v);
        f(v);
    }
    NARROWED.set(None);
}

/// Calls `$body` (on the arguments, through `#[inline(always)]`
/// kernels) compiled for [`vectors`], chosen at run time: AVX-512, else
/// AVX2, both with fused multiply-adds, else the target's baseline. A
/// `mul_add` is one instruction in the first two (and on targets whose
/// baseline has FMA); elsewhere it is correct but a slow call. Rust never
/// fuses a separate multiply and add, so code without `mul_add` gives the
/// same bits in every copy.
macro_rules! widest_vectors {
    // Each copy takes the caller's type parameters as its own (an inner
    // function sees none of its caller's).
    (<$($g:ident: $bound:path),*> ($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,fma")]
            fn avx512<$($g: $bound),*>($($arg: $ty),*) -> $ret $body
            #[target_feature(enable = "avx2,fma")]
            fn avx2<$($g: $bound),*>($($arg: $ty),*) -> $ret $body
            match $crate::vectors::vectors() {
                // SAFETY: the CPU has the features the copy is compiled for.
                $crate::vectors::Vectors::Avx512Fma => return unsafe { avx512::<$($g),*>($($arg),*) },
                // SAFETY: as above.
                $crate::vectors::Vectors::Avx2Fma => return unsafe { avx2::<$($g),*>($($arg),*) },
                $crate::vectors::Vectors::Baseline => {}
            }
        }
        $body
    }};
    // Over concrete types: the generic form with no type parameters.
    (($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {
        $crate::vectors::widest_vectors!(<> ($($arg: $ty),*) -> $ret $body)
    };
}
pub(crate) use widest_vectors;
