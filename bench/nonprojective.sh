#!/usr/bin/env bash
# Side by side, in one run: milliseconds per batched non-projective
# dependency-tree marginals and marginals backward (timed with its forward),
# single root, batch 32, random standard-normal scores, lsmc (f64 inside)
# vs PyTorch + torch-struct (f32, its fastest), with the same thread count;
# lsmc's MAP (Chu-Liu-Edmonds) for information — torch-struct has none.
# Outside CI; needs python with torch and torch-struct
# (`pip install torch torch-struct`), by default the venv in /tmp/torchenv.
#
#   bench/nonprojective.sh [THREADS]   (default 2; PYTHON=... to pick the python,
#                                       NS="20 40", REPEATS=20 and ROUNDS=3 to change
#                                       the sizes, samples per round and rounds)
#
# The two sides alternate for ROUNDS rounds and each side's samples are
# pooled: this virtual machine has slow spells of seconds (the same op
# measured 0.59 and 0.93 ms a minute apart), which a single round per side
# charges to whichever side it hits.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
python="${PYTHON:-/tmp/torchenv/bin/python}"
batch=32
read -r -a ns <<< "${NS:-20 40}"
repeats="${REPEATS:-20}"
rounds="${ROUNDS:-3}"
cargo build --release -q
lsmc=""
torch=""
for _ in $(seq "$rounds"); do
    lsmc+=$(./target/release/lsmc bench --structure nonprojective --batch "$batch" --n "${ns[@]}" \
            --threads "$threads" --repeats "$repeats")$'\n'
    torch+=$("$python" bench/torch_struct_nonprojective.py --batch "$batch" --n "${ns[@]}" \
            --threads "$threads" --repeats "$repeats")$'\n'
done
echo "$lsmc"
echo "$torch"
"$python" bench/side_by_side.py "non-projective, single root" "$lsmc" "$torch"
