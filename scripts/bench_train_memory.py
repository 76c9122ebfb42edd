#!/usr/bin/env python
"""Peak memory and FLOPs of one Diffusion-DRF training step at the paper's size (Table 7's grid), traced or measured.

    python scripts/bench_train_memory.py --fake --out drf_nb/data/table7_memory_estimates.json   # no GPU: fake tensors
    python scripts/bench_train_memory.py                                                         # on a GPU: the same grid, real
    python scripts/bench_train_memory.py --size smoke                                            # tiny stacks, real, on the CPU

--fake (drf_nb.memory.trace_step): the real-size models built from their configs under FakeTensorMode on the CPU,
the package's own DRFTrainer.training_step run `--steps` times (default 2: step 2 is the steady state with AdamW's
moments), the peak of live tensor bytes per phase counted op by op (the number a GPU reports as max_memory_allocated,
to the byte on configurations small enough to check), FLOPs per component, the per-GPU share under ZeRO-2 and FSDP of
the DiT, with and without the critic's blocks sharded (training.shard_critic), and a GPU estimate with a stated margin. The sampler's no-grad prefix is traced with one step
(--sample-steps; the T-K no-grad steps are shape-identical and do not change the peak; FLOPs are scaled to T).
Cost: one point is ~1-2.5 minutes of one core of this machine (two steps; most fake ops are Qwen2.5-VL's per-window
vision attention and its recomputation in backward); the whole 48-point grid takes about 1.5 hours of one core, so pass
--points / --checkpointing / --finetune for what you need, or split the grid over processes (--jobs). Rows are
written to --out as they finish.

Without --fake on a GPU: the same models with random weights on cuda, torch.cuda.max_memory_allocated per point,
each point in its own process. --text-encoder: UMT5-XXL offloaded between encodings (the package default), resident,
or precomputed (a stand-in returns embeddings of the real shape).
"""
import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAPER_VRAM = {(2, 4): 62, (4, 4): 65, (6, 4): 68, (8, 4): 71, (10, 4): 75, (10, 1): 56, (10, 2): 63, (10, 3): 69}
GRID = [(10, 4), (2, 4), (4, 4), (6, 4), (8, 4), (10, 1), (10, 2), (10, 3)]  # the paper's default first
MODES = ["block", "step", "none"]
FINETUNE = ["full", "lora"]
GB = 2 ** 30


def point_config(size: str, nf: int, k: int, checkpointing: str, finetune: str, mixed_precision: str, decoder: str = "vae"):
    from drf_nb.config import load_config
    over = {"decoding": {"decoder": decoder, **({"light_decoder_path": "(traced: a random LightDecoder)"} if decoder == "light" else {})},"reward": {"num_frames": nf, "num_reference_frames": 10 if size == "paper" else 4},
            "sampling": {"backprop_steps": k, "checkpointing": checkpointing},
            "training": {"finetune": finetune, "report_to": "none", "output_dir": "/tmp/bench_train_memory", "checkpoint_every": 10 ** 6,
                         "validate_every": 10 ** 6, "mixed_precision": mixed_precision}}
    if size == "smoke": over["sampling"]["train_steps"] = 4
    return load_config("paper" if size == "paper" else "tiny", over)


def fake_row(nf, k, mode, ft, a) -> dict:
    "One grid point traced with fake tensors: the row of the table and of the JSON."
    from drf_nb.memory import flop_breakdown, gpu_estimate, sharded_peak, step_seconds, trace_step
    cfg = point_config("paper", nf, k, mode, ft, "bf16", a.decoder)
    T = cfg.sampling.train_steps
    ss = None if a.sample_steps is None else min(T, k + a.sample_steps)
    tr = trace_step(cfg, "paper", fake=True, steps=a.steps, text_encoder=a.text_encoder, sample_steps=ss)
    flops = flop_breakdown(tr)
    if ss is not None and ss > k:  # the no-grad prefix traced with ss - K steps: each of the T - K steps has the same FLOPs
        key = "DiT forward, no grad (T-K steps)"
        flops[key] = flops[key] * (T - k) // (ss - k)
    total = sum(flops.values())
    row = dict(N_f=nf, K=k, T=T, checkpointing=mode, finetune=ft, text_encoder=a.text_encoder, decoder=a.decoder, traced_sample_steps=ss or T,
               first_step_gb=tr.first_peak / GB, steady_gb=tr.steady_peak / GB, gpu_estimate_gb=gpu_estimate(tr.steady_peak) / GB,
               paper_vram_gb=PAPER_VRAM.get((nf, k)), static_gb=tr.static_bytes / GB,
               peak_phase=max(tr.phases[-1], key=lambda p: tr.phases[-1][p]["peak"]),
               phases_gb={p: round(v["peak"] / GB, 3) for p, v in tr.phases[-1].items()},
               grad_at_peak_gb={p: round(v["grad_at_peak"] / GB, 3) for p, v in tr.phases[-1].items()},
               trainable_params=tr.trainable_numel, tflop={g: v / 1e12 for g, v in flops.items()}, total_tflop=total / 1e12,
               seconds_a100=step_seconds(total, "A100", a.utilisation), seconds_h100=step_seconds(total, "H100", a.utilisation),
               trace_seconds=tr.seconds)
    if ft == "full":
        for s in ("zero2", "fsdp"):
            b = sharded_peak(tr, s, a.gpus)
            row[f"{s}_gb"], row[f"{s}_gpu_estimate_gb"] = b / GB, gpu_estimate(b) / GB
    # training.shard_critic: the critic's blocks sharded too (DDP of the DiT for LoRA, ZeRO-2 / FSDP of it for full fine-tuning)
    for s in (("zero2", "fsdp") if ft == "full" else ("none",)):
        b = sharded_peak(tr, s, a.gpus, shard_critic=True)
        row[f"{s}_critic_gb"], row[f"{s}_critic_gpu_estimate_gb"] = b / GB, gpu_estimate(b) / GB
    row["sizes"] = dict(trainable_numel=tr.trainable_numel, trainable_bytes=tr.trainable_bytes, block_numel=tr.block_numel,
                        blocks_numel=tr.blocks_numel, dit_numel=tr.dit_numel, critic_blocks_bytes=tr.critic_blocks_bytes,
                        critic_block_bytes=tr.critic_block_bytes)
    return row


def print_row(r: dict) -> None:
    sh = f"{r['zero2_gb']:>7.1f} {r['fsdp_gb']:>7.1f} {r['fsdp_gpu_estimate_gb']:>8.1f}" if "fsdp_gb" in r else f"{'-':>7} {'-':>7} {'-':>8}"
    crit = r.get("fsdp_critic_gpu_estimate_gb", r.get("none_critic_gpu_estimate_gb"))
    sh += f" {crit:>9.1f}" if crit is not None else f" {'-':>9}"
    print(f"{r['N_f']:>4} {r['K']:>2} {r['checkpointing']:>6} {r['finetune']:>5} {r['first_step_gb']:>7.1f} {r['steady_gb']:>7.1f} "
          f"{r['gpu_estimate_gb']:>7.1f} {str(r['paper_vram_gb'] or '-'):>6} {sh} {r['total_tflop']:>7.0f} {r['seconds_a100']:>6.1f} "
          f"{r['seconds_h100']:>6.1f}  {r['peak_phase']:<16} {r['trace_seconds']:>5.0f}s", flush=True)


def run_fake(a) -> int:
    grid = [tuple(map(int, x.split(":"))) for x in a.points.split(",")] if a.points else GRID
    modes, fts = a.checkpointing.split(","), a.finetune.split(",")
    out = {"command": "python scripts/bench_train_memory.py " + " ".join(shlex.quote(x) for x in sys.argv[1:]),
           "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "what": "estimates from a fake-tensor trace of DRFTrainer.training_step at the paper's size (drf_nb.memory); not a GPU run",
           "units": "GiB (2**30 bytes), TFLOP, seconds", "steps": a.steps, "gpus": a.gpus, "utilisation": a.utilisation,
           "margin": "gpu_estimate = live peak x 1.10 + 2 GiB", "rows": [], "failed": []}
    print(f"per-GPU GiB of live tensors (steady = step {a.steps}, with AdamW state); est = GPU estimate with margin; "
          f"ZeRO-2/FSDP: DiT training state sharded over {a.gpus} GPUs; +crit est: FSDP of the DiT (LoRA: DDP) and the critic's "
          f"blocks sharded too (training.shard_critic); time at {a.utilisation:.0%} of bf16 peak")
    print(f"{'N_f':>4} {'K':>2} {'ckpt':>6} {'tune':>5} {'step1':>7} {'steady':>7} {'est':>7} {'paper':>6} {'ZeRO-2':>7} {'FSDP':>7} "
          f"{'FSDP est':>8} {'+crit est':>9} {'TFLOP':>7} {'A100 s':>6} {'H100 s':>6}  {'peak phase':<16} trace", flush=True)
    t0 = time.time()
    tasks = [(nf, k, mode, ft) for nf, k in grid for ft in fts for mode in modes]
    def done(task, r=None, err=None):
        nf, k, mode, ft = task
        if err is not None:  # one point failing keeps the others
            out["failed"].append(dict(N_f=nf, K=k, checkpointing=mode, finetune=ft, error=err[:300]))
            print(f"{nf:>4} {k:>2} {mode:>6} {ft:>5}  failed: {err[:150]}", flush=True)
            return
        out["rows"].append(r); print_row(r)
        out["rows"].sort(key=lambda x: tasks.index((x["N_f"], x["K"], x["checkpointing"], x["finetune"])))
        if a.out: Path(a.out).write_text(json.dumps(out, indent=1))  # partial results survive an interrupt
    if a.jobs == 1:
        for task in tasks:
            try: done(task, fake_row(*task, a))
            except Exception as e: done(task, err=f"{type(e).__name__}: {e}")
    else:  # one point per process at a time: each trace is single-threaded Python
        import concurrent.futures, multiprocessing
        with concurrent.futures.ProcessPoolExecutor(a.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(fake_row, *task, a): task for task in tasks}
            for f in concurrent.futures.as_completed(futures):
                try: done(futures[f], f.result())
                except Exception as e: done(futures[f], err=f"{type(e).__name__}: {e}")
    # recomputation overhead: the backward FLOPs of a checkpointing mode minus those of 'none' at the same point
    base = {(r["N_f"], r["K"], r["finetune"]): r["tflop"]["backward (+ recomputation)"] for r in out["rows"] if r["checkpointing"] == "none"}
    for r in out["rows"]:
        b = base.get((r["N_f"], r["K"], r["finetune"]))
        r["recompute_tflop"] = None if b is None else r["tflop"]["backward (+ recomputation)"] - b
    out["seconds"] = time.time() - t0
    print(f"traced {len(out['rows'])} points in {out['seconds']:.0f} s; {len(out['failed'])} failed")
    if out["rows"]:
        r = out["rows"][0]
        print(f"\nFLOPs of one step at N_f={r['N_f']}, K={r['K']}, {r['checkpointing']}, {r['finetune']} (T={r['T']}):")
        for g, v in r["tflop"].items(): print(f"  {g:<36} {v:9.1f} TFLOP")
        print(f"  {'total':<36} {r['total_tflop']:9.1f} TFLOP: {r['seconds_a100']:.1f} s on an A100, {r['seconds_h100']:.1f} s on an H100 "
              f"at {a.utilisation:.0%} utilisation")
        for x in out["rows"]:
            if x["recompute_tflop"] is not None and x["checkpointing"] != "none":
                print(f"  recomputation of checkpointing={x['checkpointing']:<5} at N_f={x['N_f']}, K={x['K']}, {x['finetune']}: "
                      f"{x['recompute_tflop']:.1f} TFLOP ({x['recompute_tflop'] / max(x['total_tflop'] - x['recompute_tflop'], 1e-9):.1%} of the step)")
    if a.out:
        Path(a.out).write_text(json.dumps(out, indent=1))
        print(f"wrote {a.out}")
    return 0 if out["rows"] else 1


ROW_KEY = ("N_f", "K", "checkpointing", "finetune", "text_encoder", "decoder")


def merge(files: list[str], out: str | None) -> int:
    "Rows of several --fake runs in one file (a later file's row replaces an earlier one's at the same point), with every command."
    merged, rows = None, {}
    for f in files:
        d = json.loads(Path(f).read_text())
        if merged is None: merged = {k: v for k, v in d.items() if k not in ("rows", "failed", "command", "commands", "seconds")}
        merged.setdefault("commands", []).extend(d.get("commands", []) + ([f"{d['command']}  # {d.get('seconds', 0):.0f} s"] if "command" in d else []))
        for r in d["rows"]: rows[tuple(r.get(k) for k in ROW_KEY)] = r
    merged["rows"] = list(rows.values())
    text = json.dumps(merged, indent=1)
    if out: Path(out).write_text(text); print(f"merged {len(rows)} rows from {len(files)} files into {out}")
    else: print(text)
    return 0


def run_point(size: str, nf: int, k: int, steps: int, checkpointing: str, finetune: str, text_encoder: str) -> dict:
    "One grid point for real (a GPU at --size paper; the tiny stacks on the CPU at --size smoke)."
    import torch
    from drf_nb.memory import build_models
    from drf_nb.reward import build_reward
    from drf_nb.training import DRFTrainer, single_prompt_samples
    from drf_nb.memory import TRACE_FACETS, TRACE_PROMPT
    gpu = torch.cuda.is_available() and size == "paper"
    cfg = point_config(size, nf, k, checkpointing, finetune, "bf16" if gpu else "no")
    with torch.device("cuda" if gpu else "cpu"):
        gen, critic = build_models("paper" if size == "paper" else "tiny", cfg, None, text_encoder != "precomputed")
    if text_encoder == "resident": cfg.generator.offload_text_encoder = False
    g = cfg.generator
    ref = torch.rand(cfg.reward.num_reference_frames, 3, g.height, g.width) * 2 - 1
    samples = single_prompt_samples(TRACE_PROMPT, cfg, TRACE_FACETS, reference_video=ref)
    tr = DRFTrainer(cfg, generator=gen, reward_fn=build_reward(cfg, critic=critic), samples=samples, device=None if gpu else "cpu")
    peaks, times = [], []
    for _ in range(steps):
        if gpu: torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        t0 = time.time()
        tr.training_step()
        if gpu: torch.cuda.synchronize(); peaks.append(torch.cuda.max_memory_allocated() / GB)
        times.append(time.time() - t0)
    return dict(N_f=nf, K=k, checkpointing=checkpointing, finetune=finetune, text_encoder=text_encoder,
                first_step_gb=peaks[0] if gpu else None, steady_gb=peaks[-1] if gpu else None,
                reserved_gb=torch.cuda.max_memory_reserved() / GB if gpu else None, step_s=times[-1], device="cuda" if gpu else "cpu")


def run_real(a) -> int:
    grid = [tuple(map(int, x.split(":"))) for x in a.points.split(",")] if a.points else GRID
    if a.size == "smoke": grid = sorted({(min(nf, 9), min(k, 4)) for nf, k in grid})  # the tiny preset: 9 frames, T=4
    rows = []
    print(f"{'N_f':>4} {'K':>2} {'ckpt':>6} {'tune':>5} {'step1 GB':>9} {'steady GB':>9} {'paper GB':>9} {'step s':>7}", flush=True)
    for nf, k in grid:
        for ft in a.finetune.split(","):
            for mode in a.checkpointing.split(","):
                cmd = [sys.executable, __file__, "--size", a.size, "--steps", str(a.steps), "--point", f"{nf}:{k}:{mode}:{ft}",
                       "--text-encoder", a.text_encoder]
                r = subprocess.run(cmd, capture_output=True, text=True)
                line = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
                if r.returncode or not line:
                    err = (r.stderr.strip().splitlines() or ["?"])[-1]
                    print(f"{nf:>4} {k:>2} {mode:>6} {ft:>5}  failed: {err[:150]}", flush=True)
                    continue
                d = json.loads(line[0][7:]); rows.append(d)
                fmt = lambda v: f"{v:.1f}" if v is not None else "n/a"
                print(f"{nf:>4} {k:>2} {mode:>6} {ft:>5} {fmt(d['first_step_gb']):>9} {fmt(d['steady_gb']):>9} "
                      f"{PAPER_VRAM.get((nf, k), '-'):>9} {d['step_s']:>7.1f}  {d['device']}", flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps({"command": "python scripts/bench_train_memory.py " + " ".join(sys.argv[1:]), "rows": rows}, indent=1))
        print(f"wrote {a.out}")
    return 0 if rows else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fake", action="store_true", help="trace with fake tensors on the CPU (no GPU needed): estimates")
    p.add_argument("--size", choices=["paper", "smoke"], default="paper", help="without --fake: paper (a GPU) or smoke (tiny, CPU)")
    p.add_argument("--steps", type=int, default=2, help="training steps per point (the last is the steady state)")
    p.add_argument("--points", default=None, help="N_f:K pairs, e.g. '10:4,2:4' (default: Table 7's grid)")
    p.add_argument("--checkpointing", default=",".join(MODES), help="sampler checkpointing modes, comma-separated")
    p.add_argument("--finetune", default=",".join(FINETUNE), help="full, lora or both")
    p.add_argument("--text-encoder", choices=["resident", "offload", "precomputed"], default="offload",
                   help="UMT5-XXL held on the GPU, brought there only to encode (generator.offload_text_encoder, the default), "
                        "or prompt embeddings computed beforehand (the encoder never on the GPU)")
    p.add_argument("--decoder", choices=["vae", "light"], default="vae",
                   help="--fake: the critic's frames from the Wan VAE (the default) or a LightDecoder of the default width (random weights)")
    p.add_argument("--sample-steps", type=int, default=1,
                   help="--fake: no-grad sampling steps traced before the K steps (shape-identical; FLOPs scaled to T); -1: all")
    p.add_argument("--gpus", type=int, default=32, help="GPUs for the ZeRO-2 / FSDP per-GPU rows (the paper: 32)")
    p.add_argument("--utilisation", type=float, default=0.4, help="fraction of the bf16 peak for the time estimates")
    p.add_argument("--out", default=None, help="also write the rows as JSON")
    p.add_argument("--jobs", type=int, default=1, help="--fake: points traced at once, one process each (one per core)")
    p.add_argument("--merge", nargs="+", metavar="JSON", default=None, help="combine the rows of --fake runs' JSON files into --out")
    p.add_argument("--point", default=None, help=argparse.SUPPRESS)  # one real point, in a child process
    a = p.parse_args()
    if a.sample_steps is not None and a.sample_steps < 0: a.sample_steps = None
    if a.steps < 1: p.error(f"--steps={a.steps}: must be >= 1")
    if a.jobs < 1: p.error(f"--jobs={a.jobs}: must be >= 1")
    if a.decoder != "vae" and not a.fake: p.error("--decoder light: traced only (--fake); a GPU run needs a distilled LightDecoder folder")
    if a.merge: return merge(a.merge, a.out)
    if a.point:
        nf, k, mode, ft = a.point.split(":")
        print("RESULT " + json.dumps(run_point(a.size, int(nf), int(k), a.steps, mode, ft, a.text_encoder)), flush=True)
        return 0
    return run_fake(a) if a.fake else run_real(a)


if __name__ == "__main__":
    sys.exit(main())
