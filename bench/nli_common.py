"""Data helpers for the NLI benchmarks (bench/nli_da.py, bench/nli_epoch.py).

Pure Python (no torch), so the rules below can be checked without a venv:

    python3 bench/nli_common.py            # self-checks + split/vocabulary/OOV summary as JSON

The rules are the ones the Rust side (lsmc) implements too; keep them identical.

Tokenisation (`tokenize`):
  (a) lowercase the whole string with str.lower();
  (b) scan characters left to right: whitespace separates tokens; a maximal run
      of alphanumeric chars (str.isalnum per char) is one token; an apostrophe
      immediately followed by one or more alphanumerics forms one token with that
      run ('s, 're, 't); when such a clitic is exactly 't and the token just
      before it ended with 'n' with no space between, the 'n' moves into the
      clitic (don't -> do n't, can't -> ca n't; a preceding token left empty is
      dropped); any other non-whitespace, non-alphanumeric char is a token by
      itself.  `A man's "hat" isn't red.` -> a man 's " hat " is n't red .

SNLI (`load_snli`): train/valid are SNLI dev.jsonl held out 90/10 with the
  splitmix64 rule of `holdout_split` (split seed 1, fixed); test = test.jsonl.
SICK (`load_sick`): SICK.txt, SemEval_set TRAIN/TRIAL/TEST = train/valid/test,
  premise = sentence_A, hypothesis = sentence_B, label = entailment_label.
Labels: 0 entailment, 1 neutral, 2 contradiction.

Embeddings (`build_vocab`, `load_glove`), as the paper's code (torchtext 0.4,
  `TEXT.build_vocab(train, vectors=...)`, frozen `Embedding.from_pretrained`):
  the vocabulary is every token of the TRAINING premises and hypotheses
  (min count 1) plus <unk> (index 0) and <pad> (index 1); a vocabulary word
  gets its GloVe vector if GloVe has it, else the zero vector; <unk> and <pad>
  are zero vectors; valid/test tokens outside the training vocabulary map to
  <unk>.  So every token that is not (in the training vocabulary AND in GloVe)
  is a frozen zero vector.
"""
import gzip
import json
import sys
from pathlib import Path

LABELS = ["entailment", "neutral", "contradiction"]
LABEL_IX = {l: i for i, l in enumerate(LABELS)}
UNK, PAD = 0, 1
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


# ---------------------------------------------------------------- tokens, splits
# One Python statement of lsmc's rules, in bench/nli_data.py.

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nli_data import holdout, splitmix64, tokenize as _tokenize  # noqa: E402,F401


def tokenize(text):
    return _tokenize(text, lowercase=True)


def holdout_split(n, seed=1, frac=0.1):
    """(train indices, valid indices), both in file order."""
    return holdout(n, frac, seed)


# ---------------------------------------------------------------- data sets

def _pair(premise, hypothesis, label):
    return (tokenize(premise), tokenize(hypothesis), LABEL_IX[label])


def read_snli_jsonl(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                out.append(_pair(r["premise"], r["hypothesis"], r["label"]))
    return out


def load_snli(data=DEFAULT_DATA, split_seed=1):
    data = Path(data)
    dev = read_snli_jsonl(data / "snli" / "dev.jsonl")
    tr, va = holdout_split(len(dev), split_seed)
    test = read_snli_jsonl(data / "snli" / "test.jsonl")
    return {"train": [dev[i] for i in tr], "valid": [dev[i] for i in va], "test": test}


def load_sick(data=DEFAULT_DATA):
    path = Path(data) / "sick" / "SICK.txt"
    sets = {"TRAIN": [], "TRIAL": [], "TEST": []}
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        col = {name: k for k, name in enumerate(header)}
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            r = line.split("\t")
            sets[r[col["SemEval_set"]]].append(
                _pair(r[col["sentence_A"]], r[col["sentence_B"]], r[col["entailment_label"]].lower()))
    return {"train": sets["TRAIN"], "valid": sets["TRIAL"], "test": sets["TEST"]}


GLOVE_FILE = {"snli": "glove.6B.50d.snli-devtest.txt.gz", "sick": "glove.6B.50d.sick.txt.gz"}


def load_dataset(name, data=DEFAULT_DATA):
    return load_snli(data) if name == "snli" else load_sick(data)


# ---------------------------------------------------------------- vocabulary, GloVe

def build_vocab(train):
    """itos, stoi: <unk>, <pad>, then training tokens by descending count, ties by first sight."""
    count, first = {}, {}
    for p, h, _ in train:
        for t in p + h:
            if t not in count:
                count[t] = 0
                first[t] = len(first)
            count[t] += 1
    words = sorted(count, key=lambda t: (-count[t], first[t]))
    itos = ["<unk>", "<pad>"] + words
    return itos, {t: i for i, t in enumerate(itos)}


def load_glove(path, words=None):
    """dict word -> list of floats (only `words` if given)."""
    vec = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split(" ")
            if words is None or parts[0] in words:
                vec[parts[0]] = [float(x) for x in parts[1:]]
    return vec


def numericalize(pairs, stoi):
    return [([stoi.get(t, UNK) for t in p], [stoi.get(t, UNK) for t in h], y) for p, h, y in pairs]


def oov_report(splits, stoi, glove):
    """Share of tokens (and types) that end up as a zero vector, per split, and why."""
    rep = {}
    for name, pairs in splits.items():
        tok = zero = not_glove = not_vocab = 0
        types, zero_types = set(), set()
        for p, h, _ in pairs:
            for t in p + h:
                tok += 1
                types.add(t)
                in_v, in_g = t in stoi, t in glove
                not_glove += not in_g
                not_vocab += not in_v
                if not (in_v and in_g):
                    zero += 1
                    zero_types.add(t)
        rep[name] = {"tokens": tok, "zero_vector_tokens_pct": round(100 * zero / tok, 3),
                     "not_in_glove_tokens_pct": round(100 * not_glove / tok, 3),
                     "not_in_train_vocab_tokens_pct": round(100 * not_vocab / tok, 3),
                     "types": len(types), "zero_vector_types": len(zero_types)}
    return rep


def prepare(name, data=DEFAULT_DATA):
    """Splits (token ids), embedding rows (lists), vocabulary and an OOV report."""
    splits = load_dataset(name, data)
    itos, stoi = build_vocab(splits["train"])
    glove = load_glove(Path(data) / "glove" / GLOVE_FILE[name])  # whole subset (a few thousand lines)
    dim = len(next(iter(glove.values())))
    rows = [glove.get(w, [0.0] * dim) if i >= 2 else [0.0] * dim for i, w in enumerate(itos)]
    ids = {k: numericalize(v, stoi) for k, v in splits.items()}
    return ids, rows, itos, oov_report(splits, stoi, glove)


# ---------------------------------------------------------------- self-check

def _self_check():
    assert " ".join(tokenize('A man\'s "hat" isn\'t red.')) == 'a man \'s " hat " is n\'t red .'
    assert tokenize("don't can't") == ["do", "n't", "ca", "n't"]
    assert tokenize("They're here, aren't they?") == ["they", "'re", "here", ",", "are", "n't", "they", "?"]
    assert tokenize("dogs' toys") == ["dogs", "'", "toys"]
    assert tokenize("n't") == ["n't"]
    assert tokenize("an 't") == ["an", "'t"]
    assert tokenize("  3.5-year-old") == ["3", ".", "5", "-", "year", "-", "old"]
    assert splitmix64(0) == 0xE220A8397B1DCDAF  # first output of the reference splitmix64 seeded 0
    tr, va = holdout_split(9842, 1)
    assert len(va) == 984 and len(tr) == 8858 and not set(tr) & set(va)


if __name__ == "__main__":
    _self_check()
    out = {"self_check": "ok"}
    for name in ("snli", "sick"):
        ids, rows, itos, rep = prepare(name, sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DATA)
        out[name] = {"sizes": {k: len(v) for k, v in ids.items()}, "vocab": len(itos),
                     "labels_train": [sum(1 for _, _, y in ids["train"] if y == k) for k in range(3)],
                     "oov": rep}
    out["snli_valid_first_indices"] = holdout_split(9842, 1)[1][:10]
    print(json.dumps(out))
