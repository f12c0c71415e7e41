"""PyTorch + torch-struct baseline for `lsmc bench --structure nonprojective`:
milliseconds per batched non-projective dependency-tree marginals and
marginals backward on the CPU (or the GPU: --device cuda), random scores,
a single root, every sentence of length n. torch-struct has no
non-projective MAP (its `argmax` is not implemented), so MAP is lsmc's alone.

torch-struct's layout is [B, n, n] with s[b, h, m] the score of the arc
head h -> modifier m and the root arc of word m on the diagonal s[b, m, m]
(lsmc takes [B, n+1, n+1] with the root as index 0 — the same arcs). Its
marginals are the matrix-tree theorem with an unshifted exp and a plain
inverse (`deptree_nonproj`); the backward is autograd through it.

f32 by default, torch's fastest (and torch-struct's own choice); --dtype
float64 for the precision lsmc computes in.

Usage (outside CI; needs torch and `pip install torch-struct`):
    python3 bench/torch_struct_nonprojective.py [--threads 2] [--batch 32] [--n 20 40]
        [--repeats 20] [--warmup 3] [--seed 0] [--device cpu|cuda] [--dtype float32|float64]
Prints one JSON line per (op, n), op in marginals, backward.
"""
import argparse, json, statistics, time, warnings
import torch
import torch_struct
from torch_struct import NonProjectiveDependencyCRF

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--n", type=int, nargs="+", default=[20, 40])
p.add_argument("--repeats", type=int, default=20)
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--device", default="cpu", help="cpu or cuda (timed with torch.cuda.synchronize)")
p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
a = p.parse_args()
if a.repeats < 1 or a.warmup < 0 or a.batch < 1 or a.threads < 1 or min(a.n) < 1:
    p.error("--repeats, --batch, --threads and every --n must be at least 1, --warmup at least 0")
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
dtype = getattr(torch, a.dtype)
warnings.filterwarnings("ignore", message=".*arg_constraints.*")


def ts_version():
    try:
        from importlib.metadata import version
        return version("torch-struct")
    except Exception:
        return getattr(torch_struct, "__version__", "unknown")


def sync():
    if a.device.startswith("cuda"):
        torch.cuda.synchronize()


def time_ms(f):
    for _ in range(a.warmup):
        f()
    sync()
    all_ms = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        f()
        sync()
        all_ms.append((time.perf_counter() - t) * 1e3)
    return all_ms


def op_marginals(s, lengths):
    # Not autograd: torch-struct computes these marginals directly from
    # the inverse Laplacian.
    return NonProjectiveDependencyCRF(s, lengths=lengths, multiroot=False).marginals


def op_backward(s, g, lengths):
    # The marginals' backward, timed together with the marginals forward:
    # d/ds sum(mu * g), as an autograd user would pay for it.
    s.grad = None
    mu = NonProjectiveDependencyCRF(s, lengths=lengths, multiroot=False).marginals
    (mu * g).sum().backward()
    return s.grad


version = ts_version()
for n in a.n:
    s = torch.randn(a.batch, n, n, dtype=dtype, device=a.device).requires_grad_()
    g = torch.randn(a.batch, n, n, dtype=dtype, device=a.device)
    lengths = torch.full((a.batch,), n, dtype=torch.long, device=a.device)

    # Sanity checks before timing: each word's head marginals (its column,
    # root on the diagonal) sum to 1, one root in expectation, and a
    # finite gradient.
    with torch.no_grad():
        mu = op_marginals(s, lengths)
    ones = torch.ones(a.batch, n, dtype=dtype, device=a.device)
    assert torch.allclose(mu.sum(1), ones, atol=1e-3), "head marginals must sum to 1"
    assert torch.allclose(mu.diagonal(dim1=1, dim2=2).sum(-1), ones[:, 0], atol=1e-3)
    gr = op_backward(s, g, lengths)
    assert gr is not None and gr.shape == s.shape and torch.isfinite(gr).all()

    runs = [
        ("marginals", time_ms(lambda: op_marginals(s, lengths))),
        ("backward", time_ms(lambda: op_backward(s, g, lengths))),
    ]
    for op, all_ms in runs:
        print(json.dumps({"impl": "torch-struct", "version": version, "torch": torch.__version__,
                          "structure": "nonprojective", "root": "single", "op": op,
                          "batch": a.batch, "n": n, "threads": a.threads, "device": a.device,
                          "dtype": a.dtype, "median_ms": statistics.median(all_ms),
                          "all_ms": all_ms}), flush=True)
