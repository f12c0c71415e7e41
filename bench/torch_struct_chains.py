"""PyTorch + torch-struct baseline for `lsmc bench --structure sequence` and
`--structure constituency`: milliseconds per batched MAP, marginals, and
marginals backward on the CPU, random f32 scores, every item of length n.

Layouts (same structures, each library's own layout):
- sequence: torch-struct's LinearChainCRF takes edge potentials
  [B, n-1, K, K], `edge[b, i, c, p]` the score of tag c at word i+1 after
  tag p at word i (the first edge also carries word 0's score); lsmc takes
  [B, n, K, K], `s[b, i, p, c]`, with word 0's scores in its row p = 0.
  Both sum n-1 transitions and n words' scores per path.
- constituency: torch-struct's TreeCRF takes span potentials [B, n, n, NT]
  (here NT = 1: unlabeled binary trees); lsmc takes [B, n, n], `s[b, i, j]`
  for the span of words i..=j.

Usage (outside CI; needs torch and `pip install torch-struct`):
    python3 bench/torch_struct_chains.py --structure sequence|constituency
        [--threads 2] [--batch 32] [--n 10 20 40 80] [--tags 10]
        [--repeats 20] [--warmup 3] [--seed 0]
Prints one JSON line per (op, n), op in map, marginals, backward.
"""
import argparse, json, statistics, time, warnings
import torch
import torch_struct
from torch_struct import LinearChainCRF, TreeCRF

p = argparse.ArgumentParser()
p.add_argument("--structure", choices=["sequence", "constituency"], required=True)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--n", type=int, nargs="+", default=[10, 20, 40, 80])
p.add_argument("--tags", type=int, default=10)
p.add_argument("--repeats", type=int, default=20)
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
if a.repeats < 1 or a.warmup < 0 or a.batch < 1 or a.threads < 1 or min(a.n) < 2 or a.tags < 1:
    p.error("--repeats, --batch, --threads, --tags at least 1, every --n at least 2, --warmup at least 0")
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
warnings.filterwarnings("ignore", message=".*arg_constraints.*")


def ts_version():
    try:
        from importlib.metadata import version
        return version("torch-struct")
    except Exception:
        return "unknown"


def dist(s, lengths):
    if a.structure == "sequence":
        return LinearChainCRF(s, lengths=lengths)
    return TreeCRF(s, lengths=lengths)


def time_ms(f):
    for _ in range(a.warmup):
        f()
    all_ms = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        f()
        all_ms.append((time.perf_counter() - t) * 1e3)
    return all_ms


def op_map(s, lengths):
    return dist(s, lengths).argmax


def op_marginals(s, lengths):
    return dist(s, lengths).marginals


def op_backward(s, g, lengths):
    # The marginals' backward timed with their forward, as an autograd user pays for it.
    s.grad = None
    mu = dist(s, lengths).marginals
    (mu * g).sum().backward()
    return s.grad


version = ts_version()
for n in a.n:
    if a.structure == "sequence":
        shape = (a.batch, n - 1, a.tags, a.tags)
    else:
        shape = (a.batch, n, n, 1)
    s = torch.randn(*shape, dtype=torch.float32).requires_grad_()
    g = torch.randn(*shape, dtype=torch.float32)
    lengths = torch.full((a.batch,), n, dtype=torch.long)

    # Sanity before timing: structures of the right size, marginals that sum
    # as they must, a finite gradient.
    z = op_map(s, lengths)
    mu = op_marginals(s, lengths)
    if a.structure == "sequence":
        assert torch.all(z.sum(dim=(2, 3)) == 1), "one tag pair per edge"
        assert torch.allclose(mu.sum(dim=(2, 3)), torch.ones(a.batch, n - 1), atol=1e-3)
    else:
        assert torch.all(z.sum(dim=(1, 2, 3)) == 2 * n - 1), "2n - 1 spans per tree"
        assert torch.allclose(mu.sum(dim=(1, 2, 3)), torch.full((a.batch,), 2.0 * n - 1), atol=1e-2)
    gr = op_backward(s, g, lengths)
    assert gr is not None and gr.shape == s.shape and torch.isfinite(gr).all()

    runs = [
        ("map", time_ms(lambda: op_map(s, lengths))),
        ("marginals", time_ms(lambda: op_marginals(s, lengths))),
        ("backward", time_ms(lambda: op_backward(s, g, lengths))),
    ]
    for op, all_ms in runs:
        row = {"impl": "torch-struct", "version": version, "torch": torch.__version__,
               "structure": a.structure, "op": op, "batch": a.batch, "n": n,
               "threads": a.threads, "device": "cpu",
               "median_ms": statistics.median(all_ms), "all_ms": all_ms}
        if a.structure == "sequence":
            row["tags"] = a.tags
        print(json.dumps(row), flush=True)
