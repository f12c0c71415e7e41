"""One line comparing an lsmc epoch with a PyTorch one, from the JSON each
prints (`lsmc bench`, bench/*_epoch.py):

    python3 bench/epoch_line.py ROW LSMC_JSON TORCH_JSON
"""
import json
import sys

m, l, t = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"{m}: lsmc {l['median_seconds']:.1f} s / epoch, PyTorch {t.get('torch', '?')} + torch-struct "
      f"{t['seconds_per_epoch']:.1f} s / epoch ({t['steps']} steps timed): "
      f"lsmc is {t['seconds_per_epoch'] / l['median_seconds']:.1f}x faster ({t['threads']} threads)")
