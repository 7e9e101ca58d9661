#!/usr/bin/env bash
# Prepares the TinyStories data the sweeps in this folder train on:
#   split-corpus (10% validation) -> train-bpe (vocab 2048, on train.txt) -> encode train/valid.
# Output: out/sweeps/data/{train.txt,valid.txt,tok/,train.bin,valid.bin}. Steps whose output
# already exists are skipped, so rerunning is cheap.
#   bash sweeps/prepare-tinystories.sh [CORPUS]
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS="${1:-/work/shared/corpora/tinystories.txt}"
DATA=out/sweeps/data
VOCAB=2048
mkdir -p "$DATA"
if [ ! -f "$DATA/valid.txt" ]; then
  npx tsx pipelines/split-corpus.ts --input "$CORPUS" --val-fraction 0.1 --seed 0 --out-dir "$DATA" --quiet
fi
if [ ! -f "$DATA/tok/vocab.json" ]; then
  npx tsx pipelines/train-bpe.ts --input "$DATA/train.txt" --vocab-size "$VOCAB" --out "$DATA/tok" --quiet
fi
for split in train valid; do
  if [ ! -f "$DATA/$split.bin.json" ]; then
    npx tsx pipelines/encode.ts --tokenizer "$DATA/tok" --input "$DATA/$split.txt" --out "$DATA/$split.bin" --quiet
  fi
done
ls -l "$DATA"
