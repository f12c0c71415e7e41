"""Projective dependency trees for the PyTorch baselines (bench/sst_epoch.py,
bench/nli_epoch.py): torch-struct's DependencyCRF for MAP and marginals, the
SparseMAP projection as an active set in double precision with MAP as the
oracle, and SPIGOT's backward (Algorithm 1, k = 1) as an autograd function.
"""
import numpy as np
import torch
from torch_struct import DependencyCRF


# ---- trees in torch-struct's layout: s[b, h, m], root arc of m at s[b, m, m]

def crf(s, lengths):
    # multiroot is a class-level flag in torch-struct: set it every time.
    return DependencyCRF(s, lengths=lengths, multiroot=False)


def tree_map(s, lengths):
    with torch.enable_grad():
        x = s.detach().clone().requires_grad_()
        return crf(x, lengths).argmax.detach()


def tree_marginals(s, lengths):
    with torch.enable_grad():
        x = s.detach().clone().requires_grad_()
        return crf(x, lengths).marginals.detach()


def sparsemap(theta, lengths, max_iter=200, tol=1e-9):
    """argmin_{mu in M} ||mu - theta||^2 for each sentence: active set on the
    trees' convex hull, the MAP oracle called once per iteration for every
    sentence still iterating."""
    th = theta.detach().double()
    B = th.shape[0]
    ls = lengths.tolist()
    flat = [th[b, : ls[b], : ls[b]].reshape(-1).numpy() for b in range(B)]
    z0 = tree_map(th, lengths)
    Z = [[z0[b, : ls[b], : ls[b]].reshape(-1).numpy()] for b in range(B)]
    alpha = [np.ones(1) for _ in range(B)]
    going = list(range(B))
    for _ in range(max_iter):
        if not going:
            break
        mu = {b: np.stack(Z[b], 1) @ alpha[b] for b in going}
        grad = th.clone()
        for b in going:
            n = ls[b]
            grad[b, :n, :n] -= torch.from_numpy(mu[b].reshape(n, n))
        zs = tree_map(grad[going], lengths[going])
        still = []
        for i, b in enumerate(going):
            n = ls[b]
            z = zs[i, :n, :n].reshape(-1).numpy()
            r = flat[b] - mu[b]
            if z @ r <= mu[b] @ r + tol or any(np.array_equal(z, y) for y in Z[b]):
                continue
            Z[b].append(z)
            alpha[b] = np.append(alpha[b], 0.0)
            # Minimise on the support's affine hull; step back to the
            # simplex and drop a tree whenever a weight would go negative.
            while True:
                S = np.stack(Z[b], 1)
                k = S.shape[1]
                K = np.zeros((k + 1, k + 1))
                K[:k, :k] = S.T @ S
                K[:k, k] = K[k, :k] = 1.0
                rhs = np.append(S.T @ flat[b], 1.0)
                new = np.linalg.lstsq(K, rhs, rcond=None)[0][:k]
                if (new >= -1e-12).all():
                    alpha[b] = np.clip(new, 0.0, None)
                    break
                d = new - alpha[b]
                neg = d < 0
                t = np.min(-alpha[b][neg] / d[neg])
                alpha[b] = alpha[b] + t * d
                keep = alpha[b] > 1e-12
                Z[b] = [y for y, kp in zip(Z[b], keep) if kp]
                alpha[b] = alpha[b][keep]
            still.append(b)
        going = still
    out = torch.zeros_like(th)
    for b in range(B):
        n = ls[b]
        out[b, :n, :n] = torch.from_numpy((np.stack(Z[b], 1) @ alpha[b]).reshape(n, n))
    return out.to(theta.dtype)


class Spigot(torch.autograd.Function):
    """MAP forward; backward z - Proj(z - eta * g)."""

    @staticmethod
    def forward(ctx, s, lengths, eta):
        z = tree_map(s, lengths)
        ctx.save_for_backward(z, lengths)
        ctx.eta = eta
        return z

    @staticmethod
    def backward(ctx, g):
        z, lengths = ctx.saved_tensors
        return z - sparsemap(z - ctx.eta * g, lengths), None, None
