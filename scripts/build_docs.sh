#!/usr/bin/env bash
# Build the documentation site, every notebook executed (they are committed without outputs):
#  1. each notebook in _quarto.yml's sidebar runs in a fresh kernel, into a copy under _docs_build/executed/
#     (never into nbs/; the repro notebooks run with their smoke defaults);
#  2. nbdev's own docs processing (what nbdev_docs feeds Quarto) turns the copies into _docs_build/proc/;
#  3. with Quarto installed, `quarto render --no-execute` renders that folder into _docs/ (nbdev's doc_path);
#     without it (its installer downloads a binary, so it cannot be installed offline), nbconvert renders the
#     same notebooks into _site/: sidebar, MathML equations, plotly figures with a local plotly.js, no network.
# Usage: bash scripts/build_docs.sh [--renderer quarto|nbconvert] [--only NB ...] [--jobs N] [--no-execute]
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"  # two notebooks run at once on two cores
exec python scripts/build_html_site.py "$@"
