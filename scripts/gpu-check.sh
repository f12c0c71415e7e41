#!/usr/bin/env bash
# The GPU checks of the CUDA backend, in one call on a machine lent a GPU
# (the `device` tool: NVIDIA driver, CUDA and PyTorch there, no Rust).
#
#   scripts/gpu-check.sh --prepare     here: build what the GPU machine runs
#                                      into target/gpu-check/ (lsmc, the GPU
#                                      test binary, the torch-struct wheel)
#   scripts/gpu-check.sh               there, with target/gpu-check carried:
#     1. the card (nvidia-smi);
#     2. GPU-vs-CPU parity (kernels/tests/it/gpu.rs with LSMC_REQUIRE_GPU=1):
#        MAP trees identical, marginals within 1e-4 (f32) and 1e-10 (f64),
#        log-partitions, the marginals' VJP, on random padded batches;
#     3. lsmc (--device cuda) against torch-struct on the same GPU, batch
#        32 and 256 × n 20, 40, 100: MAP, marginals, marginals backward,
#        median of 50 synchronised runs each.
#   It prints a short table last and writes everything under $OUT (or
#   target/gpu-check/out).
set -euo pipefail
cd "$(dirname "$0")/.."
kit=target/gpu-check

if [ "${1:-}" = "--prepare" ]; then
  mkdir -p "$kit/wheels"
  cargo build --release -q
  cp target/release/lsmc "$kit/lsmc"
  test_bin=$(cargo test --release -q -p lsmc-kernels --test it --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "it":
        print(m["executable"])')
  cp "$test_bin" "$kit/gpu-tests"
  python3 -m pip download --quiet --no-deps torch-struct==0.5 -d "$kit/wheels"
  du -sh "$kit"
  exit 0
fi

out="${OUT:-$kit/out}"
mkdir -p "$out"
nvidia-smi -L | tee "$out/gpu.txt"

echo "== parity: GPU vs the CPU engine"
LSMC_REQUIRE_GPU=1 "$kit/gpu-tests" gpu:: --include-ignored --test-threads=1 2>&1 | tee "$out/parity.txt"

echo "== benchmark: lsmc vs torch-struct"
pydeps=$(mktemp -d)
python3 -m pip install --quiet --no-deps --target "$pydeps" "$kit"/wheels/torch_struct-*.whl
: > "$out/bench.jsonl"
for batch in 32 256; do
  "$kit/lsmc" bench --structure projective --device cuda --batch "$batch" --n 20 40 100 \
    --repeats 50 --warmup 5 >> "$out/bench.jsonl"
  PYTHONPATH="$pydeps" python3 bench/torch_struct_trees.py --device cuda --batch "$batch" \
    --n 20 40 100 --repeats 50 --warmup 5 >> "$out/bench.jsonl"
done
python3 - "$out/bench.jsonl" "$out/gpu.txt" <<'PY' | tee "$out/table.md"
import json, sys
rows = {}
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line)
        rows[(r["batch"], r["n"], r["op"], r["impl"])] = r["median_ms"]
card = open(sys.argv[2]).read().strip().splitlines()[0]
print(f"\n{card}\n")
print("| batch | n | op | lsmc ms | torch-struct ms | speed-up |")
print("|---|---|---|---|---|---|")
for (b, n, op, impl), ms in sorted(rows.items()):
    if impl != "lsmc":
        continue
    t = rows.get((b, n, op, "torch-struct"))
    print(f"| {b} | {n} | {op} | {ms:.3f} | {t:.3f} | {t / ms:.1f}x |" if t else f"| {b} | {n} | {op} | {ms:.3f} | – | – |")
PY
