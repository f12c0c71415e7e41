#!/usr/bin/env bash
# Two builds of lsmc side by side, in one run: the same trainings must give
# the same numbers, and the same benchmarks, interleaved, show whether a
# change made anything slower. Outside CI (about 30 minutes on 2 cores).
#
#   bench/compare_builds.sh OLD_LSMC NEW_LSMC OUT_DIR [PART...]
#
# PART is any of `numbers`, `speed` (default: both). `numbers` trains
# Table 2's STE-I and SPIGOT rows (K = 10, seeds 1–4, the specs' own
# settings, one thread per run, two runs at a time) and one SST SPIGOT epoch
# (seed 1, 2 threads) with each build, then compares every metric of every
# evaluation of metrics.jsonl exactly. `speed` times, old and new
# alternating: synthetic softmax and SPIGOT steps, projective trees, and SST
# SPIGOT and SparseMAP training steps. SST needs ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "$1"); new=$(realpath "$2"); out=$3; shift 3
parts=("${@:-numbers speed}")
parts=(${parts[*]})
mkdir -p "$out"

has() { [[ " ${parts[*]} " == *" $1 "* ]]; }
# BUILDS=old makes the old build's runs alone (to start them early).
builds=${BUILDS:-old new}

if has numbers; then
  jobs=()
  for which in $builds; do
    bin=${!which}
    for row in ste_i spigot; do
      for seed in 1 2 3 4; do
        dir="$out/$which/$row-seed$seed"
        # A finished run is kept, so the old build's runs can be made first.
        [ -f "$dir/summary.json" ] && continue
        rm -rf "$dir"
        jobs+=("$bin train models/synthetic/$row.lsm --seed $seed --threads 1 --out $dir")
      done
    done
  done
  [ ${#jobs[@]} -eq 0 ] || printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} bash -c '{} >/dev/null 2>&1'
  for which in $builds; do
    bin=${!which}
    dir="$out/$which/sst-spigot-epoch1"
    [ -f "$dir/summary.json" ] && continue
    rm -rf "$dir"
    "$bin" train models/sst/spigot.lsm --set train.epochs=1 --set train.optimizer.lr=1e-3 \
      --seed 1 --threads 2 --out "$dir" >/dev/null 2>&1
  done
  [ "$builds" = "old new" ] || exit 0
  python3 - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
runs = sorted(p.name for p in (out / "old").iterdir())
same = True
for r in runs:
    def lines(which):
        return [json.loads(l) for l in (out / which / r / "metrics.jsonl").read_text().splitlines() if l.strip()]
    a, b = lines("old"), lines("new")
    keys = lambda l: {k: v for k, v in l.items()}
    diff = [(x, y) for x, y in zip(a, b) if keys(x) != keys(y)] + ([("lengths", (len(a), len(b)))] if len(a) != len(b) else [])
    last = {x["split"]: x for x in b}
    test = last.get("test", {})
    shown = ", ".join(f"{k} {v:.6f}" for k, v in sorted(test.items()) if isinstance(v, float))
    print(f"{r:24s} {'identical' if not diff else 'DIFFERENT'}  ({len(b)} evaluations; last test: {shown})")
    same &= not diff
print("all identical" if same else "SOME RUNS DIFFER")
PY
fi

if has speed; then
  for round in 1 2; do
    for which in old new; do
      bin=${!which}
      echo "== $which, round $round"
      "$bin" bench models/synthetic/softmax.lsm --steps 100 --repeats 5 --warmup 20 --threads 1
      "$bin" bench models/synthetic/spigot.lsm --steps 100 --repeats 5 --warmup 20 --threads 1
      "$bin" bench --structure projective --batch 32 --n 20 40 80 --threads 2 --repeats 20
      "$bin" bench models/sst/spigot.lsm --steps 20 --repeats 3 --warmup 2 --threads 2
      "$bin" bench models/sst/sparsemap.lsm --steps 20 --repeats 3 --warmup 2 --threads 2
    done
  done 2>&1 | tee "$out/speed.txt"
fi
