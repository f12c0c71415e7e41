"""PyTorch + torch-struct baseline for `lsmc bench --structure projective`:
milliseconds per batched projective dependency-tree MAP, marginals, and
marginals backward on the CPU (or the GPU: --device cuda), random f32 scores, a single root, every
sentence of length n.

torch-struct's layout is [B, n, n] with s[b, h, m] the score of the arc
head h -> modifier m and the root arc of word m on the diagonal s[b, m, m]
(lsmc takes [B, n+1, n+1] with the root as index 0 — the same arcs).

Usage (outside CI; needs torch and `pip install torch-struct`):
    python3 bench/torch_struct_trees.py [--threads 2] [--batch 32] [--n 10 20 40 80]
                                        [--repeats 20] [--warmup 3] [--seed 0] [--device cpu|cuda]
Prints one JSON line per (op, n), op in map, marginals, backward.
"""
import argparse, json, statistics, time, warnings
import torch
import torch_struct
from torch_struct import DependencyCRF

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--n", type=int, nargs="+", default=[10, 20, 40, 80])
p.add_argument("--repeats", type=int, default=20)
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--device", default="cpu", help="cpu or cuda (timed with torch.cuda.synchronize)")
a = p.parse_args()
if a.repeats < 1 or a.warmup < 0 or a.batch < 1 or a.threads < 1 or min(a.n) < 1:
    p.error("--repeats, --batch, --threads and every --n must be at least 1, --warmup at least 0")
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
# torch.distributions warns that DependencyCRF defines no arg_constraints.
warnings.filterwarnings("ignore", message=".*arg_constraints.*")


def ts_version():
    v = getattr(torch_struct, "__version__", None) or getattr(torch_struct, "version", None)
    if v:
        return str(v)
    try:
        from importlib.metadata import version
        return version("torch-struct")
    except Exception:
        return "unknown"


def crf(s, lengths):
    # multiroot=False: exactly one word attaches to the root. (torch-struct
    # stores this flag on the DepTree class, so set it on every construction.)
    # s must require grad: torch-struct 0.5 fills masked spans of its padded
    # copy of s in place, which recent torch refuses on a grad-requiring leaf
    # (the copy is one unless s itself requires grad), even for all-n lengths.
    return DependencyCRF(s, lengths=lengths, multiroot=False)


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


def op_map(s, lengths):
    # MAP as torch-struct computes it: autograd of the max-semiring partition.
    return crf(s, lengths).argmax


def op_marginals(s, lengths):
    # Marginals: torch.autograd.grad(log Z, scores, create_graph=True).
    return crf(s, lengths).marginals


def op_backward(s, g, lengths):
    # The marginals' backward, timed together with the marginals forward
    # (torch-struct builds the marginals with create_graph=True, so they are
    # differentiable): d/ds sum(mu * g), as an autograd user would pay for it.
    s.grad = None
    mu = crf(s, lengths).marginals
    (mu * g).sum().backward()
    return s.grad


version = ts_version()
for n in a.n:
    s = torch.randn(a.batch, n, n, dtype=torch.float32, device=a.device).requires_grad_()  # see crf()
    g = torch.randn(a.batch, n, n, dtype=torch.float32, device=a.device)
    lengths = torch.full((a.batch,), n, dtype=torch.long, device=a.device)

    # Sanity checks before timing: one root per tree, n arcs per tree,
    # marginals of each word's heads sum to 1, and a finite gradient.
    tree = op_map(s, lengths)
    assert tree.shape == (a.batch, n, n)
    assert torch.all(tree.diagonal(dim1=1, dim2=2).sum(-1) == 1), "MAP must have one root"
    assert torch.all(tree.sum(dim=(1, 2)) == n), "MAP must have n arcs"
    mu = op_marginals(s, lengths)
    ones = torch.ones(a.batch, n, device=a.device)
    assert torch.allclose(mu.sum(1), ones, atol=1e-3), "head marginals must sum to 1"
    assert torch.allclose(mu.diagonal(dim1=1, dim2=2).sum(-1), ones[:, 0], atol=1e-3)
    gr = op_backward(s, g, lengths)
    assert gr is not None and gr.shape == s.shape and torch.isfinite(gr).all()

    runs = [
        ("map", time_ms(lambda: op_map(s, lengths))),
        ("marginals", time_ms(lambda: op_marginals(s, lengths))),
        ("backward", time_ms(lambda: op_backward(s, g, lengths))),
    ]
    for op, all_ms in runs:
        print(json.dumps({"impl": "torch-struct", "version": version, "torch": torch.__version__,
                          "structure": "projective", "root": "single", "op": op, "batch": a.batch,
                          "n": n, "threads": a.threads, "device": a.device,
                          "median_ms": statistics.median(all_ms),
                          "all_ms": all_ms}), flush=True)
