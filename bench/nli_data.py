"""SNLI and SICK as lsmc reads them, for baselines outside lsmc (standard
library only). The rules are those of runtime/src/data/table.rs (its module
docs state them); change both together.

  tokenize(text, lowercase=True) -> list of tokens
  holdout(n, fraction, seed) -> (train_idx, valid_idx)
  read_snli(path, ...) -> list of Example, file order (records with a
      skipped label are None, so that indices match the holdout's)
  snli_splits(dev, test, fraction=0.1, seed=1) -> {"train", "valid", "test"}
  read_sick(path, ...) -> {"train", "valid", "test"} by SemEval_set

An Example is (line, [tokens of each text], class index).

Where Python and Rust differ on Unicode: `alnum` below is Python's
isalnum(), Rust's is_alphanumeric() also counts the Other_Alphabetic marks
(combining vowel signs, circled letters), which neither data set contains.
Whitespace is the Unicode White_Space set that Rust's is_whitespace() uses
(Python's isspace() adds U+001C..U+001F).
"""
import json
import math

NLI_LABELS = ["entailment", "neutral", "contradiction"]

WHITE_SPACE = set(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
)


def alnum(c):
    return c.isalnum()


def tokenize(text, lowercase=True):
    """Words (maximal alphanumeric runs), clitics ('s 're n't), and every
    other non-space character on its own."""
    if lowercase:
        text = text.lower()
    tokens, last_end, i, n = [], None, 0, len(text)
    while i < n:
        c = text[i]
        if c in WHITE_SPACE:
            i += 1
            continue
        if alnum(c):
            end = _run(text, i)
        elif c == "'" and i + 1 < n and alnum(text[i + 1]):
            end = _run(text, i + 1)
        else:
            end = i + 1
        token = text[i:end]
        if last_end == i and token in ("'t", "'T") and tokens and tokens[-1][-1] in "nN":
            # don't -> do n't; a token that was only the n becomes n't.
            n_letter, tokens[-1] = tokens[-1][-1], tokens[-1][:-1]
            if tokens[-1]:
                tokens.append(n_letter + token)
            else:
                tokens[-1] = n_letter + token
        else:
            tokens.append(token)
        last_end, i = end, end
    return tokens


def _run(text, start):
    end = start
    while end < len(text) and alnum(text[end]):
        end += 1
    return end


MASK = (1 << 64) - 1


def splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def holdout(n, fraction, seed):
    """(train_idx, valid_idx) of n records, both in file order: the
    round(fraction * n) records (half away from zero) of smallest key
    splitmix64(seed ^ splitmix64(i)), ties by index, are held out."""
    order = sorted(range(n), key=lambda i: (splitmix64(seed ^ splitmix64(i)), i))
    k = min(_round_half_away(fraction * n), n)
    return sorted(order[k:]), sorted(order[:k])


def _round_half_away(x):
    """Rust's f64::round for x >= 0 (int(x + 0.5) errs just below a half)."""
    whole = math.floor(x)
    return whole + 1 if x - whole >= 0.5 else whole


def _lines(path):
    """(line number from 1, line) of the non-blank lines; a BOM and each
    line's final \\r dropped, as lsmc does."""
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    if text.startswith("\ufeff"):
        text = text[1:]
    for number, line in enumerate(text.split("\n"), 1):
        if line.endswith("\r"):
            line = line[:-1]
        if line.strip(" \t\r"):
            yield number, line


def _class(label, names, skip):
    if isinstance(label, int) and not isinstance(label, bool):
        label = str(label)
    if not isinstance(label, str):
        raise ValueError(f"label {label!r} is not a string or an integer")
    key = label.lower()
    lowered = [n.lower() for n in names]
    if key in lowered:
        return lowered.index(key)
    if key in [s.lower() for s in skip]:
        return None
    raise ValueError(f"unknown label {label!r}; the known labels are {names}")


def _example(path, line, texts, label, names, skip, lowercase):
    cls = _class(label, names, skip)
    if cls is None:
        return None
    tokens = [tokenize(t, lowercase) for t in texts]
    if not all(tokens):
        raise ValueError(f"{path}:{line}: a text without tokens")
    return (line, tokens, cls)


def read_snli(path, fields=("premise", "hypothesis"), label="label",
              names=NLI_LABELS, skip=("-",), lowercase=True):
    """Every record of a JSON Lines file; None where the label is skipped.
    For the original snli_1.0_*.jsonl: fields=("sentence1", "sentence2"),
    label="gold_label"."""
    out = []
    for line, text in _lines(path):
        record = json.loads(text)
        texts = [record[f] for f in fields]
        out.append(_example(path, line, texts, record[label], names, skip, lowercase))
    return out


def snli_splits(dev, test, fraction=0.1, seed=1, **read):
    """Train and valid held out of `dev` (over all its records, skipped
    labels included), test the whole of `test`."""
    records = read_snli(dev, **read)
    train_idx, valid_idx = holdout(len(records), fraction, seed)
    pick = lambda idx: [records[i] for i in idx if records[i] is not None]
    return {
        "train": pick(train_idx),
        "valid": pick(valid_idx),
        "test": [r for r in read_snli(test, **read) if r is not None],
    }


def read_sick(path, fields=("sentence_A", "sentence_B"), label="entailment_label",
              split="SemEval_set", values=("TRAIN", "TRIAL", "TEST"),
              names=NLI_LABELS, skip=(), lowercase=True):
    """The three splits of a TSV file with a split column."""
    lines = _lines(path)
    _, header = next(lines)
    header = header.split("\t")
    col = {name: header.index(name) for name in [*fields, label, split]}
    parts = {"train": [], "valid": [], "test": []}
    keys = [v.lower() for v in values]
    for line, text in lines:
        cells = text.split("\t")
        if len(cells) != len(header):
            raise ValueError(f"{path}:{line}: {len(cells)} columns, header {len(header)}")
        part = ["train", "valid", "test"][keys.index(cells[col[split]].lower())]
        texts = [cells[col[f]] for f in fields]
        ex = _example(path, line, texts, cells[col[label]], names, skip, lowercase)
        if ex is not None:
            parts[part].append(ex)
    return parts


if __name__ == "__main__":
    import sys
    data = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
    snli = snli_splits(f"{data}/snli/dev.jsonl", f"{data}/snli/test.jsonl")
    sick = read_sick(f"{data}/sick/SICK.txt")
    print(json.dumps({
        "snli": {k: len(v) for k, v in snli.items()},
        "sick": {k: len(v) for k, v in sick.items()},
    }))
