#!/usr/bin/env bash
# Run one paper table/figure notebook (or all) with papermill into runs/repro/NAME/.
#   scripts/repro.sh table2_vbench                       # smoke defaults (tiny preset, CPU)
#   scripts/repro.sh table2_vbench -p preset paper -y 'results: {"Diffusion-DRF (7B)": runs/vbench/drf7b}'
#   scripts/repro.sh table7_ablation -p train_steps 0 -p memory_results runs/bench/table7.json   # VRAM of a GPU run of
#                                                 # scripts/bench_train_memory.py --out runs/bench/table7.json, no CPU grid
#   scripts/repro.sh all
# Extra arguments go to papermill (-p NAME VALUE, -y YAML). The executed notebook and the tables
# (CSV, JSON) and figures (HTML) land in runs/repro/NAME/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"; [ -x "$PY" ] || PY=python
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
name="${1:?usage: scripts/repro.sh NAME|all [papermill args...]; NAME one of: $(cd "$ROOT/nbs/repro" && ls *.ipynb | sed 's/.ipynb//' | tr '\n' ' ')}"; shift
if [ "$name" = all ]; then names=$(cd "$ROOT/nbs/repro" && ls *.ipynb | sed 's/.ipynb//'); else names="$name"; fi
for n in $names; do
  nb="$ROOT/nbs/repro/$n.ipynb"; [ -f "$nb" ] || { echo "no notebook $nb" >&2; exit 2; }
  out="$ROOT/runs/repro/$n"; mkdir -p "$out"
  echo "== $n -> $out"
  (cd "$ROOT/nbs/repro" && "$PY" -m papermill "$nb" "$out/$n.ipynb" -k python3 --cwd "$ROOT/nbs/repro" -p out_dir "$out" "$@")
done
