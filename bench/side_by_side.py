"""The side-by-side table of a structure benchmark: one row per (n, op),
lsmc's and torch-struct's median milliseconds and the speed-up, read from
the JSON lines that `lsmc bench --structure ...` and the
`torch_struct_*.py` scripts print.

    python bench/side_by_side.py TITLE LSMC_JSON_LINES TORCH_JSON_LINES

Each argument may hold several rounds' lines for the same (n, op).
"""
import json
import statistics
import sys

OPS = ["map", "marginals", "backward"]


def rows_of(texts):
    """One row per (n, op, impl); a measurement repeated over rounds
    (alternating lsmc and torch-struct, so that both see the machine's
    slow spells) pools its samples, and the median is over the pool."""
    rows = {}
    for text in texts:
        for line in text.splitlines():
            if line.strip():
                r = json.loads(line)
                key = (r["n"], r["op"], r["impl"])
                if key in rows:
                    rows[key]["all_ms"] += r["all_ms"]
                    rows[key]["rounds"] += 1
                else:
                    rows[key] = dict(r, rounds=1)
    for r in rows.values():
        r["median_ms"] = statistics.median(r["all_ms"])
    return rows


def ms(r):
    return f"{r['median_ms']:.3f}" if r else "-"


def main(title, lsmc, torch):
    rows = rows_of([lsmc, torch])
    if not rows:
        sys.exit("side_by_side.py: neither side printed a measurement")
    order = lambda k: (k[0], OPS.index(k[1]) if k[1] in OPS else len(OPS))
    keys = sorted({(n, op) for n, op, _ in rows}, key=order)
    first = next(iter(rows.values()))
    rounds = f", {first['rounds']} alternating rounds pooled" if first["rounds"] > 1 else ""
    print(f"\n{title}, batch {first['batch']}, {first['threads']} threads{rounds} "
          f"(backward includes the marginals forward)\n")
    print("| n | op | lsmc ms | torch-struct ms | speed-up |")
    print("|---:|---|---:|---:|---:|")
    for n, op in keys:
        l, t = rows.get((n, op, "lsmc")), rows.get((n, op, "torch-struct"))
        up = f"{t['median_ms'] / l['median_ms']:.1f}x" if l and t and l["median_ms"] > 0 else "-"
        print(f"| {n} | {op} | {ms(l)} | {ms(t)} | {up} |")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:4])
