"""PyTorch + torch-struct baseline for one SST training epoch, the model of
models/sst/{marginals,spigot,spigot_ce}.lsm written the way a researcher
writes it today (torch-struct for trees, autograd Functions for SPIGOT):

  frozen 50d GloVe -> BiLSTM (2 x 50, packed) -> arc scores
  v^T tanh(W1 h_h + W2 h_m + b) (the two projections computed once per word,
  as lsmc's rewrite does) -> latent tree -> [h; heads(z, h)] ->
  relu(linear 100) -> attention pool -> linear 2; cross-entropy, AdamW.

Latents: `marginals` (torch-struct DependencyCRF marginals, autograd
backward), `spigot` (MAP forward; backward z - Proj(z - eta*grad)),
`spigot_ce` (MAP forward; backward mu - Proj(mu - eta*grad(mu)) with mu the
marginals, one extra decoder pass; its projection stops after --ce-max-iter
trees are added, 10 as in the lsmc spec). Proj is SparseMAP onto the tree
polytope: an active-set solver in double precision with torch-struct's
Eisner MAP as the oracle, batched over the sentences still iterating.

Sentences come in batches of 32, shuffled, then sorted by length within
pools of 20 batches (lsmc's bucketing). Times the training epoch only (no
evaluation), after --warmup untimed steps.

Usage (outside CI; needs torch and torch-struct):
    python3 bench/sst_epoch.py --model spigot [--threads 2] [--data ../shared/data]
                               [--steps N] [--warmup 2] [--seed 0] [--ce-max-iter 10]
    python3 bench/sst_epoch.py --check     (SparseMAP against enumeration, n <= 4)
Prints one JSON line.
"""
import argparse, gzip, itertools, json, random, time, warnings
from pathlib import Path

import torch
import sys

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_trees import Spigot, crf, sparsemap, tree_map, tree_marginals  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--model", choices=["marginals", "spigot", "spigot_ce"], default="spigot")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
p.add_argument("--steps", type=int, default=0, help="0: the whole epoch")
p.add_argument("--warmup", type=int, default=2)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--check", action="store_true")
p.add_argument("--ce-max-iter", type=int, default=10,
               help="SPIGOT-CE's projection budget (models/sst/spigot_ce.lsm: max_iter = 10)")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
random.seed(a.seed)
warnings.filterwarnings("ignore", message=".*arg_constraints.*")

LR = {"marginals": 1e-4, "spigot": 1e-4, "spigot_ce": 5e-5}
ETA = 0.1


# ---- trees: bench/torch_trees.py



if a.check:
    # Every single-root projective tree of n <= 4 words, enumerated: the
    # projection must satisfy <theta - mu, z - mu> <= 0 for all of them.
    torch.manual_seed(1)
    for n, count in [(2, 2), (3, 7), (4, 30)]:
        trees = []
        for heads in itertools.product(range(n + 1), repeat=n):
            if sum(h == 0 for h in heads) != 1 or any(h == m + 1 for m, h in enumerate(heads)):
                continue
            ok = True
            for m in range(n):  # acyclic
                seen, x = set(), m + 1
                while x != 0 and ok:
                    if x in seen:
                        ok = False
                    seen.add(x)
                    x = heads[x - 1]
            spans = [tuple(sorted((heads[m], m + 1))) for m in range(n)]
            proj = not any(a1 < a2 < b1 < b2 or a2 < a1 < b2 < b1
                           for (a1, b1), (a2, b2) in itertools.combinations(spans, 2))
            if ok and proj:
                z = torch.zeros(n, n, dtype=torch.float64)
                for m, h in enumerate(heads):
                    z[m, m] = 1.0 if h == 0 else z[m, m]
                    if h:
                        z[h - 1, m] = 1.0
                trees.append(z)
        assert len(trees) == count, (n, len(trees))
        theta = torch.randn(5, n, n, dtype=torch.float64) * 2
        mu = sparsemap(theta, torch.full((5,), n))
        worst = max(((theta[b] - mu[b]) * (z - mu[b])).sum().item() for b in range(5) for z in trees)
        print(json.dumps({"check": "sparsemap", "n": n, "trees": len(trees), "max_optimality_gap": worst}))
        assert worst <= 1e-7, worst
    raise SystemExit


# ---- data

def leaves(line):
    toks, i = [], 0
    while i < len(line):
        if line[i] == "(":
            i += 1
            while line[i] != " " and line[i] != "(":
                i += 1
            continue
        if line[i] in ") ":
            i += 1
            continue
        j = i
        while line[j] not in "()" and line[j] != " ":
            j += 1
        toks.append(line[i:j])
        i = j
    return toks


def read(path):
    out = []
    for line in open(path, encoding="utf-8"):
        line = line.strip("\n")
        if not line.strip(" "):
            continue
        label = int(line[1])
        if label == 2:
            continue
        out.append((leaves(line), int(label > 2)))
    return out


data = Path(a.data)
train = read(data / "sst" / "train.txt")
vectors = {}
with gzip.open(data / "glove" / "glove.6B.50d.sst.txt.gz", "rt", encoding="utf-8") as f:
    for line in f:
        w, *v = line.rstrip("\n").split(" ")
        vectors[w] = [float(x) for x in v]
words = ["<pad>", "<unk>"] + sorted({t for s, _ in train for t in s})
index = {w: i for i, w in enumerate(words)}
table = torch.randn(len(words), 50) * 0.4
table[0] = 0
for w, i in index.items():
    for form in (w, w.lower()):
        if form in vectors:
            table[i] = torch.tensor(vectors[form])
            break


# ---- model

class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding.from_pretrained(table, freeze=True, padding_idx=0)
        self.lstm = torch.nn.LSTM(50, 50, bidirectional=True, batch_first=True)
        self.root = torch.nn.Parameter(torch.randn(100) * 0.1)
        self.w_head = torch.nn.Linear(100, 100, bias=False)
        self.w_mod = torch.nn.Linear(100, 100)
        self.v = torch.nn.Linear(100, 1, bias=False)
        self.mlp = torch.nn.Linear(200, 100)
        self.attn = torch.nn.Linear(100, 1, bias=False)
        self.out = torch.nn.Linear(100, 2)

    def encode(self, tokens, lengths):
        e = self.embed(tokens)
        packed = torch.nn.utils.rnn.pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
        h, _ = self.lstm(packed)
        h, _ = torch.nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=tokens.shape[1])
        return h

    def scores(self, h):
        # s[b, j, i]: head j -> modifier i; the root arc of i on the diagonal.
        A, M = self.w_head(h), self.w_mod(h)
        s = self.v(torch.tanh(A.unsqueeze(2) + M.unsqueeze(1))).squeeze(-1)
        root = self.v(torch.tanh(self.w_head(self.root) + M)).squeeze(-1)
        return s - torch.diag_embed(torch.diagonal(s, dim1=1, dim2=2)) + torch.diag_embed(root)

    def decode(self, z, h, mask):
        arcs = z - torch.diag_embed(torch.diagonal(z, dim1=1, dim2=2))
        heads = torch.einsum("bji,bjd->bid", arcs, h)
        r = torch.relu(self.mlp(torch.cat([h, heads], -1)))
        w = self.attn(r).squeeze(-1).masked_fill(~mask, float("-inf"))
        pooled = torch.einsum("bn,bnd->bd", torch.softmax(w, -1), r)
        return self.out(pooled)


class SpigotCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, s, lengths, decoder_grad):
        ctx.save_for_backward(s, lengths)
        ctx.decoder_grad = decoder_grad
        return tree_map(s, lengths)

    @staticmethod
    def backward(ctx, g):
        s, lengths = ctx.saved_tensors
        mu = tree_marginals(s, lengths)
        target = sparsemap(mu - ETA * ctx.decoder_grad(mu), lengths, max_iter=a.ce_max_iter)
        return mu - target, None, None


model = Model()
opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=LR[a.model])


def step(batch):
    toks = [s for s, _ in batch]
    n = max(len(t) for t in toks)
    tokens = torch.tensor([[index.get(w, 1) for w in t] + [0] * (n - len(t)) for t in toks])
    lengths = torch.tensor([len(t) for t in toks])
    y = torch.tensor([c for _, c in batch])
    mask = tokens != 0
    h = model.encode(tokens, lengths)
    s = model.scores(h)
    if a.model == "marginals":
        z = crf(s, lengths).marginals
    elif a.model == "spigot":
        z = Spigot.apply(s, lengths, ETA)
    else:
        def decoder_grad(mu):
            with torch.enable_grad():
                m = mu.clone().requires_grad_()
                loss = torch.nn.functional.cross_entropy(model.decode(m, h.detach(), mask), y)
                return torch.autograd.grad(loss, m)[0]
        z = SpigotCE.apply(s, lengths, decoder_grad)
    loss = torch.nn.functional.cross_entropy(model.decode(z, h, mask), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


order = list(range(len(train)))
random.shuffle(order)
pools = [sorted(order[i : i + 640], key=lambda j: len(train[j][0])) for i in range(0, len(order), 640)]
order = [j for pool in pools for j in pool]
batches = [[train[j] for j in order[i : i + 32]] for i in range(0, len(order), 32)]
for b in batches[: a.warmup]:
    step(b)
timed = batches[: a.steps] if a.steps else batches
t = time.perf_counter()
for b in timed:
    loss = step(b)
seconds = time.perf_counter() - t
print(json.dumps({
    "model": a.model, "torch": torch.__version__, "threads": a.threads, "steps": len(timed),
    "sentences": sum(len(b) for b in timed), "seconds": seconds,
    "seconds_per_epoch": seconds * len(batches) / len(timed), "last_loss": loss,
}))
