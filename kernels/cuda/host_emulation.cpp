// The kernels of projective.cu compiled for the CPU, each behind a C
// function `lsmc_emu_<kernel>(grid_x, grid_y, block_x, shared_bytes, args…)`
// that runs one launch in the emulator (host_emulation.h) and returns 0, or
// 1 when the launch is one the GPU would refuse. Built by kernels/build.rs.
#define LSMC_HOST_EMULATION 1
#include "projective.cu"

#define LSMC_EMU(NAME, PARAMS, ARGS)                                                     \
    extern "C" int lsmc_emu_##NAME(unsigned gx, unsigned gy, unsigned bx, unsigned shared, \
                                   PARAMS) {                                             \
        return lsmc_emulation::launch(dim3{gx, gy, 1}, dim3{bx, 1, 1}, shared,           \
                                      [&] { lsmc_##NAME ARGS; })                         \
                   ? 0                                                                   \
                   : 1;                                                                  \
    }
#define P(...) __VA_ARGS__

#define LSMC_EMU_LOG(SUFFIX, N, T)                                                          \
    LSMC_EMU(inside_##SUFFIX,                                                               \
             P(int k, const T* s, const T* ds, const int* len, int n1, N* ir, N* il, N* cr,  \
               N* cl),                                                                       \
             (k, s, ds, len, n1, ir, il, cr, cl))                                           \
    LSMC_EMU(log_partition_##SUFFIX,                                                        \
             P(const T* s, const T* ds, const int* len, int n1, int single_root,            \
               const N* cr, const N* cl, N* log_z),                                         \
             (s, ds, len, n1, single_root, cr, cl, log_z))                                  \
    LSMC_EMU(outside_##SUFFIX,                                                              \
             P(int k, const T* s, const T* ds, const int* len, int n1, int single_root,     \
               const N* ir, const N* il, const N* cr, const N* cl, N* oir, N* oil, N* ocr,   \
               N* ocl),                                                                      \
             (k, s, ds, len, n1, single_root, ir, il, cr, cl, oir, oil, ocr, ocl))          \
    LSMC_EMU(marginals_##SUFFIX,                                                            \
             P(const T* s, const T* ds, const int* len, int n1, int batch, int single_root, \
               const N* ir, const N* il, const N* cr, const N* cl, const N* oir,            \
               const N* oil, const N* log_z, T* mu, T* dmu),                                \
             (s, ds, len, n1, batch, single_root, ir, il, cr, cl, oir, oil, log_z, mu, dmu))

#define LSMC_EMU_MAP(SUFFIX, T)                                                             \
    LSMC_EMU(eisner_##SUFFIX,                                                               \
             P(int k, const T* s, const int* len, int n1, T* ir, T* il, T* cr, T* cl,       \
               int* bi, int* bcr, int* bcl),                                                 \
             (k, s, len, n1, ir, il, cr, cl, bi, bcr, bcl))                                 \
    LSMC_EMU(backtrack_##SUFFIX,                                                            \
             P(const T* s, const int* len, int n1, int batch, int single_root, const T* cr, \
               const T* cl, const int* bi, const int* bcr, const int* bcl, int* stack,      \
               int* heads, T* z),                                                            \
             (s, len, n1, batch, single_root, cr, cl, bi, bcr, bcl, stack, heads, z))

LSMC_EMU_LOG(f32, float, float)
LSMC_EMU_LOG(f64, double, double)
LSMC_EMU_LOG(dual_f32, lsmc::Dual<float>, float)
LSMC_EMU_LOG(dual_f64, lsmc::Dual<double>, double)
LSMC_EMU_MAP(f32, float)
LSMC_EMU_MAP(f64, double)
