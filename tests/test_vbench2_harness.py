"""The VBench-2.0 harness (`drf_nb.evaluation`) against the real evaluator, `vbench2` 0.1.1.

vbench2 cannot be installed beside drf_nb's pins (pip: ResolutionImpossible on diffusers, transformers, torch...), so CI
cannot import it. `tests/fixtures/vbench2/make_fixture.py` records, from the installed package's own code, its API, its
dimension names and the files its `VBench2.evaluate` wrote when `run_vbench2` ran it on videos from
`generate_vbench2_videos`; these tests hold the harness to that record, offline, in seconds.
"""
import ast
import json
from pathlib import Path

import pytest

from drf_nb import evaluation as ev

FIX = Path(__file__).parent / "fixtures" / "vbench2"
IFACE = json.loads((FIX / "interface.json").read_text())
RESULTS = FIX / "results"
REGENERATE = "regenerate tests/fixtures/vbench2 with its make_fixture.py (see its docstring)"


def test_record_is_of_this_harness():
    assert IFACE["version"] == ev.VBENCH2_VERSION, REGENERATE
    assert IFACE["runner"] == ev.VBENCH2_RUNNER, f"VBENCH2_RUNNER changed since the recorded run used it: {REGENERATE}"
    assert IFACE["result_files"] == [f"{d}_eval_results.json" for d in IFACE["dimensions"]]


def _call(attr):
    "The one call in the runner to `<something>.<attr>(...)`."
    calls = [n for n in ast.walk(ast.parse(ev.VBENCH2_RUNNER))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == attr]
    assert len(calls) == 1, f"the runner calls .{attr}() {len(calls)} times"
    return calls[0]


@pytest.mark.parametrize("attr,api", [("VBench2", "VBench2.__init__"), ("evaluate", "VBench2.evaluate")])
def test_runner_passes_what_the_api_accepts(attr, api):
    call = _call(attr)
    params = [p for p in IFACE["api"][api] if p["name"] != "self"]
    named = [p["name"] for p in params if p["kind"] in ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY")]
    positional = [p["name"] for p in params if p["kind"] == "POSITIONAL_OR_KEYWORD"]
    keywords = {k.arg for k in call.keywords}
    assert len(call.args) <= len(positional), f"{api} takes {len(positional)} positional arguments"
    # evaluate() also takes **kwargs and hands them to every dimension's scorer: a misspelt keyword would vanish there
    assert keywords <= set(named), f"{api} has no parameter {sorted(keywords - set(named))}"
    given = set(positional[:len(call.args)]) | keywords
    required = {p["name"] for p in params if p["kind"] == "POSITIONAL_OR_KEYWORD" and not p["has_default"]}
    assert required <= given, f"the runner leaves {sorted(required - given)} of {api} unset"


def test_runner_uses_the_standard_mode():
    mode = next(k.value.value for k in _call("evaluate").keywords if k.arg == "mode")
    choices = next(f["choices"] for f in IFACE["cli_evaluate_flags"] if f["dest"] == "mode")
    assert mode in choices, f"mode {mode!r}; the package offers {choices}"


def test_dimension_names_match_the_package():
    # VBench2.evaluate runs module vbench2.<name in lower case, '-' as '_'> and its compute_<module>
    assert sorted(d.lower().replace("-", "_") for d in ev.VBENCH2_DIMENSIONS) == IFACE["dimension_modules"]
    # its model set-up compares names exactly: every name it knows is ours, letter for letter (Diversity needs no model)
    assert set(ev.VBENCH2_DIMENSIONS) - set(IFACE["init_submodules_names"]) == {"Diversity"}
    assert set(IFACE["init_submodules_names"]) <= set(ev.VBENCH2_DIMENSIONS)
    # its own list of all dimensions spells one differently ('Complex_LandScape'); the parser still maps each to ours
    assert sorted(ev.dimension_key(d) for d in IFACE["default_dimension_list"]) == sorted(ev.VBENCH2_DIMENSIONS)


@pytest.mark.parametrize("dim", IFACE["dimensions"])
def test_evaluator_finds_the_generated_videos(dim):
    videos = Path(IFACE["videos_dir"])
    info = json.loads((RESULTS / f"{dim}_full_info.json").read_text())  # its prompt list with the videos it found
    # it looked for the same prompts as the harness, and found exactly the videos the generator wrote (limit=1: the first)
    assert [e["prompt_en"] for e in info] == [r["prompt"] for r in ev.vbench2_prompts(dim, augmented=False)]
    found = [Path(v) for e in info for v in e["video_list"]]
    assert sorted(p.relative_to(videos).as_posix() for p in found) == [g for g in IFACE["generated"] if g.startswith(f"{dim}/")]
    first = info[0]["prompt_en"]
    assert found == [ev.vbench2_video_path(videos, dim, first, i) for i in range(20 if dim == "Diversity" else 3)]
    assert found == ev.vbench2_expected_videos(videos, dim)[:len(found)]


def test_parser_reads_what_the_package_wrote():
    raw = {d: json.loads((RESULTS / f"{d}_eval_results.json").read_text()) for d in IFACE["dimensions"]}
    assert all(list(r) == [d] for d, r in raw.items())  # one run, one dimension, keyed by the name it was given
    scores = ev.read_vbench2_dimension_scores(RESULTS)  # the folder also holds its *_full_info.json: not results
    assert scores == {d: raw[d][d][0] for d in IFACE["dimensions"]}
    # make_fixture's stand-in scorer: videos 0, 1, 2 of a prompt score 1, 0, 0.5; Diversity 0.25 per prompt
    assert scores == {"Material": 0.5, "Diversity": 0.25, "Multi-View_Consistency": 0.5}
    s = ev.parse_vbench2_results(RESULTS)
    assert s.attrs["missing"] == [d for d in ev.VBENCH2_DIMENSIONS if d not in scores]
    assert (s["Material"], s["Diversity"], s["Multi-View Consistency"]) == (50, 25, 50)
    assert s["Creativity"] == pytest.approx(25 / 2) and s["Physics"] == pytest.approx(100 / 4)
    assert s["Overall"] == pytest.approx((12.5 + 25) / 5)
    per_video = ev.read_vbench2_video_results(RESULTS)
    assert per_video.groupby("dimension").size().to_dict() == {"Diversity": 1, "Material": 3, "Multi-View_Consistency": 3}
    assert {Path(p).relative_to(IFACE["videos_dir"]).as_posix() for p in per_video.video_path} <= set(IFACE["generated"])
