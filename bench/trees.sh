#!/usr/bin/env bash
# Side by side, in one run: milliseconds per batched projective dependency-tree
# MAP, marginals, and marginals backward (timed with its forward), single root,
# batch 32, random f32 scores, lsmc vs PyTorch + torch-struct, with the same
# thread count. Outside CI; needs python with torch and torch-struct
# (`pip install torch torch-struct`), by default the venv in /tmp/torchenv.
#
#   bench/trees.sh [THREADS]      (default 2; PYTHON=... to pick the python)
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
python="${PYTHON:-/tmp/torchenv/bin/python}"
batch=32
ns=(10 20 40 80)
repeats=20
cargo build --release -q
lsmc=$(./target/release/lsmc bench --structure projective --batch "$batch" --n "${ns[@]}" \
        --threads "$threads" --repeats "$repeats")
torch=$("$python" bench/torch_struct_trees.py --batch "$batch" --n "${ns[@]}" \
        --threads "$threads" --repeats "$repeats")
echo "$lsmc"
echo "$torch"
"$python" bench/side_by_side.py "projective, single root" "$lsmc" "$torch"
