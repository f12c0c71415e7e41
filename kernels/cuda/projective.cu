// Batched projective dependency trees (first-order, arc-factored) on the
// GPU: Eisner MAP, inside and outside in log space (log-partition and arc
// marginals), and the marginals' VJP. The CPU engine in
// runtime/src/latent/projective.rs is the reference; these kernels compute
// the same charts with the same conventions.
//
// Layout. Scores `s[b][h][m]` are `[B, N1, N1]` row-major with N1 = N + 1:
// index 0 is the root, sentence b uses positions 0..=len[b] and never reads
// past them (padding takes no part and gets zero in every output). Entries
// with m = 0 or h = m are not arcs. Charts are `[B, N1, N1]` too, indexed
// [b][i][j] with i <= j (span i..j):
//   IR[i][j]  the arc i -> j over the span,  IL[i][j]  the arc j -> i,
//   CR[i][j]  headed by i, complete rightwards,  CL[i][j]  headed by j,
//   complete leftwards. Single-root trees attach exactly one word r to the
//   root: log Z = lse_r s[0][r] + CL[1][r] + CR[r][n].
//
// Parallel decomposition. The inside pass runs one launch per span width
// k = 1..N: block (i, b) owns span i..i+k of sentence b (grid N1 - k by B;
// blocks past a sentence's length return at once, as a whole), and its
// threads split the sum over split points q between them (thread t takes
// q = first + t, first + t + blockDim, ...), then combine their partial
// sums in shared memory by a tree reduction. Within a block the incomplete
// spans come first, a barrier, then the complete ones, which read the
// incomplete span the block just wrote. Every read of another block's
// output is of a narrower span, written by an earlier launch. The outside
// pass is the same grid over widths N..1, written as a gather (each item
// sums over the wider items that contain it, so no two blocks write one
// cell and no atomics are needed): complete spans first, then the
// incomplete spans of the same width, which read them. Marginals are one
// thread per (b, h, m); the MAP tree is read from the back-pointers by one
// thread per sentence; the log-partition by one block per sentence.
//
// The same source is compiled three ways: by NVRTC for the GPU, and as C++
// for the CPU with LSMC_HOST_EMULATION defined (host_emulation.h supplies
// blockIdx, threadIdx, __shared__ and __syncthreads), where the tests
// compare it with the CPU engine. Kernels use nothing else from CUDA.
//
// The VJP of the marginals with upstream gradient g is the derivative of
// the marginals in direction g (their Jacobian is the Hessian of log Z,
// which is symmetric): the inside and outside passes run on dual numbers
// (value, tangent) whose tangents start at g, as the CPU engine does.

#ifdef LSMC_HOST_EMULATION
#include "host_emulation.h"
#endif

namespace lsmc {

// ---- numbers ---------------------------------------------------------------

#ifdef LSMC_HOST_EMULATION
__device__ inline float neg_inf(float) { return -HUGE_VALF; }
__device__ inline double neg_inf(double) { return -HUGE_VAL; }
#else
__device__ inline float neg_inf(float) { return __int_as_float(0xff800000); }
__device__ inline double neg_inf(double) { return __longlong_as_double(0xfff0000000000000ULL); }
#endif
__device__ inline float exp_(float x) { return expf(x); }
__device__ inline double exp_(double x) { return exp(x); }
__device__ inline float log1p_(float x) { return log1pf(x); }
__device__ inline double log1p_(double x) { return log1p(x); }

// log(e^a + e^b), with -inf as the zero.
template <typename T>
__device__ inline T lse2(T a, T b) {
    T m = a > b ? a : b;
    T d = a > b ? b : a;
    if (m == neg_inf(m)) return m;
    return m + log1p_(exp_(d - m));
}

// A value and its directional derivative.
template <typename T>
struct Dual {
    T v, t;
};

// The log semiring over T (plain numbers) or Dual<T>.
template <typename T>
struct Log {
    typedef T Num;
    typedef T Base;
    __device__ static inline T zero() { return neg_inf(T(0)); }
    __device__ static inline T one() { return T(0); }
    __device__ static inline T plus(T a, T b) { return lse2(a, b); }
    __device__ static inline T times(T a, T b) { return a + b; }
    __device__ static inline T value(T a) { return a; }
    __device__ static inline T tangent(T) { return T(0); }
    __device__ static inline T make(T v, T) { return v; }
};

template <typename T>
struct LogDual {
    typedef Dual<T> Num;
    typedef T Base;
    __device__ static inline Num zero() { Num z = {neg_inf(T(0)), T(0)}; return z; }
    __device__ static inline Num one() { Num o = {T(0), T(0)}; return o; }
    __device__ static inline Num plus(Num a, Num b) {
        T v = lse2(a.v, b.v);
        if (v == neg_inf(v)) return a;
        T wa = a.v == neg_inf(v) ? T(0) : exp_(a.v - v);
        T wb = b.v == neg_inf(v) ? T(0) : exp_(b.v - v);
        Num r = {v, wa * a.t + wb * b.t};
        return r;
    }
    __device__ static inline Num times(Num a, Num b) { Num r = {a.v + b.v, a.t + b.t}; return r; }
    __device__ static inline T value(Num a) { return a.v; }
    __device__ static inline T tangent(Num a) { return a.t; }
    __device__ static inline Num make(T v, T t) { Num r = {v, t}; return r; }
};

// ---- indexing ----------------------------------------------------------------

__device__ inline long cell(int b, int i, int j, int n1) {
    return ((long)b * n1 + i) * n1 + j;
}

// The score of the arc h -> m as a number of the semiring (its tangent from
// `ds` when there is one); no arc into the root or from a word to itself.
template <typename S>
__device__ inline typename S::Num arc(const typename S::Base* s, const typename S::Base* ds,
                                      int b, int h, int m, int n1) {
    if (m == 0 || h == m) return S::zero();
    long c = cell(b, h, m, n1);
    return S::make(s[c], ds ? ds[c] : typename S::Base(0));
}

// ---- block reductions -------------------------------------------------------

// Combines every thread's partial sum; thread 0 gets the total. `buf` holds
// blockDim.x values. Ends with a barrier, so `buf` can be reused at once.
template <typename S>
__device__ inline typename S::Num block_sum(typename S::Num x, typename S::Num* buf) {
    int t = threadIdx.x;
    buf[t] = x;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if (t < w) buf[t] = S::plus(buf[t], buf[t + w]);
        __syncthreads();
    }
    typename S::Num r = buf[0];
    __syncthreads();
    return r;
}

// The largest value and the first split reaching it (Eisner's tie rule,
// as the CPU engine: the first split wins).
template <typename T>
__device__ inline void block_argmax(T x, int q, T* vbuf, int* qbuf, T* out_v, int* out_q) {
    int t = threadIdx.x;
    vbuf[t] = x;
    qbuf[t] = q;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if (t < w) {
            T a = vbuf[t], c = vbuf[t + w];
            int qa = qbuf[t], qc = qbuf[t + w];
            if (c > a || (c == a && qc < qa && qc >= 0) || qa < 0) {
                vbuf[t] = c;
                qbuf[t] = qc;
            }
        }
        __syncthreads();
    }
    *out_v = vbuf[0];
    *out_q = qbuf[0];
    __syncthreads();
}

// ---- inside (log semiring, plain or dual) -------------------------------------

template <typename S>
__device__ void inside_width(int k, const typename S::Base* s, const typename S::Base* ds,
                             const int* len, int n1, typename S::Num* ir, typename S::Num* il,
                             typename S::Num* cr, typename S::Num* cl) {
    typedef typename S::Num Num;
    extern __shared__ __align__(16) unsigned char shared_bytes[];
    Num* buf = (Num*)shared_bytes;
    int i = blockIdx.x, b = blockIdx.y, j = i + k;
    int n = len[b];
    if (j > n) return;
    // Width 1 spans read the width-0 cells: set them once, at k = 1.
    if (k == 1 && threadIdx.x == 0) {
        cr[cell(b, i, i, n1)] = S::one();
        cl[cell(b, i, i, n1)] = S::one();
        cr[cell(b, j, j, n1)] = S::one();
        cl[cell(b, j, j, n1)] = S::one();
    }
    __syncthreads();
    // inner = sum_{q=i}^{j-1} CR[i][q] * CL[q+1][j]
    Num acc = S::zero();
    for (int q = i + (int)threadIdx.x; q < j; q += blockDim.x)
        acc = S::plus(acc, S::times(cr[cell(b, i, q, n1)], cl[cell(b, q + 1, j, n1)]));
    Num inner = block_sum<S>(acc, buf);
    if (threadIdx.x == 0) {
        ir[cell(b, i, j, n1)] = S::times(inner, arc<S>(s, ds, b, i, j, n1));
        il[cell(b, i, j, n1)] = i == 0 ? S::zero() : S::times(inner, arc<S>(s, ds, b, j, i, n1));
    }
    __syncthreads();
    // CR[i][j] = sum_{q=i+1}^{j} IR[i][q] * CR[q][j]
    acc = S::zero();
    for (int q = i + 1 + (int)threadIdx.x; q <= j; q += blockDim.x)
        acc = S::plus(acc, S::times(ir[cell(b, i, q, n1)], cr[cell(b, q, j, n1)]));
    Num right = block_sum<S>(acc, buf);
    // CL[i][j] = sum_{q=i}^{j-1} CL[i][q] * IL[q][j]
    acc = S::zero();
    for (int q = i + (int)threadIdx.x; q < j; q += blockDim.x)
        acc = S::plus(acc, S::times(cl[cell(b, i, q, n1)], il[cell(b, q, j, n1)]));
    Num left = block_sum<S>(acc, buf);
    if (threadIdx.x == 0) {
        cr[cell(b, i, j, n1)] = right;
        cl[cell(b, i, j, n1)] = left;
    }
}

// log Z of each sentence (one block per sentence); `root` gets the root
// term's outside weight for the outside pass: the single root's choice, or
// CR[0][n] itself.
template <typename S>
__device__ void log_partition(const typename S::Base* s, const typename S::Base* ds,
                              const int* len, int n1, int single_root, const typename S::Num* cr,
                              const typename S::Num* cl, typename S::Num* log_z) {
    typedef typename S::Num Num;
    extern __shared__ __align__(16) unsigned char shared_bytes[];
    Num* buf = (Num*)shared_bytes;
    int b = blockIdx.x, n = len[b];
    if (n == 0) {
        if (threadIdx.x == 0) log_z[b] = S::one();
        return;
    }
    if (!single_root) {
        if (threadIdx.x == 0) log_z[b] = cr[cell(b, 0, n, n1)];
        return;
    }
    Num acc = S::zero();
    for (int r = 1 + (int)threadIdx.x; r <= n; r += blockDim.x)
        acc = S::plus(acc, S::times(S::times(arc<S>(s, ds, b, 0, r, n1), cl[cell(b, 1, r, n1)]),
                                    cr[cell(b, r, n, n1)]));
    Num z = block_sum<S>(acc, buf);
    if (threadIdx.x == 0) log_z[b] = z;
}

// ---- outside (gather form) ------------------------------------------------------

// Outside weights (log space) `oir, oil, ocr, ocl` of every span of width k,
// from the wider spans' (earlier launches) and, for the incomplete spans,
// the complete spans of the same width (this block, before the barrier).
template <typename S>
__device__ void outside_width(int k, const typename S::Base* s, const typename S::Base* ds,
                              const int* len, int n1, int single_root,
                              const typename S::Num* ir, const typename S::Num* il,
                              const typename S::Num* cr, const typename S::Num* cl,
                              typename S::Num* oir, typename S::Num* oil, typename S::Num* ocr,
                              typename S::Num* ocl) {
    typedef typename S::Num Num;
    extern __shared__ __align__(16) unsigned char shared_bytes[];
    Num* buf = (Num*)shared_bytes;
    int i = blockIdx.x, b = blockIdx.y, j = i + k;
    int n = len[b];
    if (j > n) return;
    // CR[i][j] is (a) the left half of IR[i][j'] and IL[i][j'] for j' > j,
    // with CL[j+1][j']; (b) the right half of CR[i'][j] for i' < i, with
    // IR[i'][i]; (c) under the root.
    Num acc = S::zero();
    for (int jp = j + 1 + (int)threadIdx.x; jp <= n; jp += blockDim.x) {
        Num up = S::plus(S::times(oir[cell(b, i, jp, n1)], arc<S>(s, ds, b, i, jp, n1)),
                         S::times(oil[cell(b, i, jp, n1)], arc<S>(s, ds, b, jp, i, n1)));
        acc = S::plus(acc, S::times(up, cl[cell(b, j + 1, jp, n1)]));
    }
    for (int ip = (int)threadIdx.x; ip < i; ip += blockDim.x)
        acc = S::plus(acc, S::times(ocr[cell(b, ip, j, n1)], ir[cell(b, ip, i, n1)]));
    Num ocr_ij = block_sum<S>(acc, buf);
    // CL[i][j] is (a) the right half of IR[i'][j] and IL[i'][j] for i' < i,
    // with CR[i'][i-1]; (b) the left half of CL[i][j'] for j' > j, with
    // IL[j][j']; (c) under the root.
    acc = S::zero();
    for (int ip = (int)threadIdx.x; ip < i; ip += blockDim.x) {
        Num up = S::plus(S::times(oir[cell(b, ip, j, n1)], arc<S>(s, ds, b, ip, j, n1)),
                         S::times(oil[cell(b, ip, j, n1)], arc<S>(s, ds, b, j, ip, n1)));
        acc = S::plus(acc, S::times(up, cr[cell(b, ip, i - 1, n1)]));
    }
    for (int jp = j + 1 + (int)threadIdx.x; jp <= n; jp += blockDim.x)
        acc = S::plus(acc, S::times(ocl[cell(b, i, jp, n1)], il[cell(b, j, jp, n1)]));
    Num ocl_ij = block_sum<S>(acc, buf);
    if (threadIdx.x == 0) {
        if (single_root) {
            if (j == n && i >= 1)
                ocr_ij = S::plus(ocr_ij, S::times(arc<S>(s, ds, b, 0, i, n1), cl[cell(b, 1, i, n1)]));
            if (i == 1)
                ocl_ij = S::plus(ocl_ij, S::times(arc<S>(s, ds, b, 0, j, n1), cr[cell(b, j, n, n1)]));
        } else if (i == 0 && j == n) {
            ocr_ij = S::plus(ocr_ij, S::one());
        }
        ocr[cell(b, i, j, n1)] = ocr_ij;
        ocl[cell(b, i, j, n1)] = ocl_ij;
    }
    __syncthreads();
    // IR[i][j] is the first part of CR[i][j'] for j' >= j, with CR[j][j'];
    // IL[i][j] the last part of CL[i'][j] for i' <= i, with CL[i'][i].
    acc = S::zero();
    for (int jp = j + (int)threadIdx.x; jp <= n; jp += blockDim.x)
        acc = S::plus(acc, S::times(ocr[cell(b, i, jp, n1)], cr[cell(b, j, jp, n1)]));
    Num oir_ij = block_sum<S>(acc, buf);
    acc = S::zero();
    for (int ip = (int)threadIdx.x; ip <= i; ip += blockDim.x)
        acc = S::plus(acc, S::times(ocl[cell(b, ip, j, n1)], cl[cell(b, ip, i, n1)]));
    Num oil_ij = block_sum<S>(acc, buf);
    if (threadIdx.x == 0) {
        oir[cell(b, i, j, n1)] = oir_ij;
        oil[cell(b, i, j, n1)] = i == 0 ? S::zero() : oil_ij;
    }
}

// mu[b][h][m] = exp(outside + inside - log Z) of the arc's incomplete span;
// `dmu` its tangent when the numbers are dual. One thread per cell.
template <typename S>
__device__ void marginals(const typename S::Base* s, const typename S::Base* ds, const int* len,
                          int n1, int batch, int single_root, const typename S::Num* ir,
                          const typename S::Num* il, const typename S::Num* cr,
                          const typename S::Num* cl, const typename S::Num* oir,
                          const typename S::Num* oil, const typename S::Num* log_z,
                          typename S::Base* mu, typename S::Base* dmu) {
    typedef typename S::Base T;
    long c = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= (long)batch * n1 * n1) return;
    int b = (int)(c / ((long)n1 * n1));
    int h = (int)(c / n1 % n1), m = (int)(c % n1);
    int n = len[b];
    T v = T(0), t = T(0);
    if (m != 0 && h != m && h <= n && m <= n) {
        // A single root's arc is not in the chart: its weight is the root term.
        typename S::Num w =
            h == 0 && single_root
                ? S::times(S::times(arc<S>(s, ds, b, 0, m, n1), cl[cell(b, 1, m, n1)]),
                           cr[cell(b, m, n, n1)])
            : h < m ? S::times(oir[cell(b, h, m, n1)], ir[cell(b, h, m, n1)])
                    : S::times(oil[cell(b, m, h, n1)], il[cell(b, m, h, n1)]);
        T lv = S::value(w) - S::value(log_z[b]);
        if (S::value(w) != neg_inf(T(0))) {
            v = exp_(lv);
            t = v * (S::tangent(w) - S::tangent(log_z[b]));
        }
    }
    mu[c] = v;
    if (dmu) dmu[c] = t;
}

// ---- Eisner (max, with back-pointers) --------------------------------------------

template <typename T>
__device__ void eisner_width(int k, const T* s, const int* len, int n1, T* ir, T* il, T* cr,
                             T* cl, int* bi, int* bcr, int* bcl) {
    extern __shared__ __align__(16) unsigned char shared_bytes[];
    int* qbuf = (int*)shared_bytes;
    T* vbuf = (T*)(shared_bytes + sizeof(T) * blockDim.x);
    int i = blockIdx.x, b = blockIdx.y, j = i + k;
    int n = len[b];
    if (j > n) return;
    T ninf = neg_inf(T(0));
    if (k == 1 && threadIdx.x == 0) {
        cr[cell(b, i, i, n1)] = T(0);
        cl[cell(b, i, i, n1)] = T(0);
        cr[cell(b, j, j, n1)] = T(0);
        cl[cell(b, j, j, n1)] = T(0);
    }
    __syncthreads();
    T best = ninf, v;
    int arg = -1, q;
    for (int p = i + (int)threadIdx.x; p < j; p += blockDim.x) {
        T x = cr[cell(b, i, p, n1)] + cl[cell(b, p + 1, j, n1)];
        if (x > best || arg < 0) { best = x; arg = p; }
    }
    block_argmax(best, arg, vbuf, qbuf, &v, &q);
    if (threadIdx.x == 0) {
        T sij = j == 0 || i == j ? ninf : s[cell(b, i, j, n1)];
        T sji = i == 0 ? ninf : s[cell(b, j, i, n1)];
        ir[cell(b, i, j, n1)] = v + sij;
        il[cell(b, i, j, n1)] = i == 0 ? ninf : v + sji;
        bi[cell(b, i, j, n1)] = q;
    }
    __syncthreads();
    best = ninf;
    arg = -1;
    for (int p = i + 1 + (int)threadIdx.x; p <= j; p += blockDim.x) {
        T x = ir[cell(b, i, p, n1)] + cr[cell(b, p, j, n1)];
        if (x > best || arg < 0) { best = x; arg = p; }
    }
    T vr;
    int qr;
    block_argmax(best, arg, vbuf, qbuf, &vr, &qr);
    best = ninf;
    arg = -1;
    for (int p = i + (int)threadIdx.x; p < j; p += blockDim.x) {
        T x = cl[cell(b, i, p, n1)] + il[cell(b, p, j, n1)];
        if (x > best || arg < 0) { best = x; arg = p; }
    }
    T vl;
    int ql;
    block_argmax(best, arg, vbuf, qbuf, &vl, &ql);
    if (threadIdx.x == 0) {
        cr[cell(b, i, j, n1)] = vr;
        bcr[cell(b, i, j, n1)] = qr;
        cl[cell(b, i, j, n1)] = vl;
        bcl[cell(b, i, j, n1)] = ql;
    }
}

// The MAP tree of each sentence from the back-pointers, one thread per
// sentence: `heads[b][m]` for m = 1..n (heads[b][0] = 0, padding 0), and
// the one-hot `z[b][h][m]`. `stack` has 12 * N1 ints per sentence (a span
// is 3 ints; the walk keeps at most one pending span per level, 2N + 2 levels).
template <typename T>
__device__ void eisner_backtrack(const T* s, const int* len, int n1, int batch, int single_root,
                                 const T* cr, const T* cl, const int* bi, const int* bcr,
                                 const int* bcl, int* stack, int* heads, T* z) {
    int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= batch) return;
    int n = len[b];
    for (int c = 0; c < n1; ++c) heads[(long)b * n1 + c] = 0;
    for (long c = 0; c < (long)n1 * n1; ++c) z[(long)b * n1 * n1 + c] = T(0);
    if (n == 0) return;
    int* st = stack + (long)b * 12 * n1;
    int top = 0;
    // Span kinds: 0 = IR, 1 = IL, 2 = CR, 3 = CL.
    if (single_root) {
        T best = neg_inf(T(0));
        int r = 1;
        for (int c = 1; c <= n; ++c) {
            T x = s[cell(b, 0, c, n1)] + cl[cell(b, 1, c, n1)] + cr[cell(b, c, n, n1)];
            if (x > best) { best = x; r = c; }
        }
        heads[(long)b * n1 + r] = 0;
        st[top++] = 3; st[top++] = 1; st[top++] = r;
        st[top++] = 2; st[top++] = r; st[top++] = n;
    } else {
        st[top++] = 2; st[top++] = 0; st[top++] = n;
    }
    while (top > 0) {
        int j = st[--top], i = st[--top], kind = st[--top];
        if (i == j) continue;
        if (kind <= 1) {
            if (kind == 0) heads[(long)b * n1 + j] = i;
            else heads[(long)b * n1 + i] = j;
            int q = bi[cell(b, i, j, n1)];
            st[top++] = 2; st[top++] = i; st[top++] = q;
            st[top++] = 3; st[top++] = q + 1; st[top++] = j;
        } else if (kind == 2) {
            int q = bcr[cell(b, i, j, n1)];
            st[top++] = 0; st[top++] = i; st[top++] = q;
            st[top++] = 2; st[top++] = q; st[top++] = j;
        } else {
            int q = bcl[cell(b, i, j, n1)];
            st[top++] = 3; st[top++] = i; st[top++] = q;
            st[top++] = 1; st[top++] = q; st[top++] = j;
        }
    }
    for (int m = 1; m <= n; ++m) z[cell(b, heads[(long)b * n1 + m], m, n1)] = T(1);
}

}  // namespace lsmc

// ---- entry points (unmangled names, for NVRTC and the host emulation) -------------

#define LSMC_LOG_KERNELS(SUFFIX, SEMIRING, T)                                                  \
    extern "C" __global__ void lsmc_inside_##SUFFIX(                                          \
        int k, const T* s, const T* ds, const int* len, int n1, SEMIRING::Num* ir,            \
        SEMIRING::Num* il, SEMIRING::Num* cr, SEMIRING::Num* cl) {                            \
        lsmc::inside_width<SEMIRING>(k, s, ds, len, n1, ir, il, cr, cl);                     \
    }                                                                                          \
    extern "C" __global__ void lsmc_log_partition_##SUFFIX(                                   \
        const T* s, const T* ds, const int* len, int n1, int single_root,                     \
        const SEMIRING::Num* cr, const SEMIRING::Num* cl, SEMIRING::Num* log_z) {             \
        lsmc::log_partition<SEMIRING>(s, ds, len, n1, single_root, cr, cl, log_z);            \
    }                                                                                          \
    extern "C" __global__ void lsmc_outside_##SUFFIX(                                         \
        int k, const T* s, const T* ds, const int* len, int n1, int single_root,              \
        const SEMIRING::Num* ir, const SEMIRING::Num* il, const SEMIRING::Num* cr,            \
        const SEMIRING::Num* cl, SEMIRING::Num* oir, SEMIRING::Num* oil, SEMIRING::Num* ocr,  \
        SEMIRING::Num* ocl) {                                                                 \
        lsmc::outside_width<SEMIRING>(k, s, ds, len, n1, single_root, ir, il, cr, cl, oir,    \
                                      oil, ocr, ocl);                                         \
    }                                                                                          \
    extern "C" __global__ void lsmc_marginals_##SUFFIX(                                       \
        const T* s, const T* ds, const int* len, int n1, int batch, int single_root,          \
        const SEMIRING::Num* ir, const SEMIRING::Num* il, const SEMIRING::Num* cr,            \
        const SEMIRING::Num* cl, const SEMIRING::Num* oir, const SEMIRING::Num* oil,          \
        const SEMIRING::Num* log_z, T* mu, T* dmu) {                                          \
        lsmc::marginals<SEMIRING>(s, ds, len, n1, batch, single_root, ir, il, cr, cl, oir,    \
                                  oil, log_z, mu, dmu);                                       \
    }

#define LSMC_MAP_KERNELS(SUFFIX, T)                                                            \
    extern "C" __global__ void lsmc_eisner_##SUFFIX(int k, const T* s, const int* len,        \
                                                    int n1, T* ir, T* il, T* cr, T* cl,       \
                                                    int* bi, int* bcr, int* bcl) {            \
        lsmc::eisner_width<T>(k, s, len, n1, ir, il, cr, cl, bi, bcr, bcl);                  \
    }                                                                                          \
    extern "C" __global__ void lsmc_backtrack_##SUFFIX(                                       \
        const T* s, const int* len, int n1, int batch, int single_root, const T* cr,          \
        const T* cl, const int* bi, const int* bcr, const int* bcl, int* stack, int* heads,   \
        T* z) {                                                                               \
        lsmc::eisner_backtrack<T>(s, len, n1, batch, single_root, cr, cl, bi, bcr, bcl,       \
                                  stack, heads, z);                                           \
    }

LSMC_LOG_KERNELS(f32, lsmc::Log<float>, float)
LSMC_LOG_KERNELS(f64, lsmc::Log<double>, double)
LSMC_LOG_KERNELS(dual_f32, lsmc::LogDual<float>, float)
LSMC_LOG_KERNELS(dual_f64, lsmc::LogDual<double>, double)
LSMC_MAP_KERNELS(f32, float)
LSMC_MAP_KERNELS(f64, double)
