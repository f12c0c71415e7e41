// What the kernels in this folder use from CUDA, emulated on the CPU, so
// that the same sources run (and are tested) on machines without a GPU.
//
// A launch runs its blocks one after another; the threads of a block are
// OS threads that meet at a barrier in __syncthreads(). Blocks running one
// at a time is what lets __shared__ memory be a single buffer, and is
// allowed: CUDA guarantees no order or concurrency between blocks, so a
// kernel correct on the GPU never relies on either. A thread that has
// returned no longer takes part in __syncthreads(), as on the GPU.
//
// Supported: blockIdx, threadIdx, blockDim, gridDim (x, y, z), __global__,
// __device__, extern __shared__ arrays (dynamic shared memory, up to
// LSMC_SHARED_BYTES), __align__, __syncthreads(). Nothing else.
#pragma once

#include <barrier>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __shared__
// The buffer below is aligned where it is defined; declarations need nothing.
#define __align__(n)

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

namespace lsmc_emulation {
inline dim3 grid_dim, block_dim, block_idx;
inline thread_local dim3 thread_idx;
inline std::barrier<>* block_barrier = nullptr;
inline std::mutex device;
}  // namespace lsmc_emulation

#define blockIdx (lsmc_emulation::block_idx)
#define threadIdx (lsmc_emulation::thread_idx)
#define blockDim (lsmc_emulation::block_dim)
#define gridDim (lsmc_emulation::grid_dim)

inline void __syncthreads() { lsmc_emulation::block_barrier->arrive_and_wait(); }

// Dynamic shared memory: `extern __shared__ unsigned char shared_bytes[];`
// inside namespace lsmc refers to this buffer.
#define LSMC_SHARED_BYTES (48 * 1024)
namespace lsmc {
alignas(16) inline unsigned char shared_bytes[LSMC_SHARED_BYTES];
}

namespace lsmc_emulation {

// Runs `kernel()` over the grid: blocks in order, each block's threads at
// once. Returns false when the block asks for more shared memory than
// exists or more than 1024 threads (a launch the GPU would refuse too).
template <typename Kernel>
bool launch(dim3 grid, dim3 block, std::size_t shared, Kernel kernel) {
    unsigned threads = block.x * block.y * block.z;
    if (shared > LSMC_SHARED_BYTES || threads == 0 || threads > 1024) return false;
    // One launch at a time in the process (as one stream would run them):
    // the emulated device state is global.
    std::lock_guard<std::mutex> hold(device);
    grid_dim = grid;
    block_dim = block;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                block_idx = dim3{bx, by, bz};
                std::memset(lsmc::shared_bytes, 0xA5, shared);  // no stale values by luck
                std::barrier<> bar((std::ptrdiff_t)threads);
                block_barrier = &bar;
                std::vector<std::thread> team;
                team.reserve(threads);
                for (unsigned t = 0; t < threads; ++t)
                    team.emplace_back([&, t] {
                        thread_idx = dim3{t % block.x, t / block.x % block.y, t / (block.x * block.y)};
                        kernel();
                        // Returned: the barriers the others still reach no
                        // longer wait for this thread.
                        bar.arrive_and_drop();
                    });
                for (auto& th : team) th.join();
                block_barrier = nullptr;
            }
    return true;
}

}  // namespace lsmc_emulation
