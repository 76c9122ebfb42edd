"""The docs site as a reader meets it: scripts/build_html_site.py's nbconvert pages for a few notebooks, opened in
headless Chromium (Debian's `chromium`) with every host name unresolvable, so anything the pages fetch from the
network is missing. Checked on the DOM after the pages' scripts ran, and on a screenshot."""
import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium), "
                                                          "so the docs pages cannot be opened in a browser")

# notebook -> page; together they have hidden and exported cells with show_doc (06_prompts), display equations
# (04_sampling), inline equations (index) and plotly figures (a repro notebook at its smoke defaults)
PAGES = {"index": "index.html", "06_prompts": "prompts.html", "04_sampling": "sampling.html",
         "repro/fig2_8_gradient_heatmaps": "repro/fig2_8_gradient_heatmaps.html"}
FIGURE_NB = "repro/fig2_8_gradient_heatmaps"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
LATEX = re.compile(r"\$\$|\\(?:frac|sum|mathcal|mathbf|mathrm|log|text|partial|nabla|mid|leftarrow|qquad)\b")
DIRECTIVE = re.compile(r"#\|\s*[A-Za-z_]")  # `#| export`, `#| echo: false`; not a tqdm bar's "|###| 2/2"


def files_beside_notebooks():
    "Every file under nbs/ but the notebooks (which other work may add), ignored ones included (runs/, caches)."
    return {p for p in (ROOT / "nbs").rglob("*") if p.is_file() and p.suffix != ".ipynb"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("docs")
    before = files_beside_notebooks()
    r = subprocess.run([sys.executable, "scripts/build_html_site.py", "--renderer", "nbconvert", "--only", *PAGES,
                        "--out", str(tmp / "site"), "--work", str(tmp / "work"), "--jobs", "2"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    assert files_beside_notebooks() <= before, ("building the docs wrote into nbs/", files_beside_notebooks() - before)
    return tmp


_profiles = iter(range(10**6))


def chromium(site, page, *args):
    "Run headless Chromium on a built page (a new empty profile each time, no network); returns stdout."
    profile = site / f"profile-{next(_profiles)}"
    profile.mkdir()
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=15000",
           *args, (site / "site" / page).as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def dom(site, page):
    return BeautifulSoup(chromium(site, page, "--dump-dom"), "html.parser")


def prose(soup):
    "The page's text outside code blocks (where a LaTeX command or a `#|` line would be a rendering failure)."
    main = soup.select_one("main")
    for el in main.select("pre, code, .input_area"): el.decompose()
    return main.get_text("\n")


def source_cells(nb_name, kind="code"):
    return [c for c in nbformat.read(ROOT / "nbs" / f"{nb_name}.ipynb", as_version=4).cells if c.cell_type == kind]


def evidence_lines(cell):
    "Lines of a cell's code that only a shown cell would put on the page: no directive, signature, decorator or text."
    src = "\n".join(l for l in cell.source.splitlines() if not l.lstrip().startswith("#|"))
    tree, lines = ast.parse(src), src.splitlines()
    in_strings = {i for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                  for i in range(n.lineno, n.end_lineno + 1)}  # a prompt's text may also be printed by a shown cell
    return [l.strip() for i, l in enumerate(lines, 1) if i not in in_strings and len(l.strip()) > 20
            and not l.strip().startswith(("def ", "class ", "@", ")", "#"))]


def test_every_page_reads_as_the_site(site):
    for nb_name, page in PAGES.items():
        soup = dom(site, page)
        title = source_cells(nb_name, "markdown")[0].source.splitlines()[0].lstrip("# ").strip()
        assert soup.select_one("h1.title").get_text(strip=True) == title, page
        assert title in soup.title.get_text()
        links = [a["href"] for a in soup.select("nav.site-sidebar a")]
        assert len(links) == len(PAGES), (page, links)
        for href in links: assert (site / "site" / page).parent.joinpath(href).resolve().is_file(), (page, href)
        assert soup.select_one("nav.site-sidebar a.active")["href"].endswith(Path(page).name)


def test_no_directives_no_hidden_cells_show_doc_rendered(site):
    for nb_name, page in PAGES.items():
        soup = dom(site, page)
        text = soup.select_one("main").get_text()
        assert not DIRECTIVE.search(text), (page, DIRECTIVE.search(text))
        assert "default_exp" not in text and "show_doc(" not in text, page
    soup = dom(site, PAGES["06_prompts"])
    text = soup.select_one("main").get_text()
    cells = source_cells("06_prompts")
    hidden = [c for c in cells if re.search(r"^#\|\s*(hide|export)\s*$", c.source, re.M)]
    shown = [c for c in cells if not c.source.startswith("#|")]
    hidden_lines = [l for c in hidden for l in evidence_lines(c)]
    shown_lines = [l for c in shown for l in evidence_lines(c)]
    assert len(hidden_lines) > 5 and shown_lines, "06_prompts no longer has the cells this test looks for"
    assert all(l in text for l in shown_lines), [l for l in shown_lines if l not in text][:3]
    assert not [l for l in hidden_lines if l in text], [l for l in hidden_lines if l in text][:3]
    # show_doc: every exported function has its heading and signature
    exported = [m for c in hidden for m in re.findall(r"^def ([a-z]\w*)\(", c.source, re.M)]
    headings = {h.get_text(strip=True) for h in soup.select("h3")}
    assert exported and set(exported) <= headings, set(exported) - headings
    assert any(f"def {exported[0]}(" in pre.get_text() for pre in soup.select("pre"))


def test_equations_are_mathml_not_latex(site):
    for nb_name in ("index", "04_sampling"):
        soup = dom(site, PAGES[nb_name])
        md = "\n".join(c.source for c in source_cells(nb_name, "markdown"))
        n_display = len(re.findall(r"\$\$.+?\$\$", md, re.S))
        n_inline = len(re.findall(r"(?<![$\\])\$[^$\n]+?\$", re.sub(r"\$\$.+?\$\$|```.*?```|`[^`]*`", "", md, flags=re.S)))
        assert n_display + n_inline > 0
        maths = soup.select("math")
        assert len(maths) >= n_display + n_inline, (nb_name, len(maths), n_display, n_inline)
        assert len(soup.select('math[display="block"]')) >= n_display
        text = prose(soup)
        assert not LATEX.search(text), (nb_name, LATEX.search(text))
        # the browser laid the formulas out (MathML boxes have a size), they are not plain text
        assert all(m.select("mi, mo, mn") for m in maths)


def test_plotly_figures_drawn_offline(site):
    executed = nbformat.read(site / "work" / "executed" / f"{FIGURE_NB}.ipynb", as_version=4)
    n = sum(PLOTLY_MIME in o.get("data", {}) for c in executed.cells for o in c.get("outputs", []))
    assert n >= 1, "the figure notebook displayed no plotly figure"
    page = PAGES[FIGURE_NB]
    html = (site / "site" / page).read_text()
    assert not re.search(r'<(?:script|link)[^>]+(?:src|href)="(?:https?:)?//', html), "the page loads something from the network"
    assert (site / "site" / "plotly.min.js").stat().st_size > 1_000_000
    soup = dom(site, page)
    figs = soup.select("div.plotly-graph-div")
    assert len(figs) == n and all(f.select("svg.main-svg") for f in figs), (len(figs), n)  # plotly.js drew each one
    # with their data drawn: line and bar traces as g.trace, image traces (go.Image: frames, heatmaps) as <image> in g.imagelayer
    assert all(f.select("g.trace") or f.select("g.imagelayer image") for f in figs)


def test_screenshot_shows_the_page(site):
    from PIL import Image
    png = site / "figure.png"
    chromium(site, PAGES[FIGURE_NB], f"--screenshot={png}", "--window-size=1280,1600", "--hide-scrollbars")
    im = Image.open(png).convert("RGB")
    assert im.size == (1280, 1600)
    navbar = im.crop((0, 0, 1280, 30)).getcolors(1280 * 30)
    assert max(navbar)[1] == (39, 128, 227), max(navbar)  # the site's navbar: the stylesheet loaded
    assert len(im.getcolors(1280 * 1600)) > 50  # text, code and a figure, not a blank page
