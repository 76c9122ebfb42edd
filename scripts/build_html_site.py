#!/usr/bin/env python
"""Build the docs site: execute the notebooks, process them as nbdev_docs does, render them with Quarto or nbconvert.

The notebooks are committed without outputs, so the pages' figures and tables exist only once the notebooks run.
Every page goes through the same three steps whichever renderer draws it, so both give the same pages:

1. execute: each notebook listed in _quarto.yml's sidebar runs in a fresh Jupyter kernel (as Quarto or papermill
   would run it; the repro notebooks with their smoke defaults), into a copy under WORK/executed/; its working
   directory is that copy's folder, so nothing is written into nbs/. Cells marked `#| eval: false` (or with one
   of settings.ini's tst_flags) are skipped, as nbdev_test skips them.
2. process: nbdev's own docs processing (the processors of nbdev.processors.FilterDefaults, run through
   nbdev.serve_drv as nbdev_docs / nbdev_preview run them): the title cell becomes front matter, `#| hide` /
   `#| export` cells are dropped, directives are stripped, show_doc is rendered (from the exported module: see
   docs_filter). Plotly figures become HTML that draws them with one local copy of plotly.js per site (no CDN),
   and progress bars keep their last state. The result, WORK/proc/, is the Quarto project nbdev_docs renders.
3. render: `quarto render --no-execute` where Quarto is installed (pages under _docs/); otherwise nbconvert,
   with equations turned into MathML (latex2mathml) that browsers draw offline, and a page shell that reads as
   the site: title, description, a sidebar of every page, previous/next links (pages under _site/).

Usage: python scripts/build_html_site.py [--renderer auto|quarto|nbconvert] [--only NB ...] [--no-execute]
                                         [--jobs N] [--out DIR] [--work DIR]
"""
import argparse
import html
import os
import re
import shutil
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import nbformat
import yaml
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
PLOTLY_MIME = "application/vnd.plotly.v1+json"
PLOTLY_JS = "plotly.min.js"


def sidebar_pages(quarto=ROOT / "_quarto.yml"):
    "(section, notebook path relative to nbs/) in the sidebar's order."
    q = yaml.safe_load(Path(quarto).read_text())
    out = []
    def walk(items, section):
        for it in items:
            if isinstance(it, str): out.append((section, it))
            elif isinstance(it, dict) and "contents" in it: walk(it["contents"], it.get("section", section))
            elif isinstance(it, dict) and "href" in it: out.append((section, it["href"]))
    for sb in q["website"]["sidebar"] if isinstance(q["website"]["sidebar"], list) else [q["website"]["sidebar"]]:
        walk(sb["contents"], "")
    return out


def select_pages(pages, only):
    "The sidebar entries named in `only` (a path under nbs/ or a notebook's name, with or without .ipynb)."
    if not only: return pages
    keep = []
    for name in only:
        hits = [p for p in pages if name in (p[1], p[1].removesuffix(".ipynb"), Path(p[1]).name, Path(p[1]).stem)]
        if not hits: raise SystemExit(f"--only {name}: not a notebook in _quarto.yml's sidebar")
        keep += [h for h in hits if h not in keep]
    return [p for p in pages if p in keep]  # the sidebar's order


# ---------------------------------------------------------------- 1. execute

def _skip_flags():
    from nbdev.config import get_config
    return set(re.split(r"[\s|,]+", get_config().get("tst_flags", "") or "")) - {""}


def _skipped(cell, flags):
    "Cells nbdev_test would not run: `#| eval: false`, or a tst_flags directive."
    from nbdev.process import extract_directives
    if cell.cell_type != "code": return False
    d = extract_directives(nbformat.from_dict(dict(cell)), remove=False)
    return d.get("eval:", [""])[0].lower() == "false" or bool(flags & d.keys())


def execute_notebook(src: Path, dst: Path, timeout: int):
    "Run `src` in a fresh kernel, working directory `dst`'s folder; write it with its outputs to `dst`. Returns an error line or None."
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    nb = nbformat.read(src, as_version=4)
    flags, held = _skip_flags(), {}
    for i, c in enumerate(nb.cells):
        if _skipped(c, flags): held[i], c.source = c.source, ""  # nbclient skips empty cells
    err = None
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(dst.parent)}},
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])  # not its TCP notice, once per notebook
    try: client.execute()
    except (CellExecutionError, CellTimeoutError) as e:
        lines = [l for l in str(e).splitlines() if l.strip()]
        err = lines[-1] if lines else type(e).__name__
    for i, s in held.items(): nb.cells[i].source = s
    nbformat.write(nb, dst)
    return err


# ---------------------------------------------------------------- 2. process

def plotly_to_html(nb, depth: int):
    "Replace plotly's JSON outputs with HTML that draws them; the page's first figure loads the site's plotly.js."
    import plotly.io as pio
    first, n = True, 0
    for c in nb.cells:
        for o in c.get("outputs", []):
            data = o.get("data", {})
            if PLOTLY_MIME not in data: continue
            fig = dict(data[PLOTLY_MIME])
            config = fig.pop("config", None) or {}
            div = pio.to_html(fig, include_plotlyjs=False, full_html=False, validate=False, config=config,
                              div_id=f"fig-{n}", default_width="100%", default_height="525px")
            if first: div = f'<script src="{"../" * depth}{PLOTLY_JS}" charset="utf-8"></script>\n' + div
            o["data"] = {"text/html": div}
            first, n = False, n + 1
    return n


_re_csi = re.compile(r"\x1b\[(\d*)([A-Za-z])")


def terminal_text(text: str) -> str:
    "What a terminal shows after `text`: progress bars redrawn with \\r and cursor-up (tqdm) keep only their last state."
    rows, r, c, i = [[]], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "\x1b" and (m := _re_csi.match(text, i)):
            if m.group(2) == "A": r = max(0, r - int(m.group(1) or 1))
            i = m.end(); continue
        if ch == "\r": c = 0
        elif ch == "\n":
            r, c = r + 1, 0
            if r == len(rows): rows.append([])
        else:
            row = rows[r]
            if c < len(row): row[c] = ch
            else: row.append(ch)
            c += 1
        i += 1
    out = "\n".join("".join(row).rstrip() for row in rows).rstrip("\n")
    return out + "\n" if text.endswith("\n") else out


def clean_streams(nb):
    "Stream outputs as a terminal would show them (nbdev already strips ANSI colour codes from stdout)."
    for c in nb.cells:
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream" and ("\r" in o.text or "\x1b" in o.text): o.text = terminal_text(o.text)


_re_showdoc = re.compile(r"^show_doc", re.M)


def docs_filter():
    """nbdev's FilterDefaults (the processors nbdev_docs runs), with one substitution: its `exec_show_docs` renders
    show_doc by re-running, in a fresh shell, only the cells that import or export something, which fails when
    such a cell also uses a variable an earlier cell made (nbdev's FAQ: "cells containing imports and other code").
    The notebook has already run whole here, so show_doc runs against the notebook's exported module instead, and
    every other cell keeps the outputs of that run."""
    from execnb.shell import CaptureShell
    from nbdev.config import get_config
    from nbdev.process import Processor
    from nbdev.processors import FilterDefaults, exec_show_docs
    lib = get_config().lib_name

    class exec_show_docs_from_module(Processor):
        def begin(self):
            self.k = None
            if not getattr(self.nb, "has_docs_", None): return
            mods = [c.directives_["default_exp"][0] for c in self.nb.cells if "default_exp" in (getattr(c, "directives_", None) or {})]
            self.k = CaptureShell()
            self.k.run_cell("from nbdev.showdoc import show_doc")
            for m in mods:  # every name the module defines, private ones too (an explicit show_doc may name one)
                self.k.run_cell(f"import {lib}.{m} as _m; globals().update({{k: v for k, v in vars(_m).items() if not k.startswith('__')}})")
                if self.k.exc: raise RuntimeError(f"import {lib}.{m} failed") from self.k.exc

        def __call__(self, cell):
            if self.k is None or cell.cell_type != "code" or not _re_showdoc.search(cell.source): return
            if cell.get("outputs") and not getattr(cell, "has_sd", False): return  # an explicit show_doc the run rendered
            self.k.cell(cell)
            if self.k.exc: raise RuntimeError(f"cell {cell.idx_}: {cell.source.strip()!r} failed") from self.k.exc

    class DocsFilter(FilterDefaults):
        def base_procs(self): return [exec_show_docs_from_module if p is exec_show_docs else p for p in super().base_procs()]
    return DocsFilter


def process_notebook(src: Path, dst: Path, cwd: Path, depth: int):
    "nbdev's docs processing of `src` into `dst` (what nbdev_docs feeds Quarto), then plotly figures to HTML."
    import nbdev.serve_drv
    from nbdev.config import get_config
    get_config()  # read (and cache) settings.ini from the repository before leaving it
    here = os.getcwd()
    os.chdir(cwd)  # whatever show_doc's shell writes lands beside the executed copy
    try: nbdev.serve_drv.main((src, dst, docs_filter()))
    finally: os.chdir(here)
    nb = nbformat.read(dst, as_version=4)
    n = plotly_to_html(nb, depth)
    clean_streams(nb)
    nbformat.write(nb, dst)
    return n


def build_one(rel: str, work: Path, execute: bool, timeout: int):
    "Execute and process one notebook; returns (rel, error line or None, figures, seconds)."
    start = time.time()
    os.chdir(ROOT)
    src, exe, proc = ROOT / "nbs" / rel, work / "executed" / rel, work / "proc" / rel
    exe.parent.mkdir(parents=True, exist_ok=True); proc.parent.mkdir(parents=True, exist_ok=True)
    err = None
    if execute: err = execute_notebook(src, exe, timeout)
    else: shutil.copyfile(src, exe)
    try: n = process_notebook(exe, proc, exe.parent, rel.count("/"))
    except Exception as e:  # noqa: BLE001 -- reported with the notebook's name, the build fails at the end
        lines = [l for l in f"{e}\n{e.__cause__ or ''}".splitlines() if l.strip()]
        return rel, (err + "; " if err else "") + "nbdev processing: " + (lines[-1] if lines else type(e).__name__), 0, time.time() - start
    return rel, err, n, time.time() - start


# ---------------------------------------------------------------- 3. render (nbconvert)

def _alphabet(upper, lower=None, digits=None, **exceptions):
    "A Unicode mathematical alphabet: letter -> code point (with the letters Unicode placed elsewhere)."
    m = {chr(65 + k): chr(upper + k) for k in range(26)}
    if lower: m.update({chr(97 + k): chr(lower + k) for k in range(26)})
    if digits: m.update({chr(48 + k): chr(digits + k) for k in range(10)})
    m.update({k: chr(v) for k, v in exceptions.items()})
    return m


# MathML Core (what Chromium draws) ignores mathvariant other than "normal": spell such letters in Unicode instead
MATH_ALPHABETS = {
    "bold": _alphabet(0x1D400, 0x1D41A, 0x1D7CE),
    "italic": _alphabet(0x1D434, 0x1D44E, h=0x210E),
    "bold-italic": _alphabet(0x1D468, 0x1D482),
    "script": _alphabet(0x1D49C, 0x1D4B6, B=0x212C, E=0x2130, F=0x2131, H=0x210B, I=0x2110, L=0x2112, M=0x2133,
                        R=0x211B, e=0x212F, g=0x210A, o=0x2134),
    "fraktur": _alphabet(0x1D504, 0x1D51E, C=0x212D, H=0x210C, I=0x2111, R=0x211C, Z=0x2128),
    "double-struck": _alphabet(0x1D538, 0x1D552, 0x1D7D8, C=0x2102, H=0x210D, N=0x2115, P=0x2119, Q=0x211A,
                               R=0x211D, Z=0x2124),
}
_re_variant = re.compile(r'<(mi|mn|mtext)([^>]*?) mathvariant="([\w-]+)"([^>]*)>([^<]*)</\1>')


def latex_to_mathml(tex: str, display: str) -> str:
    "LaTeX to MathML that Chromium, Firefox and Safari draw natively, with no script and no network."
    from latex2mathml.converter import convert
    def letters(m):
        tag, pre, variant, post, text = m.groups()
        alphabet = MATH_ALPHABETS.get(variant)
        if alphabet is None: return m.group(0)
        text = "".join(alphabet.get(ch, ch) for ch in html.unescape(text))
        if tag == "mi" and len(text) == 1: post += ' mathvariant="normal"'  # no extra italic on a styled letter
        return f"<{tag}{pre}{post}>{html.escape(text, quote=False)}</{tag}>"
    return _re_variant.sub(letters, convert(tex.strip(), display=display))


_math_errors: list = []


def _mathml(tex, display):
    try: return latex_to_mathml(tex, display)
    except Exception as e:  # noqa: BLE001 -- shown raw and reported, the build goes on
        _math_errors.append(f"{tex!r}: {e}")
        return f'<code class="math-error">{html.escape(tex)}</code>'


_re_pandoc_link = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)\{([^}]*)\}")


def pandoc_links(md: str) -> str:
    "`[text](url){key=\"v\" .class}` (pandoc's link attributes, which show_doc writes for Quarto) as an HTML link."
    def sub(m):
        text, url, attrs = m.groups()
        kv = dict(re.findall(r'([\w-]+)="([^"]*)"', attrs))
        classes = re.findall(r"(?:^|\s)\.([\w-]+)", attrs)
        if classes: kv["class"] = " ".join(classes)
        a = "".join(f' {k}="{html.escape(v)}"' for k, v in kv.items())
        return f'<a href="{html.escape(url)}"{a}>{html.escape(text)}</a>'
    return _re_pandoc_link.sub(sub, md)


def make_exporter():
    "nbconvert's body-only HTML exporter, with equations as MathML and pandoc link attributes understood."
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
    from jinja2 import pass_context
    from traitlets.config import Config

    class MathMLRenderer(IPythonRenderer):
        def block_math(self, body): return _mathml(body, "block")
        def inline_math(self, body): return _mathml(body, "inline")
        def latex_environment(self, name, body): return _mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", "block")

    class SiteExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context, source):
            cell = context.get("cell", {})
            renderer = MathMLRenderer(escape=False, attachments=cell.get("attachments", {}), anchor_link_text="",
                                      exclude_anchor_links=True)
            return MarkdownWithMath(renderer=renderer).render(pandoc_links(source))

    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = {"quarto-echo-false"}
    c.TagRemovePreprocessor.remove_all_outputs_tags = {"quarto-output-false"}
    return SiteExporter(config=c, template_name="basic", exclude_input_prompt=True, exclude_output_prompt=True)


_re_option = re.compile(r"^\s*#\|\s*([\w-]+)\s*:(.*)$")


def apply_cell_options(nb):
    "What Quarto does with the `#| key: value` lines nbdev leaves in code cells: obey echo/output/include, drop the lines."
    cells = []
    for c in nb.cells:
        if c.cell_type == "code":
            lines, opts = c.source.splitlines(), {}
            while lines and (m := _re_option.match(lines[0])):
                opts[m.group(1)] = yaml.safe_load(m.group(2).strip() or "null"); lines.pop(0)
            c.source = "\n".join(lines).strip("\n")
            if opts.get("include") is False: continue
            tags = c.metadata.setdefault("tags", [])
            if opts.get("echo") is False or not c.source.strip(): tags.append("quarto-echo-false")
            if opts.get("output") is False: tags.append("quarto-output-false")
            if not c.source.strip() and not c.get("outputs"): continue
        cells.append(c)
    nb.cells = cells


def front_matter(nb):
    "The YAML of nbdev's front-matter raw cell (title, description, output-file), removed from the notebook."
    for i, c in enumerate(nb.cells):
        if c.cell_type == "raw" and c.source.lstrip().startswith("---"):
            fm = yaml.safe_load(c.source.strip().strip("-")) or {}
            del nb.cells[i]
            return fm
    return {}


SITE_CSS = """
:root { --accent: #2780e3; --border: #dee2e6; --muted: #6c757d; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #212529; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
.site-navbar { background: var(--accent); color: #fff; padding: .6rem 1.2rem; display: flex; gap: 1rem; align-items: baseline; }
.site-navbar a { color: #fff; } .site-navbar .brand { font-weight: 600; font-size: 1.15rem; } .site-navbar .right { margin-left: auto; }
.site-layout { display: flex; align-items: flex-start; max-width: 1400px; margin: 0 auto; }
.site-sidebar { flex: 0 0 250px; position: sticky; top: 0; max-height: 100vh; overflow-y: auto; padding: 1.2rem 1rem; font-size: .92rem; border-right: 1px solid var(--border); }
.site-sidebar .section { margin: 1rem 0 .3rem; font-weight: 600; color: var(--muted); font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; }
.site-sidebar ul { list-style: none; margin: 0; padding: 0; } .site-sidebar li { margin: .15rem 0; }
.site-sidebar a.active { font-weight: 600; color: #212529; }
.site-content { flex: 1 1 auto; min-width: 0; padding: 1.2rem 2rem 3rem; max-width: 1000px; }
.site-content h1.title { margin-bottom: .2rem; }
.page-nav { display: flex; justify-content: space-between; margin-top: 3rem; padding-top: 1rem; border-top: 1px solid var(--border); }
pre { overflow-x: auto; } code { font-size: .9em; }
.input_area .highlight, .rendered_html .highlight { background: #f8f9fa; border-radius: 4px; padding: .5rem .8rem; margin: .4rem 0; }
.output_area pre { margin: .2rem 0 .2rem .8rem; padding-left: .6rem; border-left: 2px solid lightsalmon; white-space: pre-wrap; }
.output_stderr pre { color: #6c757d; }
.output_markdown h3 { margin-top: 1.6rem; } .output_markdown hr { border: 0; border-top: 1px solid var(--border); }
table { border-collapse: collapse; margin: .6rem 0; font-size: .9rem; }
th, td { border: 1px solid var(--border); padding: .25rem .55rem; text-align: left; vertical-align: top; }
thead th { background: #f1f3f5; }
math[display="block"] { margin: .8rem 0; font-size: 1.1em; }
.math-error { color: #b00020; }
img { max-width: 100%; }
"""


def page_html(title, description, body, nav, up, prev_next):
    "The page shell: navbar, sidebar of every page, title block, the notebook, previous/next links."
    prev, nxt = prev_next
    pn = (f'<a href="{prev[0]}">&larr; {html.escape(prev[1])}</a>' if prev else "<span></span>") + \
         (f'<a href="{nxt[0]}">{html.escape(nxt[1])} &rarr;</a>' if nxt else "<span></span>")
    desc = f'<p class="description">{html.escape(description)}</p>' if description else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} &ndash; drf_nb</title>
<link rel="stylesheet" href="{up}site.css"><link rel="stylesheet" href="{up}styles.css"></head>
<body>
<header class="site-navbar"><a class="brand" href="{up}index.html">drf_nb</a><span class="right"><a href="https://github.com/drf-nb/drf_nb">GitHub</a></span></header>
<div class="site-layout">
<nav class="site-sidebar">{nav}</nav>
<main class="site-content">
<header class="title-block"><h1 class="title">{html.escape(title)}</h1>{desc}</header>
{body}
<nav class="page-nav">{pn}</nav>
</main></div></body></html>
"""


def render_nbconvert(pages, proc: Path, out: Path, site_url: str):
    "Every processed notebook to a page under `out`, named as Quarto names it (front matter's output-file)."
    from pygments.formatters import HtmlFormatter
    exporter = make_exporter()
    metas = []
    for section, rel in pages:
        nb = nbformat.read(proc / rel, as_version=4)
        fm = front_matter(nb)
        href = str(Path(rel).parent / fm.get("output-file", Path(rel).stem + ".html")).removeprefix("./")
        metas.append((section, rel, href, str(fm.get("title") or Path(rel).stem), str(fm.get("description") or ""), nb))
    site_url = site_url.rstrip("/") + "/"
    for i, (section, rel, href, title, description, nb) in enumerate(metas):
        up = "../" * href.count("/")
        groups = []  # [(section, [li, ...])] in the sidebar's order
        for s, _, h, t, _, _ in metas:
            if not groups or groups[-1][0] != s: groups.append((s, []))
            cls = ' class="active"' if h == href else ""
            groups[-1][1].append(f'<li><a href="{up}{h}"{cls}>{html.escape(t)}</a></li>')
        nav = "".join((f'<div class="section">{html.escape(s)}</div>' if s else "") + "<ul>" + "".join(li) + "</ul>"
                      for s, li in groups)
        apply_cell_options(nb)
        _math_errors.clear()
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
        for e in _math_errors: print(f"  {rel}: equation not converted to MathML: {e}")
        body = body.replace(f'href="{site_url}', f'href="{up}')  # nbdev's doc links point at the deployed site
        prev = (up + metas[i - 1][2], metas[i - 1][3]) if i else None
        nxt = (up + metas[i + 1][2], metas[i + 1][3]) if i + 1 < len(metas) else None
        dest = out / href
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(page_html(title, description, body, nav, up, (prev, nxt)))
    (out / "site.css").write_text(SITE_CSS + HtmlFormatter(style="default").get_style_defs(".highlight"))
    for f in ("styles.css", PLOTLY_JS): shutil.copyfile(proc / f, out / f)
    return [m[2] for m in metas]


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--renderer", choices=["auto", "quarto", "nbconvert"], default="auto",
                    help="auto: Quarto where installed, else nbconvert")
    ap.add_argument("--only", nargs="+", metavar="NB", help="build only these notebooks (e.g. 06_prompts repro/table4_ablation)")
    ap.add_argument("--no-execute", dest="execute", action="store_false", help="render the notebooks as committed (no outputs)")
    ap.add_argument("--jobs", type=int, default=2, help="notebooks executed at once")
    ap.add_argument("--timeout", type=int, default=900, help="seconds one cell may run")
    ap.add_argument("--out", help="site folder (default: _docs/ for Quarto, _site/ for nbconvert)")
    ap.add_argument("--work", default=str(ROOT / "_docs_build"), help="executed and processed notebooks go here")
    args = ap.parse_args()
    renderer = args.renderer
    if renderer == "auto": renderer = "quarto" if shutil.which("quarto") else "nbconvert"
    if renderer == "quarto" and not shutil.which("quarto"): raise SystemExit("--renderer quarto: quarto is not on PATH")
    out = Path(args.out or ROOT / ("_docs" if renderer == "quarto" else "_site")).resolve()
    work = Path(args.work).resolve()
    for name, d in (("--out", out), ("--work", work)):  # both are emptied first: never the checkout or a folder above it
        if d == ROOT or ROOT.is_relative_to(d) or d.is_relative_to(ROOT / "nbs") or (d / ".git").exists():
            raise SystemExit(f"{name} {d}: refusing to empty it (it holds the repository or the notebooks)")
    pages = select_pages(sidebar_pages(), args.only)
    for d in (work / "executed", work / "proc", out): shutil.rmtree(d, ignore_errors=True)
    (work / "proc").mkdir(parents=True)
    for f in ("_quarto.yml", "styles.css"): shutil.copyfile(ROOT / "nbs" / f, work / "proc" / f)
    import plotly
    shutil.copyfile(Path(plotly.__file__).parent / "package_data" / PLOTLY_JS, work / "proc" / PLOTLY_JS)

    # the kernels and the workers inherit these: figures as plotly JSON, nothing downloaded
    os.environ.update(PLOTLY_RENDERER="plotly_mimetype", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # tqdm.auto's notice that ipywidgets is missing (the kernels have no widget front end): not the notebooks' output
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), "ignore:IProgress not found"]))
    start, failed, figures = time.time(), [], 0
    step = "executing and processing" if args.execute else "processing"
    # a fresh process per notebook: nbdev's show_doc shell replaces the worker's __main__, and kernels stay apart
    with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
        futs = [pool.submit(build_one, rel, work, args.execute, args.timeout) for _, rel in pages]
        for f in tqdm(as_completed(futs), total=len(futs), desc=step):
            rel, err, n, secs = f.result()
            figures += n
            tqdm.write(f"  {rel}: {secs:.0f}s" + (f", {n} figure(s)" if n else "") + (f"  FAILED: {err}" if err else ""))
            if err: failed.append((rel, err))
    t_exec = time.time() - start

    if renderer == "quarto":
        subprocess.run(["quarto", "render", "--no-execute", "--no-cache"], cwd=work / "proc", check=True)
        shutil.move(str(work / "proc" / "_docs"), str(out))
    else:
        q = yaml.safe_load((ROOT / "_quarto.yml").read_text())
        hrefs = render_nbconvert(pages, work / "proc", out, q["website"].get("site-url", ""))
        print(f"pages: {', '.join(hrefs)}")
    print(f"wrote {len(pages)} pages ({figures} plotly figures) with {renderer} under {out}/ (open {out}/index.html) "
          f"in {time.time() - start:.0f}s ({t_exec:.0f}s executing and processing)")
    for rel, why in failed: print(f"  failed: {rel}: {why}")
    if failed: raise SystemExit(1)


if __name__ == "__main__":
    main()
