#!/usr/bin/env python
"""Train the tiny stack of the toy world (drf_nb.world) on this CPU, stage by stage.

Stage `vae`: an `AutoencoderKLWan` (8x spatial, 4x temporal compression) on world renders drawn on the fly, with
the recipe the DESIGN.md probe found to keep objects: foreground-weighted MSE (weight 1 + 4 x object mask), the
posterior mean (no sampling), and the loss on the decoder output *before* its final clamp to [-1, 1] (the clamp
has zero gradient on overshooting pixels). Every `--eval-every` steps the world's judge reads reconstructions of
held-out scenes: the share of stated facets (and Phy/VQ checks) that still pass after the round trip.

    OMP_NUM_THREADS=1 python scripts/train_toy_world.py vae --out toy_runs/vae --resume

Checkpoints (`<out>/checkpoint/`: the VAE via save_pretrained, optimizer, step, RNG states) are written atomically
every `--save-every-s` seconds and at the end; `--resume` continues from the last one.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from drf_nb.world import judge, render, sample_scene, verdict_table


def build_vae(base_dim: int, z_dim: int):
    from diffusers import AutoencoderKLWan
    return AutoencoderKLWan(base_dim=base_dim, z_dim=z_dim, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
                            temperal_downsample=[False, True, True])


def decode_unclamped(vae, z: torch.Tensor) -> torch.Tensor:
    "`AutoencoderKLWan._decode` (diffusers 0.42) without its final clamp: frame-causal decoding with the feature cache."
    vae.clear_cache()
    x = vae.post_quant_conv(z)
    outs = []
    for i in range(z.shape[2]):
        vae._conv_idx = [0]
        outs.append(vae.decoder(x[:, :, i:i + 1], feat_cache=vae._feat_map, feat_idx=vae._conv_idx, first_chunk=i == 0))
    out = torch.cat(outs, 2)
    if vae.config.patch_size is not None:
        from diffusers.models.autoencoders.autoencoder_kl_wan import unpatchify
        out = unpatchify(out, patch_size=vae.config.patch_size)
    vae.clear_cache()
    return out


def batch(rng: random.Random, n: int, size: int, frames: int):
    "World renders as the VAE takes them, (B, C, T, H, W), and the foreground loss weight."
    specs = [sample_scene(rng, size, size, frames) for _ in range(n)]
    video, masks = render(specs, return_masks=True)  # (B, T, C, H, W), (B, N, T, H, W)
    return specs, video.permute(0, 2, 1, 3, 4), masks.amax(1)[:, None]  # weight map (B, 1, T, H, W)


def log(path: Path, msg: str) -> None:
    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
    tqdm.write(line)
    with open(path, "a") as f: f.write(line + "\n")


@torch.no_grad()
def evaluate(vae, specs, videos) -> dict:
    "PSNR of reconstructions (clamped, as a pipeline decodes) and the judge's pass rates on them."
    vae.eval()
    recon = []
    for i in range(0, len(videos), 8):
        z = vae.encode(videos[i:i + 8]).latent_dist.mean
        recon.append(vae.decode(z).sample)
    vae.train()
    recon = torch.cat(recon)
    mse = ((recon - videos) ** 2).mean().item()
    tab = verdict_table(judge(recon.permute(0, 2, 1, 3, 4), specs))
    out = {"psnr": 10 * math.log10(4 / max(mse, 1e-12)), "TA": tab.TA_ok.mean(), "Phy": tab.Phy_ok.mean(), "VQ": tab.VQ_ok.mean()}
    for col in tab.columns:
        if col in ("caption", "TA", "Phy", "VQ", "TA_ok", "Phy_ok", "VQ_ok"): continue
        stated = tab[col].dropna()
        if len(stated): out[col] = float(stated.astype(bool).mean())
    return out


@torch.no_grad()
def latent_stats(vae, videos) -> tuple[list, list]:
    "Per-channel mean and std of posterior means: what a diffusion model trained on these latents normalises by."
    vae.eval()
    z = torch.cat([vae.encode(videos[i:i + 8]).latent_dist.mean for i in range(0, len(videos), 8)])
    vae.train()
    return z.mean((0, 2, 3, 4)).tolist(), z.std((0, 2, 3, 4)).clamp_min(1e-3).tolist()


def save(out: Path, vae, opt, step: int, rng: random.Random, eval_videos) -> None:
    "Write the checkpoint to a fresh folder, then swap it in: a crash leaves the old or the new one, never half of one."
    mean, std = latent_stats(vae, eval_videos)
    vae.register_to_config(latents_mean=mean, latents_std=std)
    tmp, final, old = out / "checkpoint.tmp", out / "checkpoint", out / "checkpoint.old"
    shutil.rmtree(tmp, ignore_errors=True)
    vae.save_pretrained(tmp / "vae")
    torch.save({"optimizer": opt.state_dict(), "step": step, "data_rng": rng.getstate(),
                "torch_rng": torch.get_rng_state()}, tmp / "state.pt")
    if final.exists(): final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def latest(out: Path) -> Path | None:
    for name in ("checkpoint", "checkpoint.old"):  # .old survives only a crash between the two renames
        if (out / name / "state.pt").exists(): return out / name
    return None


def train_vae(args) -> None:
    from diffusers import AutoencoderKLWan
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    logf = out / "train.log"
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    eval_rng = random.Random(10 ** 6 + args.seed)  # held-out scenes: a different stream from training
    eval_specs, eval_videos, _ = batch(eval_rng, args.eval_n, args.size, args.frames)
    ck = latest(out) if args.resume else None
    if ck is not None:
        vae = AutoencoderKLWan.from_pretrained(ck / "vae")
        state = torch.load(ck / "state.pt", weights_only=False)
        step = state["step"]
        rng.setstate(state["data_rng"]); torch.set_rng_state(state["torch_rng"])
    else:
        vae, state, step = build_vae(args.base_dim, args.z_dim), None, 0
    vae.train()
    opt = torch.optim.AdamW(vae.parameters(), lr=args.lr, weight_decay=0.0)
    if state is not None: opt.load_state_dict(state["optimizer"])
    n_params = sum(p.numel() for p in vae.parameters())
    log(logf, f"stage vae: {'resumed ' + str(ck) + ' at step ' + str(step) if ck else 'new'}; {n_params / 1e6:.3f}M params; "
              f"{args.size}x{args.size}x{args.frames}, batch {args.batch}, lr {args.lr}, fg weight {args.fg_weight}, "
              f"threads {torch.get_num_threads()}")
    last_save, losses = time.time(), []
    bar = tqdm(total=args.steps, initial=step, desc="vae", mininterval=10)
    while step < args.steps:
        _, x, fg = batch(rng, args.batch, args.size, args.frames)
        z = vae.encode(x).latent_dist.mean  # deterministic posterior
        y = decode_unclamped(vae, z)  # the loss sees overshoot, which a clamp would hide from the gradient
        loss = (((y - x) ** 2) * (1 + args.fg_weight * fg)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1; losses.append(loss.item()); bar.update(1)
        if step % args.log_every == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-args.log_every:]):.4f}")
        if step % args.eval_every == 0 or step == args.steps:
            ev = evaluate(vae, eval_specs, eval_videos)
            head = f"step {step} loss {np.mean(losses[-args.eval_every:]):.4f} psnr {ev.pop('psnr'):.2f} dB | pass TA {ev.pop('TA'):.2f} Phy {ev.pop('Phy'):.2f} VQ {ev.pop('VQ'):.2f}"
            log(logf, head + " | " + ", ".join(f"{k} {v:.2f}" for k, v in ev.items()))
        if time.time() - last_save >= args.save_every_s or step == args.steps:
            save(out, vae, opt, step, rng, eval_videos)
            last_save = time.time()
    bar.close()
    log(logf, f"done at step {step}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("stage", choices=["vae"], help="what to train (later stages: the DiT, the critic)")
    p.add_argument("--out", required=True, help="run folder (checkpoint/, train.log)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint if there is one")
    p.add_argument("--steps", type=int, default=30000, help="total optimizer steps")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--fg-weight", type=float, default=4.0, help="loss weight 1 + fg_weight x object mask")
    p.add_argument("--base-dim", type=int, default=8, help="VAE width (new runs only)")
    p.add_argument("--z-dim", type=int, default=16, help="latent channels (new runs only)")
    p.add_argument("--size", type=int, default=48, help="frame height = width (a multiple of 16)")
    p.add_argument("--frames", type=int, default=9, help="frames per video (1 + 4k)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--save-every-s", type=float, default=180.0, help="seconds between checkpoints")
    p.add_argument("--eval-every", type=int, default=250, help="steps between judged held-out evaluations")
    p.add_argument("--eval-n", type=int, default=32, help="held-out scenes per evaluation")
    p.add_argument("--log-every", type=int, default=10)
    args = p.parse_args(argv)
    if args.size % 16: p.error(f"--size {args.size}: must be a multiple of 16 (the Wan VAE)")
    if args.frames < 5 or (args.frames - 1) % 4: p.error(f"--frames {args.frames}: must be 1 + 4k with k >= 1")
    torch.set_num_threads(args.threads)
    if args.stage == "vae": train_vae(args)


if __name__ == "__main__":
    main()
