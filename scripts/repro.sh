#!/usr/bin/env bash
# Run one paper table/figure notebook (or all) with papermill into runs/repro/NAME/.
#   scripts/repro.sh table2_vbench                       # smoke defaults (tiny preset, CPU)
#   scripts/repro.sh table2_vbench -p preset paper -y 'results: {"Diffusion-DRF (7B)": runs/vbench/drf7b}'
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
  # nbdev_clean drops cell tags: re-tag the parameters cell (the first code cell setting out_dir) in a copy
  "$PY" - "$nb" "$out/_input.ipynb" <<'PYEOF'
import json, sys
nb = json.load(open(sys.argv[1]))
cell = next(c for c in nb["cells"] if c["cell_type"] == "code" and "out_dir =" in "".join(c["source"]))
tags = cell.setdefault("metadata", {}).setdefault("tags", [])
if "parameters" not in tags: tags.append("parameters")
nb["metadata"].setdefault("kernelspec", {"display_name": "python3", "language": "python", "name": "python3"})
nb["metadata"].setdefault("language_info", {"name": "python"})
json.dump(nb, open(sys.argv[2], "w"))
PYEOF
  (cd "$ROOT/nbs/repro" && "$PY" -m papermill "$out/_input.ipynb" "$out/$n.ipynb" -k python3 --cwd "$ROOT/nbs/repro" -p out_dir "$out" "$@")
done
