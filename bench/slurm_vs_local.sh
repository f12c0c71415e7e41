#!/usr/bin/env bash
# Table 2's K = 10 column (13 rows × 4 seeds) swept twice with one build:
# here, two runs at a time, and through a single-node Slurm on this machine
# (scripts/slurm-local.sh, 2 CPUs, at most two tasks at once). Prints both
# wall-clocks and Slurm's overhead, and checks the two tables are identical.
#
#   bench/slurm_vs_local.sh OUT_DIR        (LSMC=path/to/lsmc to choose the build)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "$1")
B=${LSMC:-target/release/lsmc}
specs=(models/synthetic/{linear,gold,softmax,sparsemax,gumbel_softmax,st_gumbel,sfe,sfe_baseline,ste_s,ste_i,spigot,spigot_ce,spigot_eg}.lsm)
mkdir -p "$out"
now() { date +%s.%N; }

t0=$(now)
"$B" sweep "${specs[@]}" --set K=10 --seeds 4 --jobs 2 --out "$out/local" 2>"$out/local.log"
t1=$(now)

scripts/slurm-local.sh start "$out/cluster" 2 >/dev/null
trap 'scripts/slurm-local.sh stop "$out/cluster"' EXIT
export SLURM_CONF=$out/cluster/slurm.conf
t2=$(now)
"$B" sweep "${specs[@]}" --set K=10 --seeds 4 --jobs 2 --on slurm --out "$out/slurm" 2>"$out/slurm.log" >/dev/null
while [ -n "$(squeue -h)" ]; do sleep 1; done
t3=$(now)

"$B" report "$out/local" --metrics accuracy,v_measure --percent >"$out/local.md"
"$B" report "$out/slurm" --metrics accuracy,v_measure --percent >"$out/slurm.md"
if diff -q "$out/local.md" "$out/slurm.md" >/dev/null; then same=identical; else same=DIFFERENT; fi
python3 - "$t0" "$t1" "$t2" "$t3" "$same" <<'PY'
import sys
t0, t1, t2, t3 = map(float, sys.argv[1:5])
local, slurm = t1 - t0, t3 - t2
print(f"local sweep: {local:.1f} s; Slurm sweep (submission to empty queue): {slurm:.1f} s; "
      f"overhead {100 * (slurm - local) / local:+.1f} %; tables {sys.argv[5]}")
PY
