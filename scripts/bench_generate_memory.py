#!/usr/bin/env python
"""Peak memory and time of one Diffusion-DRF generation step with gradients.

generate with grad (last K of T steps) -> decode the N_f critic frames -> dummy scalar loss -> backward,
for each checkpointing mode and K in 1..4, then the decoder alone (Wan VAE vs light decoder, with and
without checkpointing). Random weights; a benchmark that prints tables, not a test.

Each configuration runs in a fresh subprocess, so on CPU the peak resident set size (ru_maxrss) belongs
to that configuration alone; "delta" subtracts the RSS after the models were built. On CUDA the peak is
torch.cuda.max_memory_allocated.

  HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_generate_memory.py --size tiny
  HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_generate_memory.py --size dit --repeats 1     # DiT-dominated, CPU
  HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_generate_memory.py --size real --decoders-only --dtype float32 --frames 5
  HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_generate_memory.py --size real --device cuda
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing drf_nb

SIZES = {
    # DiT, VAE, light decoder, video, sampling
    "tiny": dict(dit=dict(num_attention_heads=2, attention_head_dim=12, ffn_dim=48, num_layers=2, text_dim=32, freq_dim=32),
                 vae=dict(base_dim=3, dim_mult=[1, 1, 1, 1], num_res_blocks=1), light=(8, 8, 8, 8),
                 height=32, width=32, frames=9, steps=4, n_f=4, text_len=16, dtype="float32"),
    "scaled": dict(dit=dict(num_attention_heads=4, attention_head_dim=32, ffn_dim=512, num_layers=4, text_dim=64, freq_dim=64),
                   vae=dict(base_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2), light=(64, 32, 16, 8),
                   height=64, width=64, frames=17, steps=6, n_f=6, text_len=32, dtype="float32"),
    # the real DiT width (4 of its 30 layers) with a toy VAE: the DiT's activations dominate, so the checkpointing
    # modes and K show their effect on a CPU
    "dit": dict(dit=dict(num_attention_heads=12, attention_head_dim=128, ffn_dim=8960, num_layers=4, text_dim=4096, freq_dim=256),
                vae=dict(base_dim=3, dim_mult=[1, 1, 1, 1], num_res_blocks=1), light=(8, 8, 8, 8),
                height=144, width=256, frames=17, steps=8, n_f=4, text_len=64, dtype="float32"),
    # Wan2.1-T2V-1.3B (DESIGN.md) and the default AutoencoderKLWan (base_dim 96), the paper's training size
    "real": dict(dit=dict(num_attention_heads=12, attention_head_dim=128, ffn_dim=8960, num_layers=30, text_dim=4096, freq_dim=256),
                 vae=dict(), light=(128, 64, 32, 16),
                 height=288, width=512, frames=49, steps=25, n_f=10, text_len=512, dtype="bfloat16"),
}


def build(size: str, device: str, dtype_name: str | None = None):
    import torch
    from diffusers import AutoencoderKLWan, WanPipeline, WanTransformer3DModel
    from drf_nb.decoding import LightDecoder
    from drf_nb.sampling import PromptEmbeds, WanGenerator
    from drf_nb.tiny import tiny_wan_pipeline
    s = SIZES[size]
    dtype = getattr(torch, dtype_name or s["dtype"])
    torch.manual_seed(0)
    tiny = tiny_wan_pipeline()  # only its tokenizer / text encoder / scheduler: embeddings are random here
    tr = WanTransformer3DModel(patch_size=(1, 2, 2), in_channels=16, out_channels=16, cross_attn_norm=True,
                               qk_norm="rms_norm_across_heads", **s["dit"])
    vae = AutoencoderKLWan(**s["vae"])
    pipe = WanPipeline(tokenizer=tiny.tokenizer, text_encoder=tiny.text_encoder, vae=vae, transformer=tr, scheduler=tiny.scheduler)
    gen = WanGenerator(pipe).to(device=device, dtype=dtype)
    light = LightDecoder(block_channels=s["light"]).to(device=device, dtype=dtype).requires_grad_(False)
    d = s["dit"]["text_dim"]
    g = torch.Generator(device="cpu").manual_seed(0)
    emb = PromptEmbeds(torch.randn(1, s["text_len"], d, generator=g).to(device, dtype),
                       torch.randn(1, s["text_len"], d, generator=g).to(device, dtype))
    return gen, light, emb, s


def rss_mb() -> float:
    with open("/proc/self/statm") as f: return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_one(args) -> dict:
    import torch
    from drf_nb.config import DecodingConfig
    from drf_nb.decoding import critic_frame_indices, decode_for_critic
    from drf_nb.sampling import sample
    gen, light, emb, s = build(args.size, args.device, args.dtype)
    if args.frames: s = {**s, "frames": args.frames, "n_f": min(s["n_f"], args.frames)}
    cuda = args.device.startswith("cuda")
    idx = critic_frame_indices(s["frames"], s["n_f"])
    dcfg = DecodingConfig(decoder=args.decoder, checkpoint=args.decode_checkpoint, only_needed_frames=True)
    z_T = gen.prepare_latents(1, s["height"], s["width"], s["frames"], torch.Generator(device="cpu").manual_seed(0)).to(args.device)

    def step():
        if args.what == "decode":  # the decoder alone, on latents that require grad
            z0 = z_T.clone().requires_grad_()
        else:
            z0 = sample(gen, emb, z_T, s["steps"], args.k, args.checkpointing, guidance_scale=args.guidance).latents
        frames = decode_for_critic(gen, z0, idx, dcfg, light_decoder=light if args.decoder == "light" else None)
        loss = frames.float().square().mean()
        loss.backward()
        gen.transformer.zero_grad(set_to_none=True)

    base = rss_mb()
    if cuda:
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); base_cuda = torch.cuda.memory_allocated()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter(); step()
        if cuda: torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    out = dict(time_s=min(times), base_mb=base)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["peak_mb"], out["delta_mb"] = peak_rss, peak_rss - base
    if cuda:
        out["peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        out["delta_mb"] = out["peak_mb"] - base_cuda / 2**20
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=list(SIZES), default="tiny")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--ks", default="1,2,3,4", help="comma-separated K values")
    p.add_argument("--modes", default="none,step,block", help="checkpointing modes")
    p.add_argument("--guidance", type=float, default=5.0, help="CFG scale (>1 batches cond and uncond)")
    p.add_argument("--repeats", type=int, default=2, help="runs per configuration; the fastest is reported")
    p.add_argument("--decoders-only", action="store_true", help="only the decoder table (e.g. --size real on a CPU)")
    p.add_argument("--dtype", default=None, help="override the size's dtype (bfloat16 convolutions are slow on CPUs)")
    p.add_argument("--frames", type=int, default=None, help="override the size's frame count (4n+1); N_f becomes min(N_f, frames)")
    p.add_argument("--_one", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--what", default="step", help=argparse.SUPPRESS)
    p.add_argument("--k", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--checkpointing", default="none", help=argparse.SUPPRESS)
    p.add_argument("--decoder", default="vae", help=argparse.SUPPRESS)
    p.add_argument("--decode-checkpoint", dest="decode_checkpoint", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args._one:
        print("RESULT " + json.dumps(run_one(args)))
        return

    def sub(**kw):
        cmd = [sys.executable, __file__, "--_one", "--size", args.size, "--device", args.device, "--guidance", str(args.guidance),
               "--repeats", str(args.repeats)] + (["--dtype", args.dtype] if args.dtype else []) + (["--frames", str(args.frames)] if args.frames else []) + [x for k, v in kw.items() for x in (f"--{k.replace('_', '-')}", str(v))]
        r = subprocess.run(cmd, capture_output=True, text=True)
        line = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
        if not line: raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}")
        return json.loads(line[-1][7:])

    s = SIZES[args.size]
    if args.dtype: s["dtype"] = args.dtype
    if args.frames: s["frames"], s["n_f"] = args.frames, min(s["n_f"], args.frames)
    unit = "CUDA max allocated" if args.device.startswith("cuda") else "CPU peak RSS"
    print(f"size={args.size} device={args.device} {s['width']}x{s['height']}x{s['frames']} T={s['steps']} N_f={s['n_f']} "
          f"dtype={s['dtype']} CFG={args.guidance}; memory: {unit}, delta = above the built models")
    print("\n| checkpointing | K | peak MB | delta MB | step s |\n|---|---|---|---|---|")
    for mode in ([] if args.decoders_only else args.modes.split(",")):
        for k in map(int, args.ks.split(",")):
            r = sub(what="step", k=k, checkpointing=mode, decoder="vae", decode_checkpoint=1)
            print(f"| {mode} | {k} | {r['peak_mb']:.0f} | {r['delta_mb']:.0f} | {r['time_s']:.2f} |", flush=True)
    print("\n| decoder (alone) | checkpointed | peak MB | delta MB | decode+backward s |\n|---|---|---|---|---|")
    for dec in ("vae", "light"):
        for ck in (0, 1):
            r = sub(what="decode", decoder=dec, decode_checkpoint=ck)
            print(f"| {dec} | {bool(ck)} | {r['peak_mb']:.0f} | {r['delta_mb']:.0f} | {r['time_s']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
