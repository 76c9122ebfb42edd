#!/usr/bin/env python
"""Write README.md from nbs/index.ipynb (what `nbdev_readme` does, without needing Quarto).

Usage: python scripts/make_readme.py [--check]   (--check: exit 1 if README.md is out of date)
"""
import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def render_readme(nb_path: Path = ROOT / "nbs" / "index.ipynb") -> str:
    "The landing notebook's markdown cells (and visible code cells as code blocks), as GitHub markdown."
    nb = nbformat.read(nb_path, as_version=4)
    parts = ["<!-- generated from nbs/index.ipynb by scripts/make_readme.py: edit the notebook, not this file -->"]
    for cell in nb.cells:
        src = cell.source.strip()
        if not src: continue
        if cell.cell_type == "markdown": parts.append(src)
        elif cell.cell_type == "code" and not src.startswith("#|"): parts.append(f"```python\n{src}\n```")
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that README.md is up to date")
    args = ap.parse_args()
    text, readme = render_readme(), ROOT / "README.md"
    if args.check:
        if not readme.exists() or readme.read_text() != text:
            print("README.md is out of date with nbs/index.ipynb: run python scripts/make_readme.py"); sys.exit(1)
        print("README.md is up to date")
    else:
        readme.write_text(text); print(f"wrote {readme}")
