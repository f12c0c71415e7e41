#!/usr/bin/env bash
# Recompiles kernels/cuda/projective.cu to kernels/ptx/projective.ptx with
# the NVRTC that CI pins (the nvidia-cuda-nvrtc-cu12 12.9.86 wheel, fetched
# into a cache folder as .ci/run does). Run after editing the kernels; the
# tests fail while the committed PTX differs from what the source compiles to.
set -euo pipefail
cd "$(dirname "$0")/.."
nvrtc_dir="${XDG_CACHE_HOME:-$HOME/.cache}/lsmc-nvrtc"
if [ ! -e "$nvrtc_dir/nvidia/cuda_nvrtc/lib/libnvrtc.so.12" ]; then
  python3 -m pip install --quiet --root-user-action=ignore --no-deps --target "$nvrtc_dir" nvidia-cuda-nvrtc-cu12==12.9.86
fi
LD_LIBRARY_PATH="$nvrtc_dir/nvidia/cuda_nvrtc/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  LSMC_REQUIRE_NVRTC=1 LSMC_UPDATE_PTX=1 \
  cargo test -q -p lsmc-kernels --test nvrtc nvrtc_compiles_every_kernel_to_the_committed_ptx
echo "wrote kernels/ptx/projective.ptx ($(wc -c < kernels/ptx/projective.ptx) bytes)"
