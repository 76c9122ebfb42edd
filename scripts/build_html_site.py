#!/usr/bin/env python
"""Render the notebooks listed in _quarto.yml's sidebar to standalone HTML pages under _site/ (no Quarto needed).

Usage: python scripts/build_html_site.py [--execute] [--out _site]
"""
import argparse
import html
import os
from pathlib import Path

import nbformat
import yaml
from nbconvert import HTMLExporter
from nbconvert.preprocessors import ExecutePreprocessor
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent


def sidebar_pages(quarto=ROOT / "_quarto.yml"):
    "(section, notebook path relative to nbs/) in the sidebar's order."
    q = yaml.safe_load(quarto.read_text())
    out = []
    def walk(items, section):
        for it in items:
            if isinstance(it, str): out.append((section, it))
            elif isinstance(it, dict) and "contents" in it: walk(it["contents"], it.get("section", section))
            elif isinstance(it, dict) and "href" in it: out.append((section, it["href"]))
    for sb in q["website"]["sidebar"] if isinstance(q["website"]["sidebar"], list) else [q["website"]["sidebar"]]:
        walk(sb["contents"], "")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--execute", action="store_true", help="run each notebook before rendering (figures need it)")
    ap.add_argument("--out", default=str(ROOT / "_site"))
    ap.add_argument("--timeout", type=int, default=900)
    args = ap.parse_args()
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PLOTLY_RENDERER", "notebook")
    exporter = HTMLExporter(template_name="classic")
    links, failed = [], []
    for section, rel in tqdm(sidebar_pages(), desc="rendering"):
        src = ROOT / "nbs" / rel
        nb = nbformat.read(src, as_version=4)
        if args.execute:
            try: ExecutePreprocessor(timeout=args.timeout, kernel_name="python3").preprocess(nb, {"metadata": {"path": str(src.parent)}})
            except Exception as e: failed.append((rel, str(e).splitlines()[-1] if str(e) else type(e).__name__))
        title = next((c.source.splitlines()[0].lstrip("# ") for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("# ")), rel)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
        dest = out / rel.replace(".ipynb", ".html")
        up = "../" * rel.count("/")  # a link bar on every page: the landing page and the list of pages
        body = body.replace("<body>", f'<body><div style="padding:6px 12px;font-family:sans-serif"><a href="{up}index.html">drf_nb</a>'
                                      f' &middot; <a href="{up}pages.html">all pages</a></div>', 1)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(body)
        links.append((section, dest.relative_to(out), title))
    items, last = [], None
    for section, href, title in links:
        if section != last: items.append(f"<h3>{html.escape(section or 'drf_nb')}</h3>"); last = section
        items.append(f'<li><a href="{href}">{html.escape(title)}</a></li>')
    # index.ipynb renders to index.html (the landing page); the sidebar's list of pages goes beside it
    (out / "pages.html").write_text("<!doctype html><meta charset='utf-8'><title>drf_nb: pages</title><h1>drf_nb</h1><ul>"
                                    + "\n".join(items) + "</ul>")
    print(f"wrote {len(links)} pages under {out}/ (open {out}/index.html; every page links {out}/pages.html)")
    for rel, why in failed: print(f"  execution failed: {rel}: {why}")
    if failed: raise SystemExit(1)


if __name__ == "__main__":
    main()
