#!/usr/bin/env bash
# Side by side, in one run: seconds per SST training epoch (6920 sentences,
# batches of 32, 217 steps; no evaluation) for the Marginals, SPIGOT and
# SPIGOT-CE rows of Table 3, lsmc (`lsmc bench` on models/sst/*.lsm) vs the
# PyTorch + torch-struct script bench/sst_epoch.py, with the same thread
# count. Both take 2 untimed steps first. Outside CI; needs python3 with
# torch and torch-struct, and the data in ../shared/data.
#
#   bench/sst_epoch.sh [THREADS] [TORCH_STEPS]     (defaults 2 and 0 = a whole epoch)
#
# TORCH_STEPS > 0 times only that many PyTorch steps and scales them to the
# epoch's 217 (the SPIGOT rows' Python active set makes a whole epoch long).
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
torch_steps="${2:-0}"
python="${PYTHON:-python3}"
cargo build --release -q
"$python" bench/sst_epoch.py --check --threads 1 >/dev/null
for m in marginals spigot spigot_ce; do
  lsmc=$(./target/release/lsmc bench "models/sst/$m.lsm" --steps 217 --repeats 1 --warmup 2 --threads "$threads")
  torch=$("$python" bench/sst_epoch.py --model "$m" --threads "$threads" --warmup 2 --steps "$torch_steps")
  echo "$lsmc"
  echo "$torch"
  "$python" bench/epoch_line.py "$m" "$lsmc" "$torch"
done
