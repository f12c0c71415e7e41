"""PyTorch baseline for `lsmc bench`-style timing of the synthetic softmax
model (paper §7.1, K clusters): s = Linear(x), z = softmax(s),
ŷ = Bilinear(z, x), mean cross-entropy, Adam — full batch of 5000 × 100.

Usage (outside CI):  python3 bench/synthetic_softmax.py [--clusters 10] [--threads 2] [--steps 100] [--repeats 5]
Prints one JSON line: the median seconds per 100 training steps.
"""
import argparse, json, statistics, time
import torch

p = argparse.ArgumentParser()
p.add_argument("--clusters", type=int, default=10)
p.add_argument("--features", type=int, default=100)
p.add_argument("--examples", type=int, default=5000)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--steps", type=int, default=100)
p.add_argument("--repeats", type=int, default=5)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
x = torch.randn(a.examples, a.features)
y = torch.randint(0, 2, (a.examples,))

class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = torch.nn.Linear(a.features, a.clusters)
        self.dec = torch.nn.Bilinear(a.clusters, a.features, 2)
    def forward(self, x):
        z = torch.softmax(self.enc(x), dim=-1)
        return self.dec(z, x)

m = Model()
opt = torch.optim.Adam(m.parameters(), lr=1e-3)
loss_fn = torch.nn.CrossEntropyLoss()

def run(steps):
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(m(x), y)
        loss.backward()
        opt.step()

run(20)  # warm-up
times = []
for _ in range(a.repeats):
    t = time.perf_counter()
    run(a.steps)
    times.append(time.perf_counter() - t)
print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "threads": a.threads, "clusters": a.clusters,
                  "steps": a.steps, "median_seconds": statistics.median(times), "all": times}))
