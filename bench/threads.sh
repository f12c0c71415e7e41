#!/usr/bin/env bash
# Training steps of each model with one thread, with every core, and with
# lsmc's default (no --threads: one thread for matrix products, every core
# for tree workers in a model with a tree latent, one otherwise), side by
# side in one run. Usage: bench/threads.sh [LSMC] (default target/release/lsmc).
set -euo pipefail
cd "$(dirname "$0")/.."
lsmc="${1:-target/release/lsmc}"
all=$(nproc)
median() { python3 -c 'import json,sys; print(round(json.load(sys.stdin)["median_seconds"], 3))'; }
printf '%-32s %10s %10s %10s\n' spec "1 thread" "$all threads" default
for spec in models/synthetic/spigot.lsm models/synthetic/softmax.lsm models/sst/baseline.lsm \
            models/sst/spigot.lsm models/nli/sick_tree.lsm; do
  run() { "$lsmc" bench "$spec" --steps 60 --repeats 9 --warmup 10 "$@" 2>/dev/null | median; }
  printf '%-32s %10s %10s %10s\n' "$spec" "$(run --threads 1)" "$(run --threads "$all")" "$(env -u MATMUL_NUM_THREADS "$lsmc" bench "$spec" --steps 60 --repeats 9 --warmup 10 2>/dev/null | median)"
done
