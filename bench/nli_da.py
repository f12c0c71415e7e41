"""Decomposable attention (Parikh et al. 2016, no intra-attention): the baseline
row of the SPIGOT paper's NLI experiment (Mihaylova et al. 2020, section 7.2.2,
Table 3), written independently from the design memo (nli-design.md), which
follows the paper's code (deep-spin/understanding-spigot, nli/models.py):

  a, b   = frozen GloVe rows (here 6B 50d; zero for <unk>/<pad>/words without a vector)
  F      = [Linear(d,200) Dropout ReLU Linear(200,200) Dropout ReLU]   per token
  e_ij   = F(a_i) . F(b_j)                    (padded rows masked to -inf)
  beta_i = sum_j softmax_j(e_ij) b_j,  alpha_j = sum_i softmax_i(e_ij) a_i   (raw embeddings)
  G      = [Linear(2d,200) Dropout ReLU Linear(200,200) Dropout ReLU]  on [a_i; beta_i], [b_j; alpha_j]
  v1, v2 = sum over the non-padded positions of G(...)   (--unmasked-pool: over all, as the code)
  y      = [Linear(400,200) Dropout ReLU Linear(200,3)] on [v2; v1]   (hypothesis first, as the code)
  cross-entropy, AdamW(lr 1e-4, weight decay 0.01 = torch default), batch 64, dropout 0.2.

Data rules (tokeniser, SNLI 90/10 hold-out of dev.jsonl, SICK splits, vocabulary
and OOV handling) are in bench/nli_common.py.  Each epoch: shuffle the training
pairs with the run's seed, batches of 64, train; then evaluate valid and test.
Model selection: the epoch with the best valid accuracy (first such epoch).

Usage (needs torch; see bench/nli_da.sh for the venv):
    python3 bench/nli_da.py --dataset {snli,sick} [--seed 1] [--epochs 30] [--threads 2]
                            [--lr 1e-4] [--batch 64] [--hidden 200] [--dropout 0.2]
                            [--unmasked-pool] [--data ../shared/data]
Prints one JSON line per epoch ("kind": "epoch") and a last one ("kind": "run")
with the best-valid epoch, its valid and test accuracy, and mean seconds per
training epoch.
"""
import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nli_common as C  # noqa: E402


def ff(d_in, d_hid, p):
    return nn.Sequential(nn.Linear(d_in, d_hid), nn.Dropout(p), nn.ReLU(),
                         nn.Linear(d_hid, d_hid), nn.Dropout(p), nn.ReLU())


class DecomposableAttention(nn.Module):
    def __init__(self, vectors, hidden=200, p_drop=0.2, n_classes=3, unmasked_pool=False):
        super().__init__()
        self.embed = nn.Embedding.from_pretrained(vectors, freeze=True, padding_idx=C.PAD)
        d = vectors.shape[1]
        self.F = ff(d, hidden, p_drop)          # attend
        self.G = ff(2 * d, hidden, p_drop)      # compare
        self.H = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.Dropout(p_drop), nn.ReLU(),
                               nn.Linear(hidden, n_classes))  # aggregate + classifier
        self.unmasked_pool = unmasked_pool

    def forward(self, prem, hypo):
        # prem: B x Np, hypo: B x Nh (token ids, C.PAD for padding)
        pm, hm = prem != C.PAD, hypo != C.PAD
        a, b = self.embed(prem), self.embed(hypo)
        e = torch.einsum("bih,bjh->bij", self.F(a), self.F(b))           # B x Np x Nh
        neg = torch.finfo(e.dtype).min
        # hypothesis token j attends over premise tokens i (softmax over i)
        alpha = torch.softmax(e.masked_fill(~pm[:, :, None], neg), dim=1)
        ctx_h = torch.einsum("bij,bih->bjh", alpha, a) * hm[:, :, None]
        # premise token i attends over hypothesis tokens j (softmax over j)
        beta = torch.softmax(e.masked_fill(~hm[:, None, :], neg), dim=2)
        ctx_p = torch.einsum("bij,bjh->bih", beta, b) * pm[:, :, None]
        g_p = self.G(torch.cat([a, ctx_p], -1))
        g_h = self.G(torch.cat([b, ctx_h], -1))
        if not self.unmasked_pool:
            g_p, g_h = g_p * pm[:, :, None], g_h * hm[:, :, None]
        return self.H(torch.cat([g_h.sum(1), g_p.sum(1)], -1))


def pad(seqs):
    n = max(len(s) for s in seqs)
    return torch.tensor([s + [C.PAD] * (n - len(s)) for s in seqs], dtype=torch.long)


def batches(pairs, size, order):
    for k in range(0, len(order), size):
        chunk = [pairs[i] for i in order[k:k + size]]
        yield pad([p for p, _, _ in chunk]), pad([h for _, h, _ in chunk]), \
            torch.tensor([y for _, _, y in chunk])


@torch.no_grad()
def accuracy(model, pairs, size):
    model.eval()
    right = 0
    for p, h, y in batches(pairs, size, list(range(len(pairs)))):
        right += (model(p, h).argmax(-1) == y).sum().item()
    return right / len(pairs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", choices=["snli", "sick"], required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=200)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--unmasked-pool", action="store_true",
                    help="sum G over padded positions too (the paper's code does)")
    ap.add_argument("--test-every-epoch", action="store_true")
    ap.add_argument("--data", default=str(C.DEFAULT_DATA))
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)

    ids, rows, itos, oov = C.prepare(a.dataset, a.data)
    vectors = torch.tensor(rows, dtype=torch.float32)
    model = DecomposableAttention(vectors, a.hidden, a.dropout, unmasked_pool=a.unmasked_pool)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    eval_batch = a.batch if a.unmasked_pool else 256
    common = {"dataset": a.dataset, "seed": a.seed}
    print(json.dumps({"kind": "setup", **common, "sizes": {k: len(v) for k, v in ids.items()},
                      "vocab": len(itos), "emb_dim": vectors.shape[1], "trainable_params": n_params,
                      "oov": oov, "args": vars(a), "torch": torch.__version__}), flush=True)

    train = ids["train"]
    history, train_secs, best_va = [], [], -1.0
    for epoch in range(1, a.epochs + 1):
        model.train()
        order = list(range(len(train)))
        rng.shuffle(order)
        t0 = time.perf_counter()
        tot_loss = right = 0.0
        for p, h, y in batches(train, a.batch, order):
            out = model(p, h)
            loss = nn.functional.cross_entropy(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot_loss += loss.item() * len(y)
            right += (out.argmax(-1) == y).sum().item()
        secs = time.perf_counter() - t0
        train_secs.append(secs)
        t1 = time.perf_counter()
        va = accuracy(model, ids["valid"], eval_batch)
        # test only when valid improves: that is all model selection needs (--test-every-epoch for all)
        improved = va > best_va  # first epoch with the best valid accuracy wins ties
        best_va = max(best_va, va)
        te = accuracy(model, ids["test"], eval_batch) if improved or a.test_every_epoch else None
        rec = {"kind": "epoch", **common, "epoch": epoch, "train_loss": round(tot_loss / len(train), 5),
               "train_acc": round(right / len(train), 5), "valid_acc": round(va, 5),
               "test_acc": None if te is None else round(te, 5), "train_seconds": round(secs, 3),
               "eval_seconds": round(time.perf_counter() - t1, 3)}
        rec["best_so_far"] = improved
        history.append(rec)
        print(json.dumps(rec), flush=True)

    best = [r for r in history if r["best_so_far"]][-1]
    print(json.dumps({"kind": "run", **common, "epochs": a.epochs, "best_epoch": best["epoch"],
                      "valid_acc": best["valid_acc"], "test_acc": best["test_acc"],
                      "last_valid_acc": history[-1]["valid_acc"],
                      "seconds_per_train_epoch": round(sum(train_secs) / len(train_secs), 3),
                      "threads": a.threads, "lr": a.lr, "unmasked_pool": a.unmasked_pool}), flush=True)


if __name__ == "__main__":
    main()
