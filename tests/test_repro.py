"""Smoke runs of the paper's table/figure notebooks (nbs/repro) with papermill, and checks of the tables they write."""
import ast
import json
import logging
import math
import os
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
REPRO = ROOT / "nbs" / "repro"
sys.path.insert(0, str(ROOT))
import papermill as pm  # noqa: E402  (a dev requirement: a missing papermill must fail, not skip)
from drf_nb.config import load_config  # noqa: E402
from drf_nb.evaluation import PAPER_TABLES, VBENCH2_DIMENSIONS  # noqa: E402

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")

# notebook -> (table file stem, paper table key or None)
NOTEBOOKS = {
    "table2_vbench": ("table2", "table2"),
    "table4_ablation": ("table4", "table4"),
    "table6_cogvideox": ("table6", "table6"),
    "table7_ablation": ("table7", "table7"),
    "fig6_pairwise": ("fig6", "fig6"),
    "fig2_8_gradient_heatmaps": ("fig2_8", None),
    "fig7_training_dynamics": ("fig7", None),
    "fig9_10_single_prompt": ("fig9_10", None),
}


def test_every_repro_notebook_is_listed_and_parameterised():
    on_disk = sorted(p.stem for p in REPRO.glob("*.ipynb"))
    assert on_disk == sorted(NOTEBOOKS), on_disk
    for n in on_disk:
        nb = json.loads((REPRO / f"{n}.ipynb").read_text())
        params = [c for c in nb["cells"] if c["cell_type"] == "code" and "out_dir =" in "".join(c["source"])]
        assert len(params) == 1 and "preset =" in "".join(params[0]["source"]), n
        # papermill injects parameters after the cell tagged "parameters" (settings.ini keeps tags through nbdev_clean)
        assert "parameters" in params[0].get("metadata", {}).get("tags", []), f"{n}: parameters cell is not tagged"


def parameters_cell(name) -> str:
    nb = json.loads((REPRO / f"{name}.ipynb").read_text())
    return "".join(next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))["source"])


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_parameters_cell_parses_cleanly(name, caplog):
    """papermill reads every parameter of the cell, with its literal default, and logs no warning (`Unable to parse line`:
    a second '=' on a line, a multi-line value); a parameter it cannot read could not be overridden with -p."""
    with caplog.at_level(logging.WARNING, logger="papermill"):
        inferred = pm.inspect_notebook(str(REPRO / f"{name}.ipynb"))
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    body = ast.parse(parameters_cell(name)).body
    assert all(isinstance(n, ast.Assign) and len(n.targets) == 1 for n in body), f"{name}: only `name = literal` lines"
    assigned = {n.targets[0].id: ast.literal_eval(n.value) for n in body}  # raises on anything but a literal
    assert set(inferred) == set(assigned), (name, set(assigned) ^ set(inferred))
    for k, v in assigned.items(): assert ast.literal_eval(inferred[k]["default"]) == v, (name, k)


def output_texts(executed: Path):
    "The text of every output of an executed notebook: streams, errors, and the plain-text form of results."
    for c in json.loads(executed.read_text())["cells"]:
        for o in c.get("outputs", []):
            if o["output_type"] == "stream": yield "".join(o["text"])
            elif o["output_type"] == "error": yield f"{o['ename']}: {o['evalue']}"
            else: yield "".join(o.get("data", {}).get("text/plain", ""))


def run(name, out, **params):
    pm.execute_notebook(str(REPRO / f"{name}.ipynb"), str(out / f"{name}.ipynb"), kernel_name="python3",
                        cwd=str(REPRO), parameters={"out_dir": str(out), **params}, progress_bar=False)
    return out / f"{name}.ipynb"


def check_paper_rows(table: pd.DataFrame, key: str):
    t = PAPER_TABLES[key]
    for c in t["columns"]: assert c in table.columns, (key, c)
    paper = table[table["Source"].str.startswith("paper")]
    assert list(paper.index) == list(t["rows"]), paper.index
    for name, values in t["rows"].items():
        assert paper.loc[name, t["columns"]].astype(float).tolist() == pytest.approx(values), (key, name)


def table7_grid() -> set:
    "Table 7's sweeps as (N_f, K) points: its N_f rows at the paper's K, its K rows at the paper's N_f."
    paper = load_config("paper")
    rows = PAPER_TABLES["table7"]["rows"]
    return ({(int(r[len("N_f = "):]), paper.sampling.backprop_steps) for r in rows if r.startswith("N_f = ")}
            | {(paper.reward.num_frames, int(r[len("K = "):])) for r in rows if r.startswith("K = ")})


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_repro_notebook_smoke(name, tmp_path, caplog):
    params = {}
    # a stale smoke checkpoint, as a second run into the same out_dir finds: the run starts again instead of failing
    stale = tmp_path / "train" / "checkpoints" / "step_0000001"; stale.mkdir(parents=True)
    (stale / "trainer_state.json").write_text(json.dumps({"step": 1, "num_processes": 1}))
    if name == "table2_vbench":
        # one model's VBench-2.0 results given as a file in the evaluator's format: its row is parsed, the others are "not evaluated"
        res = tmp_path / "given" / "drf_eval_results.json"; res.parent.mkdir()
        res.write_text(json.dumps({d: [0.5, []] for d in VBENCH2_DIMENSIONS}))
        params["results"] = {"Diffusion-DRF (7B) [tiny preset]": str(res.parent)}
    with caplog.at_level(logging.WARNING, logger="papermill"):
        executed = run(name, tmp_path, **params)
    assert not caplog.records, [r.getMessage() for r in caplog.records]  # e.g. "Passed unknown parameter"
    warned = [t for t in output_texts(executed) if re.search(r"warn", t, re.IGNORECASE)]
    assert not warned, f"{name}: warnings in the outputs: {warned}"  # TqdmWarning, FutureWarning, a library's logged warning
    stem, key = NOTEBOOKS[name]
    for ext in ("csv", "json", "html"): assert (tmp_path / f"{stem}.{ext}").stat().st_size > 0, (name, ext)
    html = (tmp_path / f"{stem}.html").read_text()
    assert "plotly.js v" in html and 'src="https://cdn.plot.ly' not in html, name  # plotly.js embedded: opens offline
    table = pd.read_csv(tmp_path / f"{stem}.csv", index_col=0)
    doc = json.loads((tmp_path / f"{stem}.json").read_text())
    assert doc["rows"]
    if key is not None:
        check_paper_rows(table, key)
        assert doc["source"] == PAPER_TABLES[key]["source"]
        ours = table[~table["Source"].str.startswith("paper")]
        assert len(ours) >= 1 and ours["Source"].str.startswith("this run").all(), ours["Source"]
    if name == "table2_vbench":
        ours = table[~table["Source"].str.startswith("paper")]
        assert ours.loc["Diffusion-DRF (7B) [tiny preset]", "Overall"] == pytest.approx(50.0)
        assert ours.loc["Diffusion-DRF (7B) [tiny preset]", "Material"] == pytest.approx(50.0)
        base = ours.loc["Wan2.1-1.3B-T2V [tiny preset]"]
        assert pd.isna(base["Overall"]) and "not evaluated" in base["Source"]
        assert list((tmp_path / "videos" / "base" / "Material").glob("*-0.mp4"))
        # every baseline row trained and generated: the paper's label [tiny preset], its videos, a finite training reward
        rows = {"vanilla_drf": "Vanilla-DRF (7B)", "pickscore": "PickScore", "videoalign": "VideoAlign", "flow_grpo": "Flow-GRPO",
                "flow_dpo": "Flow-DPO"}
        for method, row in rows.items():
            assert "not evaluated" in ours.loc[f"{row} [tiny preset]", "Source"], row
            assert list((tmp_path / "videos" / method / "Material").glob("*-0.mp4")), method
        log = pd.DataFrame(doc["train_log"])
        assert set(log["method"]) == {*rows, "diffusion_drf"} and log["reward_value"].map(math.isfinite).all(), log
        assert (log.loc[log["method"].str.startswith("flow_"), "reward"] == "videoalign").all(), log
        # the toy world's rows: every method trained from the same base on the same data and judged on the same captions
        world = pd.read_csv(tmp_path / "table2_world.csv", index_col=0)
        assert list(world.index) == ["base model", "Diffusion-DRF", "Flow-RWR (Diffusion-DRF reward)"], world.index
        scores = world[["TA score", "Phy score", "VQ score"]]
        assert scores.stack().between(0, 1).all() and (world.loc["base model", [c for c in world if c.endswith("change")]] == 0).all(), world
        for m in ("TA score", "Phy score", "VQ score"):
            assert (world[f"{m} change"] - (world[m] - world.loc["base model", m])).abs().max() < 2e-3, world
        wdoc = json.loads((tmp_path / "table2_world.json").read_text())
        assert [r["trainer"] for r in wdoc["runs"]] == ["DRFTrainer", "FlowRWRTrainer"] and wdoc["rl_reward"] == "diffusion_drf", wdoc["runs"]
        paper = {r["method"]: r["paper Overall change"] for r in wdoc["beside_paper"]}
        assert paper["Diffusion-DRF"] == pytest.approx(55.38 - 52.99) and paper["Flow-RWR (Diffusion-DRF reward)"] is None, paper  # no paper row: NaN
    if name == "fig7_training_dynamics":
        assert set(table.index) == {"PickScore", "VideoAlign", "Vanilla-DRF", "Diffusion-DRF"} and table["score"].notna().all()
        assert table["train_reward"].map(math.isfinite).all(), table
        # the toy world's judged curves: every reward judged at step 0 (the base, the same for all) and at each judge_every step
        world = pd.read_csv(tmp_path / "fig7_world.csv")
        assert set(world["label"]) == {"vanilla_drf", "diffusion_drf"} and sorted(set(world["step"])) == [0, 1, 2], world
        assert world["value"].between(0, 1).all() and world[world.step == 0]["value"].nunique() == 1, world
        said = "\n".join(output_texts(executed))
        for label in ("vanilla_drf", "diffusion_drf"):  # each reward's training reward beside the judge's score, first steps against last
            assert re.search(label + r": TA score [\d.]+ -> [\d.]+.*\n.*above the base model.*\n\s+its training reward, mean of the first / last 1 steps: "
                             r"-?[\d.]+ -> -?[\d.]+; judged TA score", said), said[-2000:]
    if name == "fig2_8_gradient_heatmaps":  # the figures' rows, top to bottom, each a gradient that reached the pixels
        assert list(table.index) == ["VideoAlign", "Vanilla-DRF", "Diffusion-DRF"], table.index
        assert (table["mean"] > 0).all() and table["top10_share"].between(0.1, 1).all(), table
        # the toy world's number: per reward and kind of wrong object, the gradient's share inside the object's mask
        # against the mask's share of the frames (the shipped toy critic; every kind measured or its skip recorded)
        world = pd.read_csv(tmp_path / "fig2_8_world.csv", index_col=[0, 1])
        wdoc = json.loads((tmp_path / "fig2_8_world.json").read_text())
        assert set(world.index.get_level_values("reward")) == {"Vanilla-DRF", "Diffusion-DRF"}, world.index
        assert len(world) + len(wdoc["skipped"]) == 6 and len(world) >= 4, (world, wdoc["skipped"])
        assert world["area_share"].between(0, 0.5).all() and (world["area_share"] > 0).all() and world["gradient_share"].between(0, 1).all(), world
        assert world["ratio"].to_numpy() == pytest.approx((world["gradient_share"] / world["area_share"]).to_numpy(), rel=0.02, abs=0.01)
    if name == "fig9_10_single_prompt":  # each reward moved the model away from the base, same seed
        assert list(table.index) == ["base"] + [f"{r} (2 steps)" for r in ("VideoAlign", "PickScore", "Vanilla-DRF", "Diffusion-DRF")]
        assert (table["mean_abs_change_vs_base"].iloc[1:] > 0).all(), table
        # the toy world's judged run: the hardest candidate caption, tuned with Diffusion-DRF on the shipped models,
        # scored by the judge on held-out noises before and after (pass rates in [0, 1]), and its frames figure
        world = pd.read_csv(tmp_path / "fig9_10_world.csv", index_col=[0, 1])
        wdoc = json.loads((tmp_path / "fig9_10_world.json").read_text())
        assert list(world.index.get_level_values("reward")) == ["Diffusion-DRF"], world.index
        assert world.index[0][0] in wdoc["hardest_captions"] and wdoc["source"].startswith("this run (toy world, 2 steps"), wdoc
        scores = world[[f"{d} {w}" for d in ("TA", "Phy", "VQ") for w in ("before", "after")]]
        assert scores.notna().all().all() and ((scores >= 0) & (scores <= 1)).all().all(), scores
        assert "plotly.js v" in (tmp_path / "fig9_10_world.html").read_text()
    if name == "table4_ablation":  # the toy world's judged variants: each trained on the same data, judged on the same captions
        world = pd.read_csv(tmp_path / "table4_world.csv", index_col=[0, 1])
        assert list(world.index.get_level_values("label").unique()) == ["TA", "TA + VQ + Phy"], world.index
        assert set(world.index.get_level_values("metric")) == {"TA score", "Phy score", "VQ score"}, world.index
        assert world["before"].between(0, 1).all() and world["after"].between(0, 1).all(), world
        assert (world["change"] - (world["after"] - world["before"])).abs().max() < 2e-3, world
        runs = json.loads((tmp_path / "table4_world.json").read_text())["runs"]
        assert len({json.dumps(r["before"], sort_keys=True) for r in runs}) == 1  # one base model, the same noises for every variant
    if name == "table6_cogvideox":
        ours = table[~table["Source"].str.startswith("paper")]
        assert list(ours.index) == [f"{r} [tiny preset]" for r in ("CogVideoX", "w/ Diffusion-DRF", "w/ Flow-DPO")], ours.index
        log = pd.DataFrame(doc["train_log"])
        assert set(log["method"]) == {"diffusion_drf", "flow_dpo"} and log["reward"].map(math.isfinite).all(), log
    if name == "fig6_pairwise":
        ours = table[~table["Source"].str.startswith("paper")]
        assert ours["Source"].str.contains("judge: VideoAlign").all(), ours["Source"]
        # both panels, VideoAlign's four dimensions each, every prompt a win, a tie or a loss
        left, right = (ours[ours["Source"].str.endswith(p)] for p in ("Base model vs Diffusion-DRF", "Flow-GRPO vs Diffusion-DRF"))
        assert list(left.index) == list(right.index) == ["TA", "VQ", "MQ", "OA"], (left.index, right.index)
        assert left[["Base model wins", "Ties", "Diffusion-DRF wins"]].sum(axis=1).tolist() == pytest.approx([100.0] * 4)
        assert right[["Flow-GRPO wins", "Ties", "Diffusion-DRF wins"]].sum(axis=1).tolist() == pytest.approx([100.0] * 4)
        assert left["Flow-GRPO wins"].isna().all() and right["Base model wins"].isna().all()
        # the three models' videos differ: each trained step moved its model, so the judge's scores differ
        s = doc["scores"]
        assert set(s) == {"Base model", "Diffusion-DRF", "Flow-GRPO"} and all(list(v) == ["TA", "VQ", "MQ", "OA"] for v in s.values())
        assert s["Base model"]["OA"] != s["Diffusion-DRF"]["OA"] and s["Base model"]["OA"] != s["Flow-GRPO"]["OA"]
    if name == "table7_ablation":
        # this run's measurements, one per point of Table 7's N_f and K sweeps, finite, in the JSON and in the table
        grid = {(m["N_f"], m["K"]): m for m in doc["grid"]}
        assert set(grid) == table7_grid(), sorted(grid)
        for point, m in grid.items():
            assert all(math.isfinite(m[k]) for k in ("reward_before", "reward", "peak_mb", "step_s")), (point, m)
            assert m["peak_mb"] > 0 and m["step_s"] > 0 and m["skipped"] == 0, (point, m)
        # the paper-size VRAM estimate of the fake-tensor trace: its own row, labelled as an estimate, the committed JSON's number
        est = table[table.index.str.endswith("[estimate, paper size]")]
        committed = json.loads((Path(__file__).resolve().parent.parent / "drf_nb" / "data" / "table7_memory_estimates.json").read_text())
        default = [r for r in committed["rows"] if (r["checkpointing"], r["finetune"], r["text_encoder"], r.get("decoder", "vae")) == ("block", "full", "offload", "vae")]
        assert len(est) == len(default) >= 1 and est["Source"].str.contains("estimate, not a GPU run").all(), est
        assert sorted(est["VRAM estimate (GiB, fake-tensor trace)"]) == pytest.approx(sorted(r["gpu_estimate_gb"] for r in default))
        ours = table[table["Source"].str.startswith("this run") & ~table.index.str.endswith("[estimate, paper size]")]
        assert (ours["Source"] == "this run (tiny preset, CPU)").all(), ours["Source"]
        measured = ["reward after 2 steps", "peak tensor memory (MB)", "step time (s)"]
        rows = [f"{r} [tiny preset]" for r in PAPER_TABLES["table7"]["rows"] if r.startswith(("N_f = ", "K = "))]
        assert sorted(ours.index) == sorted(rows) and ours[measured].notna().all().all(), ours[measured]
        assert ours.loc["N_f = 2 [tiny preset]", "peak tensor memory (MB)"] == pytest.approx(grid[(2, 4)]["peak_mb"])
        # VBench-2.0 not run: said once, not in every row
        assert doc["vbench2"].startswith("VBench-2.0 columns of this run: not evaluated"), doc["vbench2"]
        assert not ours["Source"].str.contains("not evaluated").any()
        # the toy world's points: judged after training (scores in [0, 1], one base for all) and a measured step each
        world = pd.read_csv(tmp_path / "table7_world.csv", index_col=0)
        assert list(world.index) == ["N_f = 5", "K = 1"] and list(world["N_f"]) == [5, 9] and list(world["K"]) == [2, 1], world
        assert (world["peak_mb"] > 0).all() and (world["step_s"] > 0).all(), world
        assert world.filter(like="score").stack().between(0, 1).all() and world["TA score before"].nunique() == 1, world


def test_table7_with_gpu_memory_results(tmp_path, caplog):
    "The full-run inputs: no CPU grid (train_steps 0), the VRAM column from a GPU run of scripts/bench_train_memory.py --out."
    bench = [{"N_f": 2, "K": 4, "peak_gb": 61.5, "device": "cuda"}, {"N_f": 10, "K": 1, "peak_gb": 55.25, "device": "cuda"},
             {"N_f": 10, "K": 2, "peak_gb": None, "device": "cpu"}]  # a CPU smoke row has no GPU peak: not a VRAM value
    (tmp_path / "mem.json").write_text(json.dumps(bench))
    with caplog.at_level(logging.WARNING, logger="papermill"):
        executed = run("table7_ablation", tmp_path, train_steps=0, world_steps=0, memory_results=str(tmp_path / "mem.json"))
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    assert not [t for t in output_texts(executed) if re.search(r"warn", t, re.IGNORECASE)]
    table = pd.read_csv(tmp_path / "table7.csv", index_col=0)
    check_paper_rows(table, "table7")
    ours = table[table["Source"].str.startswith("this run") & ~table.index.str.endswith("[estimate, paper size]")]
    assert sorted(ours.index) == ["K = 1 [tiny preset]", "N_f = 2 [tiny preset]"], ours.index
    assert ours.loc[["N_f = 2 [tiny preset]", "K = 1 [tiny preset]"], "Training VRAM Usage (Gb)"].tolist() == pytest.approx([61.5, 55.25])
    assert (ours["Source"] == "this run (VRAM: scripts/bench_train_memory.py, GPU)").all(), ours["Source"]
    assert ours["peak tensor memory (MB)"].isna().all() and json.loads((tmp_path / "table7.json").read_text())["grid"] == []
