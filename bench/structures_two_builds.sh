#!/usr/bin/env bash
# Structured inference with two builds of lsmc, alternating, two rounds:
# one JSON line per op and length, prefixed with `old ROUND` or `new ROUND`.
#
#   bench/structures_two_builds.sh OLD_LSMC NEW_LSMC > out.txt
set -euo pipefail
old=$1 new=$2
for round in 1 2; do
  for which in old new; do
    bin=${!which}
    "$bin" bench --structure projective --batch 32 --n 10 20 40 80 --threads 2 --repeats 20 --device cpu 2>/dev/null | sed "s/^/$which $round /"
    "$bin" bench --structure nonprojective --batch 32 --n 10 40 --threads 2 --repeats 20 --device cpu 2>/dev/null | sed "s/^/$which $round /"
  done
done
