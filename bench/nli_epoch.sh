#!/usr/bin/env bash
# Side by side, in one run: seconds per NLI training epoch on the SNLI
# dev-train split (8,858 pairs, batches of 64, 139 steps; no evaluation) for
# the SPIGOT and Marginals rows with a latent projective tree per sentence,
# lsmc (`lsmc bench` on models/nli/snli_tree.lsm, its latents set to
# projective trees as bench/nli_epoch.py has them) vs PyTorch + torch-struct
# (bench/nli_epoch.py), with the same thread count. Both take 2 untimed
# steps first. Outside CI; needs python with torch and torch-struct (by
# default the venv in /tmp/torchenv, see bench/nli_da.sh) and the data in
# ../shared/data.
#
#   bench/nli_epoch.sh [THREADS] [TORCH_STEPS]     (defaults 2 and 3)
#
# TORCH_STEPS times that many PyTorch steps and scales them to the epoch's
# 139 (its SPIGOT projection, an active set in Python over torch-struct's
# Eisner, takes most of a minute a step).
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
torch_steps="${2:-3}"
python="${PYTHON:-/tmp/torchenv/bin/python}"
cargo build --release -q
declare -A latents=(
  [spigot]='latents=dependency_tree(projective) = argmax(scores) via spigot(eta = 1)'
  [marginals]='latents=dependency_tree(projective) = marg(scores)'
)
for m in spigot marginals; do
  lsmc=$(./target/release/lsmc bench models/nli/snli_tree.lsm --set "${latents[$m]}" \
    --steps 139 --repeats 1 --warmup 2 --threads "$threads")
  torch=$("$python" bench/nli_epoch.py --model "$m" --threads "$threads" --warmup 2 --steps "$torch_steps")
  echo "$lsmc"
  echo "$torch"
  "$python" bench/epoch_line.py "$m" "$lsmc" "$torch"
done
