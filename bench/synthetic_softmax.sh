#!/usr/bin/env bash
# Side by side, in one run: seconds per 100 full-batch training steps of the
# K=10 synthetic softmax model (5000 × 100, Adam), lsmc vs PyTorch, with the
# same thread count. Outside CI; needs python3 with torch (`pip install torch`).
#
#   bench/synthetic_softmax.sh [THREADS]      (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
python="${PYTHON:-python3}"
cargo build --release -q
lsmc=$(./target/release/lsmc bench models/synthetic/softmax.lsm --set K=10 --set train.optimizer.lr=1e-3 \
        --steps 100 --repeats 5 --threads "$threads")
torch=$("$python" bench/synthetic_softmax.py --clusters 10 --threads "$threads" --steps 100 --repeats 5)
echo "$lsmc"
echo "$torch"
"$python" - "$lsmc" "$torch" <<'PY'
import json, sys
l, t = (json.loads(a) for a in sys.argv[1:3])
print(f"lsmc {l['median_seconds']:.3f} s / 100 steps, PyTorch {t['torch']} {t['median_seconds']:.3f} s: "
      f"lsmc is {t['median_seconds'] / l['median_seconds']:.2f}x faster ({t['threads']} threads)")
PY
