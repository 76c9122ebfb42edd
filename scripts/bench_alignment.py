#!/usr/bin/env python
"""Time and peak memory of one optimisation step of each baseline (Flow-GRPO, Flow-DPO, Flow-RWR) against Diffusion-DRF
at the same settings, as ratios.

    python scripts/bench_alignment.py                # the tiny preset on the CPU (or the GPU, if there is one)
    python scripts/bench_alignment.py --steps 5 --set alignment.group_size=4
    python scripts/bench_alignment.py --preset toy   # the toy world's trained models at its size (a world caption)

Every method runs in its own process on the same config (the tiny preset, single prompt, LoRA, the tiny Diffusion-DRF
reward: the baselines call it without a graph, Diffusion-DRF backpropagates through it). One warm-up step, then `--steps`
timed steps (mean seconds per step). Memory: on CUDA the allocator's peak (`torch.cuda.max_memory_allocated`) over the
timed steps; on the CPU the process's peak resident set size over the timed steps (VmHWM after resetting it through
/proc/self/clear_refs) minus the resident size before them, i.e. what the steps add on top of the loaded models.
The tiny and toy sizes run on this CPU: the real-size models need a GPU (run this with --preset paper there, with the models
in the cache).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
METHODS = ["diffusion_drf", "flow_grpo", "flow_dpo", "flow_rwr"]


def _status(key: str) -> int:
    "A VmRSS/VmHWM line of /proc/self/status in bytes."
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"): return int(line.split()[1]) * 1024
    return 0


def run_method(method: str, steps: int, preset: str, sets: list[str]) -> dict:
    import torch
    from drf_nb.config import load_config, overrides_from_strings
    from drf_nb.training import build_trainer
    from drf_nb.world import world_scenes
    prompt = world_scenes(1, 0)[0].caption if preset == "toy" else "a red ball on a wooden table"  # the toy critic knows world captions
    over = overrides_from_strings([f"training.method={method}", "training.report_to=none", "training.finetune=lora",
                                   f"training.single_prompt={prompt}", f"training.max_steps={steps + 1}",
                                   f"training.output_dir=/tmp/bench_alignment/{method}", "training.checkpoint_every=1000000",
                                   "training.validate_every=1000000", *sets])
    cfg = load_config(preset, over)
    tr = build_trainer(cfg)
    tr.training_step()  # warm-up: first calls allocate caches and workspaces
    cuda = tr.accelerator.device.type == "cuda"
    if cuda: torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    rss0 = _status("VmRSS")
    reset = False
    try:
        Path("/proc/self/clear_refs").write_text("5"); reset = True  # resets VmHWM to the current RSS
    except OSError: pass
    t0 = time.perf_counter()
    for _ in range(steps): tr.training_step()
    if cuda: torch.cuda.synchronize()
    sec = (time.perf_counter() - t0) / steps
    peak = torch.cuda.max_memory_allocated() if cuda else (_status("VmHWM") - rss0 if reset else None)
    return {"method": method, "step_s": sec, "peak_bytes": peak, "device": tr.accelerator.device.type,
            "memory": "cuda max_memory_allocated" if cuda else "peak RSS added by the steps"}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3, help="timed steps per method (after one warm-up step)")
    p.add_argument("--preset", default="tiny", choices=["tiny", "toy", "paper"])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override for every method")
    p.add_argument("--method", default=None, help=argparse.SUPPRESS)  # one method, in a child process
    a = p.parse_args()
    if a.method:
        print("RESULT " + json.dumps(run_method(a.method, a.steps, a.preset, a.set)), flush=True)
        return 0
    rows = {}
    for m in METHODS:
        cmd = [sys.executable, __file__, "--steps", str(a.steps), "--preset", a.preset, "--method", m]
        for s in a.set: cmd += ["--set", s]
        r = subprocess.run(cmd, capture_output=True, text=True)
        line = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
        if r.returncode or not line:
            print(f"{m}: failed: {(r.stderr.strip().splitlines() or ['?'])[-1][:200]}", flush=True); continue
        rows[m] = json.loads(line[0][7:])
    if "diffusion_drf" not in rows: print("no Diffusion-DRF baseline row: no ratios"); return 1
    base = rows["diffusion_drf"]
    print(f"preset {a.preset}, {a.steps} timed steps per method, device {base['device']}, memory = {base['memory']}")
    print(f"{'method':<14} {'s/step':>8} {'peak MB':>9} {'time x DRF':>11} {'memory x DRF':>13}")
    for m, r in rows.items():
        mb = r["peak_bytes"] / 2 ** 20 if r["peak_bytes"] is not None else float("nan")
        tx = r["step_s"] / base["step_s"]
        mx = r["peak_bytes"] / base["peak_bytes"] if r["peak_bytes"] and base["peak_bytes"] else float("nan")
        print(f"{m:<14} {r['step_s']:>8.2f} {mb:>9.1f} {tx:>11.2f} {mx:>13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
