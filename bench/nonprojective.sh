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
#                                       NS="20 40" and REPEATS=20 to change the sizes)
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
python="${PYTHON:-/tmp/torchenv/bin/python}"
batch=32
read -r -a ns <<< "${NS:-20 40}"
repeats="${REPEATS:-20}"
cargo build --release -q
lsmc=$(./target/release/lsmc bench --structure nonprojective --batch "$batch" --n "${ns[@]}" \
        --threads "$threads" --repeats "$repeats")
torch=$("$python" bench/torch_struct_nonprojective.py --batch "$batch" --n "${ns[@]}" \
        --threads "$threads" --repeats "$repeats")
echo "$lsmc"
echo "$torch"
"$python" - "$lsmc" "$torch" <<'PY'
import json, sys
rows = {}
for text in sys.argv[1:3]:
    for line in text.splitlines():
        if line.strip():
            r = json.loads(line)
            rows[(r["n"], r["op"], r["impl"])] = r
ops = ["map", "marginals", "backward"]
keys = sorted({(n, op) for n, op, _ in rows}, key=lambda k: (k[0], ops.index(k[1]) if k[1] in ops else 99))
first = next(iter(rows.values()))
print(f"\nnon-projective, single root, batch {first['batch']}, {first['threads']} threads "
      f"(backward includes the marginals forward)\n")
print("| n | op | lsmc ms | torch-struct ms | speed-up |")
print("|---:|---|---:|---:|---:|")
for n, op in keys:
    l, t = rows.get((n, op, "lsmc")), rows.get((n, op, "torch-struct"))
    ls = f"{l['median_ms']:.3f}" if l else "-"
    ts = f"{t['median_ms']:.3f}" if t else "-"
    up = f"{t['median_ms'] / l['median_ms']:.1f}x" if l and t and l["median_ms"] > 0 else "-"
    print(f"| {n} | {op} | {ls} | {ts} | {up} |")
PY
