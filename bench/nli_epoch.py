"""PyTorch + torch-struct timing of one NLI training epoch with latent trees:
decomposable attention (bench/nli_da.py) whose premise and hypothesis each get a
latent projective dependency tree (SPIGOT paper section 7.2.2, as designed in
nli-design.md section 3.1, i.e. the paper's intent rather than the code's
batch-axis trees):

  x = F(frozen 50d GloVe)                                   (200, F as nli_da.py)
  s[h->m] = v^T tanh(W [x_h; x_m] + b), root of m on the diagonal s[m, m] =
            v^T tanh(W [x_m; x_m] + b)       (Eq. 23; W computed as W1 x_h + W2 x_m)
  z = latent tree (per sentence, true lengths)
  r = [x_i ; sum_j z[j->i] x_j]   (a root-attached word gets 0)
  e_ij = r_a,i . r_b,j  (attention scores only); compare / aggregate / classify
  exactly as the baseline (G on [raw embedding; attended raw embeddings]).

Latents: `spigot` (MAP forward with torch-struct's projective DependencyCRF
argmax; backward z - Proj(z - eta*grad) with Proj the SparseMAP projection onto
the projective tree polytope, an active-set solver in double precision with
torch-struct's Eisner MAP as the oracle, as in bench/sst_epoch.py;
Algorithm 1 with k = 1, no extra decoder call; eta = 1, lr 3e-4 = Table 4's
SNLI SPIGOT row) and `marginals` (torch-struct marginals, autograd; lr 1e-4).
Training data: the SNLI dev-train split of bench/nli_common.py (8858 pairs),
shuffled with --seed, batches of 64 (139 steps); the timed part is training
only (no evaluation), after --warmup untimed steps.

Usage (needs torch and torch-struct; see bench/nli_da.sh for the venv):
    python3 bench/nli_epoch.py [--model spigot|marginals] [--threads 2] [--steps N] [--warmup 2]
                               [--seed 1] [--data ../shared/data]
--steps N > 0 times only N steps and scales to the epoch. Prints one JSON line.
"""
import argparse
import json
import random
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nli_common as C  # noqa: E402
from torch_trees import Spigot, crf  # noqa: E402
from nli_da import ff, pad  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--model", choices=["spigot", "marginals"], default="spigot")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--steps", type=int, default=0, help="0: the whole epoch")
p.add_argument("--warmup", type=int, default=2)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--eta", type=float, default=1.0)
p.add_argument("--data", default=str(C.DEFAULT_DATA))
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
warnings.filterwarnings("ignore", message=".*arg_constraints.*")
LR = {"spigot": 3e-4, "marginals": 1e-4}


# ---- trees: bench/torch_trees.py


# ---- model

class TreeDA(nn.Module):
    def __init__(self, vectors, hidden=200, p_drop=0.2):
        super().__init__()
        self.embed = nn.Embedding.from_pretrained(vectors, freeze=True, padding_idx=C.PAD)
        d = vectors.shape[1]
        self.F, self.G = ff(d, hidden, p_drop), ff(2 * d, hidden, p_drop)
        self.H = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.Dropout(p_drop), nn.ReLU(),
                               nn.Linear(hidden, 3))
        self.w_head = nn.Linear(hidden, hidden, bias=False)  # W = [w_head | w_mod], b in w_mod
        self.w_mod = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, 1)

    def scores(self, x):
        A, M = self.w_head(x), self.w_mod(x)
        return self.v(torch.tanh(A.unsqueeze(2) + M.unsqueeze(1))).squeeze(-1)  # diag = root

    def tree(self, x, lengths):
        s = self.scores(x)
        if a.model == "marginals":
            return crf(s, lengths).marginals
        return Spigot.apply(s, lengths, a.eta)

    def forward(self, prem, hypo):
        pm, hm = prem != C.PAD, hypo != C.PAD
        ea, eb = self.embed(prem), self.embed(hypo)
        xa, xb = self.F(ea), self.F(eb)
        ra, rb = [], []
        for x, m, r in ((xa, pm, ra), (xb, hm, rb)):
            z = self.tree(x, m.sum(1))
            arcs = z - torch.diag_embed(torch.diagonal(z, dim1=1, dim2=2))
            r.append(torch.cat([x, torch.einsum("bji,bjd->bid", arcs, x)], -1))
        e = torch.einsum("bih,bjh->bij", ra[0], rb[0])
        neg = torch.finfo(e.dtype).min
        ctx_h = torch.einsum("bij,bih->bjh", torch.softmax(e.masked_fill(~pm[:, :, None], neg), 1), ea)
        ctx_p = torch.einsum("bij,bjh->bih", torch.softmax(e.masked_fill(~hm[:, None, :], neg), 2), eb)
        g_p = self.G(torch.cat([ea, ctx_p * pm[:, :, None]], -1)) * pm[:, :, None]
        g_h = self.G(torch.cat([eb, ctx_h * hm[:, :, None]], -1)) * hm[:, :, None]
        return self.H(torch.cat([g_h.sum(1), g_p.sum(1)], -1))


ids, rows, itos, _ = C.prepare("snli", a.data)
train = ids["train"]
model = TreeDA(torch.tensor(rows, dtype=torch.float32))
opt = torch.optim.AdamW(model.parameters(), lr=LR[a.model])
model.train()

order = list(range(len(train)))
random.Random(a.seed).shuffle(order)
batches = [[train[j] for j in order[i: i + 64]] for i in range(0, len(order), 64)]


def step(batch):
    prem, hypo = pad([q for q, _, _ in batch]), pad([h for _, h, _ in batch])
    y = torch.tensor([c for _, _, c in batch])
    loss = nn.functional.cross_entropy(model(prem, hypo), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


for b in batches[: a.warmup]:
    step(b)
timed = batches[: a.steps] if a.steps else batches
t = time.perf_counter()
for b in timed:
    loss = step(b)
seconds = time.perf_counter() - t
print(json.dumps({
    "model": a.model, "torch": torch.__version__, "threads": a.threads, "steps": len(timed),
    "pairs": sum(len(b) for b in timed), "seconds": round(seconds, 3),
    "seconds_per_epoch": round(seconds * len(batches) / len(timed), 3), "epoch_steps": len(batches),
    "eta": a.eta, "lr": LR[a.model], "last_loss": loss,
    "trainable_params": sum(q.numel() for q in model.parameters() if q.requires_grad),
}))
