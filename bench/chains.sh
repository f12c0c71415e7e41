#!/usr/bin/env bash
# Side by side, in one run: milliseconds per batched MAP, marginals and
# marginals backward (timed with its forward) for linear chains
# (`sequence`, K tags) and constituency trees (CKY), batch 32, random f32
# scores, lsmc vs PyTorch + torch-struct with the same thread count,
# alternating the two ROUNDS times (default 3) so drifting machine load hits
# both alike; the table gives each side's best round. Outside CI; needs
# python with torch and torch-struct, by default the venv in /tmp/torchenv.
#
#   bench/chains.sh [THREADS] [ROUNDS]   (default 2 3; PYTHON=... picks the python)
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
rounds="${2:-3}"
python="${PYTHON:-/tmp/torchenv/bin/python}"
batch=32
tags=10
ns=(10 20 40 80)
repeats=10
cargo build --release -q
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq "$rounds"); do
  for structure in sequence constituency; do
    ./target/release/lsmc bench --structure "$structure" --batch "$batch" --n "${ns[@]}" \
      --tags "$tags" --threads "$threads" --repeats "$repeats" >> "$out"
    "$python" bench/torch_struct_chains.py --structure "$structure" --batch "$batch" \
      --n "${ns[@]}" --tags "$tags" --threads "$threads" --repeats "$repeats" >> "$out"
  done
done
"$python" - "$out" <<'PY'
import json, sys
best = {}
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line)
        k = (r["structure"], r["n"], r["op"], r["impl"])
        best[k] = min(best.get(k, float("inf")), r["median_ms"])
ops = ["map", "marginals", "backward"]
first = json.loads(open(sys.argv[1]).readline())
print(f"batch {first['batch']}, {first['threads']} threads, best of the rounds' medians "
      f"(backward includes the marginals forward)\n")
print("| structure | n | op | lsmc ms | torch-struct ms | speed-up |")
print("|---|---:|---|---:|---:|---:|")
for (st, n, op) in sorted({k[:3] for k in best}, key=lambda k: (k[0] != "sequence", k[1], ops.index(k[2]))):
    l, t = best.get((st, n, op, "lsmc")), best.get((st, n, op, "torch-struct"))
    up = f"{t / l:.1f}x" if l and t else "-"
    print(f"| {st} | {n} | {op} | {l:.3f} | {t:.3f} | {up} |")
PY
