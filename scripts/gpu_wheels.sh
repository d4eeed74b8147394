#!/usr/bin/env bash
# Prepares gpu_wheels/ (git-ignored): what a bare GPU machine with PyTorch, timm and numpy lacks to run
# scripts/gpu_bench.sh: open_clip and its tokenizer's dependencies (ftfy, wcwidth, regex), the versions
# pinned here. regex is compiled: its newest release with manylinux x86_64 wheels for CPython 3.10 to 3.13.
# spaCy and cyclonedds are not needed: the benchmark gives the CLIP-prior prompt and uses no DDS.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=${PIP:-.venv/bin/pip}
mkdir -p gpu_wheels
"$PIP" download --no-deps -d gpu_wheels open-clip-torch==3.3.0 ftfy==6.3.1 wcwidth==0.9.4
for version in 3.10 3.11 3.12 3.13; do
  "$PIP" download --no-deps --only-binary=:all: --python-version "$version" --platform manylinux2014_x86_64 \
    -d gpu_wheels regex==2026.9.29
done
ls -l gpu_wheels
