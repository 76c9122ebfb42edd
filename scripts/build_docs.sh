#!/usr/bin/env bash
# Render the documentation site.
#  - With Quarto installed: nbdev_docs renders the site described by _quarto.yml into _docs/.
#  - Without Quarto (it cannot be installed on machines without internet access, since its installer
#    downloads a binary): every notebook is executed and rendered to a standalone HTML page with
#    nbconvert under _site/, plotly figures embedded with plotly.js inline so the pages work offline,
#    the landing page as index.html and pages.html listing every page in the sidebar's order.
# Usage: bash scripts/build_docs.sh [--no-execute]
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
if command -v quarto >/dev/null 2>&1; then
  nbdev_docs
  echo "site written to _docs/"
  exit 0
fi
echo "quarto not found: rendering notebooks to HTML with nbconvert under _site/"
execute="--execute"; [ "${1:-}" = "--no-execute" ] && execute=""
export PLOTLY_RENDERER=notebook  # embeds plotly.js in the page: figures show offline
python scripts/build_html_site.py $execute
