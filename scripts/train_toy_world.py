#!/usr/bin/env python
"""Train the tiny stack of the toy world (drf_nb.world) on this CPU, stage by stage.

Stage `vae`: an `AutoencoderKLWan` (4x spatial by default, 4x temporal compression) on world renders drawn on the fly, with
the recipe the DESIGN.md probe found to keep objects: foreground-weighted MSE (weight 1 + 4 x object mask), the
posterior mean (no sampling), and the loss on the decoder output *before* its final clamp to [-1, 1] (the clamp
has zero gradient on overshooting pixels). Every `--eval-every` steps the world's judge reads reconstructions of
held-out scenes: the share of stated facets (and Phy/VQ checks) that still pass after the round trip.

    OMP_NUM_THREADS=1 python scripts/train_toy_world.py vae --out toy_runs/vae --resume

Stage `critic`: the frozen "off-the-shelf VLM" of the toy world, a tiny `Qwen2_5_VLForConditionalGeneration` with
the real processor and chat template, taught to answer the paper's exact questions (Fig. 15 TA per facet, Figs.
16-17 Phy and VQ with reference frames, as `drf_nb.reward.build_question` writes them) about world videos and
corrupted ones, in the templates' JSON formats. Its tokenizer is a byte-level BPE trained on those questions,
captions and answers, in the real `Qwen2Tokenizer` class (`<out>/tokenizer/`, built once). Teacher forcing on the
answer tokens and end-of-turn only, the decision token(s) weighted `--decision-weight`; contrastive pairs (one
video, a true and a false question; or one question, a true and a corrupted video); a curriculum (colour and
count on short questions, then on Fig. 15's template, then every TA facet, then Phy and VQ as well; a phase ends at its `--phases` cap, or early at an
evaluation where every facet it trains reaches `--advance-at` held-out accuracy). Every `--eval-every` steps: held-out decision accuracy
per dimension and TA facet, read off log p("Yes") vs log p("No") at the decision position under teacher
forcing (for Phy: at each of the five aspect fields of the no-defect answer; "defect" if any prefers Yes).

    OMP_NUM_THREADS=1 python scripts/train_toy_world.py critic --out toy_runs/critic --resume

Stage `dit`: the generator. A small UMT5 encoder (over drf_nb.tiny's character-level T5 tokenizer) and a
`WanTransformer3DModel`, trained jointly by rectified flow matching (x_t = (1 - s) x_0 + s eps, target eps - x_0,
s shifted like Wan's scheduler) on latents of world renders from the frozen trained VAE, captions dropped 10% of
the time for classifier-free guidance. The exported weights are an EMA. Every `--eval-every` steps the judge reads
samples for held-out captions (fixed noise, flow UniPC, CFG): pass rates per facet. The checkpoint's `pipeline/`
is a `WanPipeline` folder: `load_generator(GeneratorConfig(model_id="<out>/checkpoint/pipeline", dtype="float32"))`.

    OMP_NUM_THREADS=1 python scripts/train_toy_world.py dit --out toy_runs/dit --vae toy_runs/vae/checkpoint/vae --resume

The checkpoint's `critic/` folder (model + processor, save_pretrained) loads as the package's critic:
`load_critic(CriticConfig(model_id="<out>/checkpoint/critic", dtype="float32"))`.

Checkpoints (`<out>/checkpoint/`: the model via save_pretrained, optimizer, step, RNG states) are written atomically
every `--save-every-s` seconds and at the end; `--resume` continues from the last one.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import sys
import time
from dataclasses import dataclass, replace as dc_replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from tqdm.auto import tqdm
from transformers import (AutoProcessor, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor, Qwen2Tokenizer,
                          Qwen2VLImageProcessor, Qwen2VLVideoProcessor)

from drf_nb.config import CriticConfig, RewardConfig
from drf_nb.critic import CriticQuery, QwenVLCritic, load_critic
from drf_nb.frames import concat_reference
from drf_nb.prompts import FACETS, PHY_ASPECTS
from drf_nb.reward import _no_defect_answer, _yes_answer, build_question
from drf_nb.tiny import QWEN_SPECIAL_TOKENS, QWEN_VL_CHAT_TEMPLATE
from drf_nb.world import LOCATION_WORDS, _location_ok, object_track, thresholds as world_thresholds
from drf_nb.world import (BACKGROUNDS, CAMERA, COLORS, LIGHTING, LOC_MARGIN, LOCATIONS, MILD_BLUR, MILD_NOISE, MOTIONS, SHAPES, SIZES,
                          ObjectSpec, _location_interval, corrupt, corrupt_spec, facets_of, gaussian_blur, judge, judge_generator, pass_rates, realise,
                          reference_video, render, sample_scene, verdict_table)



def build_vae(base_dim: int, z_dim: int, spatial: int = 4):
    "Wan's VAE, 4x temporal compression and `spatial` (4 or 8) spatial: each extra halving is one more stage."
    from diffusers import AutoencoderKLWan
    if spatial not in (4, 8): raise SystemExit(f"--spatial must be 4 or 8, not {spatial}")
    stages = {4: ([1, 2, 2], [True, True]), 8: ([1, 2, 2, 2], [False, True, True])}[spatial]
    return AutoencoderKLWan(base_dim=base_dim, z_dim=z_dim, dim_mult=stages[0], num_res_blocks=1, temperal_downsample=stages[1],
                            scale_factor_spatial=spatial)  # the config value WanPipeline sizes latents by


def fix_spatial_factor(vae) -> None:
    "Make `scale_factor_spatial` (WanPipeline's latent size) agree with the architecture: one halving per stage after the first."
    factor = 2 ** (len(vae.config.dim_mult) - 1)
    if vae.config.scale_factor_spatial != factor: vae.register_to_config(scale_factor_spatial=factor)


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


def high_pass(v: torch.Tensor) -> torch.Tensor:
    "Each frame minus its 5x5 box blur: edges and the background texture, (B, C, T, H, W)."
    return v - F.avg_pool3d(v, (1, 5, 5), stride=1, padding=(0, 2, 2), count_include_pad=False)


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
    return {"psnr": 10 * math.log10(4 / max(mse, 1e-12)), **pass_rates(verdict_table(judge(recon.permute(0, 2, 1, 3, 4), specs)))}


@torch.no_grad()
def latent_stats(vae, videos) -> tuple[list, list]:
    "Per-channel mean and std of posterior means: what a diffusion model trained on these latents normalises by."
    vae.eval()
    z = torch.cat([vae.encode(videos[i:i + 8]).latent_dist.mean for i in range(0, len(videos), 8)])
    vae.train()
    return z.mean((0, 2, 3, 4)).tolist(), z.std((0, 2, 3, 4)).clamp_min(1e-3).tolist()


def save(out: Path, vae, opt, step: int, rng: random.Random, eval_videos, frozen: bool = False) -> None:
    "Write the checkpoint to a fresh folder, then swap it in: a crash leaves the old or the new one, never half of one."
    fix_spatial_factor(vae)
    if not frozen:  # a frozen encoder keeps the statistics the DiT normalises by
        mean, std = latent_stats(vae, eval_videos)
        vae.register_to_config(latents_mean=mean, latents_std=std)
    tmp, final, old = out / "checkpoint.tmp", out / "checkpoint", out / "checkpoint.old"
    shutil.rmtree(tmp, ignore_errors=True)
    vae.save_pretrained(tmp / "vae")
    torch.save({"optimizer": opt.state_dict(), "step": step, "data_rng": rng.getstate(),
                "torch_rng": torch.get_rng_state(), "encoder_frozen": frozen}, tmp / "state.pt")
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
        vae, state, step = build_vae(args.base_dim, args.z_dim, args.spatial), None, 0
    vae.train()
    frozen = args.freeze_encoder or bool(state and state.get("encoder_frozen"))  # once frozen, a resumed run stays so
    if frozen:  # the DiT trains on this encoder's latents: only the decoder may still change
        for m in (vae.encoder, vae.quant_conv): m.requires_grad_(False)
    opt = torch.optim.AdamW(vae.parameters(), lr=args.lr, weight_decay=0.0)  # AdamW skips the frozen (grad None) parameters
    if state is not None: opt.load_state_dict(state["optimizer"])
    n_params = sum(p.numel() for p in vae.parameters())
    log(logf, f"stage vae: {'resumed ' + str(ck) + ' at step ' + str(step) if ck else 'new'}; {n_params / 1e6:.3f}M params; "
              f"{args.size}x{args.size}x{args.frames}, batch {args.batch}, lr {args.lr}, fg weight {args.fg_weight}, texture weight {args.texture_weight}, "
              f"threads {torch.get_num_threads()}" + ("; encoder frozen (decoder-only fine-tuning)" if frozen else ""))
    last_save, losses = time.time(), []
    bar = tqdm(total=args.steps, initial=step, desc="vae", mininterval=10)
    while step < args.steps:
        _, x, fg = batch(rng, args.batch, args.size, args.frames)
        z = vae.encode(x).latent_dist.mean  # deterministic posterior
        y = decode_unclamped(vae, z)  # the loss sees overshoot, which a clamp would hide from the gradient
        loss = (((y - x) ** 2) * (1 + args.fg_weight * fg)).mean()
        if args.texture_weight:  # the background texture is all a camera pan moves: its high-pass content, weighted on its own
            loss = loss + args.texture_weight * ((high_pass(y) - high_pass(x)) ** 2).mean()
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
            save(out, vae, opt, step, rng, eval_videos, frozen)
            last_save = time.time()
    bar.close()
    log(logf, f"done at step {step}")


# ---------------------------------------------------------------------------------------------------------------
# Stage critic: a tiny Qwen2.5-VL taught to answer the paper's questions about world videos
# ---------------------------------------------------------------------------------------------------------------
TA_FACETS = tuple(f for f in FACETS if f != "Letter/Text Presence")  # the world never states text
FIRST_FACETS = ("Color Requirement", "Object(s)")  # curriculum phase 1
# corruptions of the rendered scene that can falsify each facet (the first four are drf_nb.world's own)
FACET_VIDEO_KINDS = {"Environment": ("wrong background",), "Object(s)": ("wrong count", "wrong shape", "wrong size"),
                     "Objects' Motion": ("wrong direction",), "Object Location/Spatial Distribution": ("wrong location",),
                     "Color Requirement": ("wrong colour", "wrong background"), "Lighting": ("wrong lighting",),
                     "Camera Motion": ("wrong camera",)}
PHY_KINDS = {"teleport": "abnormal motion", "vanish": "abnormal motion", "appear": "abnormal motion",
             "shape change": "abnormal deformation"}
VQ_KINDS = {"blur": ("defocus blur", "softer edges than reference"), "noise": ("grain noise", "grainy speckles not in the reference")}
QUALITY = ("none", *VQ_KINDS)  # classes of the quality read-outs (AttributeHeads.quality / quality_ground)
EVAL_SEED0, TOKENIZER_SEED0 = 10 ** 9, 5 * 10 ** 8  # scene seeds of held-out scenes and of the tokenizer corpus; training uses seed * 10**7 + ...
FPS = 16.0  # GeneratorConfig.fps: what the reward passes the critic for a video of N_f frames


@dataclass
class Row:
    "One teacher-forced example: the video (and reference) shown, the question, the target answer, its decision."
    dimension: str
    facet: str  # the TA facet; "" for Phy / VQ
    kind: str  # "true" or the corruption / false description behind a "No" (TA) or "Yes" (Phy/VQ defect)
    video: torch.Tensor  # (T, C, H, W) in [-1, 1]
    reference: torch.Tensor | None
    question: str
    answer: str
    decision: str  # the decision the answer states: TA "Yes"/"No"; Phy/VQ "Yes" = defect
    spec: object = None  # the scene the video shows (TA rows): targets of the auxiliary vision loss
    statement: str = ""  # TA rows: the facet description the question states (the truth loss reads its last token)
    quality: int | None = None  # QUALITY index of the video's defect (0 none), where known: the target of the quality read-outs


def _lc(s: str) -> str: return s[0].lower() + s[1:] if s else s


def _no_answer(shown: str | None, stated: str) -> str:
    "A TA 'No' in the Fig. 15 JSON, grounded in what the video shows instead."
    shown = _lc(shown.strip().rstrip(".")) if shown else "nothing of the kind"
    return json.dumps({"answer": "No", "explanation": f"The video shows {shown}, not {_lc(stated.strip().rstrip('.'))}."})


def _locations_conflict(a: str, b: str, size: int) -> bool:
    "No start position satisfies both stated locations: their allowed intervals are disjoint, or touch at one point, on some axis."
    for axis in (0, 1):
        (lo1, hi1), (lo2, hi2) = (_location_interval(x, axis, size, LOC_MARGIN * size / 48) for x in (a, b))
        if max(lo1, lo2) >= min(hi1, hi2): return True
    return False


def _with_object(spec, i: int, **kw):
    objs = list(spec.objects); objs[i] = dc_replace(objs[i], **kw)
    return dc_replace(spec, objects=tuple(objs))


def _mod_spec(spec, kind: str, rng: random.Random):
    "A changed statement of `spec` for `kind` (positions not redrawn); None if `kind` does not apply."
    objs = spec.objects
    i = rng.randrange(len(objs)) if objs else None
    if kind == "wrong background": return dc_replace(spec, background=rng.choice([b for b in BACKGROUNDS if b != spec.background]))
    if i is None: return None
    if kind == "wrong colour":
        free = [c for c in COLORS if c not in {o.color for o in objs}]
        return _with_object(spec, i, color=rng.choice(free)) if free else None
    if kind == "swap colours":
        if len(objs) < 2: return None
        j = rng.choice([k for k in range(len(objs)) if k != i])
        return _with_object(_with_object(spec, i, color=objs[j].color), j, color=objs[i].color)
    if kind == "wrong shape": return _with_object(spec, i, shape=rng.choice([s for s in SHAPES if s != objs[i].shape]))
    if kind == "wrong size": return _with_object(spec, i, size=[s for s in SIZES if s != objs[i].size][0])
    if kind == "fewer objects": return dc_replace(spec, objects=objs[:i] + objs[i + 1:]) if len(objs) > 1 else None
    if kind == "more objects":
        free = [c for c in COLORS if c not in {o.color for o in objs}]
        if not free: return None
        return dc_replace(spec, objects=objs + (ObjectSpec(rng.choice(SHAPES), rng.choice(free), rng.choice(list(SIZES)), rng.choice(list(MOTIONS))),))
    if kind == "wrong direction": return _with_object(spec, i, motion=rng.choice([m for m in MOTIONS if m != objs[i].motion]), bounce=False)
    if kind == "wrong location":
        located = [k for k, o in enumerate(objs) if o.location is not None]
        if not located: return None
        k = rng.choice(located)
        far = [l for l in LOCATIONS if _locations_conflict(l, objs[k].location, spec.width)]
        return _with_object(spec, k, location=rng.choice(far))
    if kind == "wrong lighting":
        return dc_replace(spec, lighting=rng.choice([l for l in LIGHTING if l != spec.lighting])) if spec.lighting else None
    if kind == "wrong camera":
        return dc_replace(spec, camera=rng.choice([c for c in CAMERA if c != spec.camera])) if spec.camera else None
    raise ValueError(f"unknown statement change {kind!r}")


DESCRIPTION_KINDS = {"Environment": ("wrong background",), "Object(s)": ("wrong shape", "wrong size", "fewer objects", "more objects"),
                     "Objects' Motion": ("wrong direction",), "Object Location/Spatial Distribution": ("wrong location",),
                     "Color Requirement": ("wrong colour", "swap colours", "wrong background"), "Lighting": ("wrong lighting",),
                     "Camera Motion": ("wrong camera",)}


def _wrong_video_spec(spec, kind: str, rng: random.Random):
    "What to render instead of `spec` so that one facet is false; None if no layout fits."
    if kind in ("wrong colour", "wrong count", "wrong direction", "wrong background"):
        try: return corrupt_spec(spec, kind, rng, tries=30)
        except ValueError: return None
    m = _mod_spec(spec, kind, rng)
    if m is None: return None
    if kind == "wrong lighting": return m  # the same layout, other gains
    return realise(m, rng, tries=60)


def _mild(video: torch.Tensor, rng: random.Random, p: float) -> torch.Tensor:
    "With probability `p`, the degradation the judge tolerates (a VAE round trip): blur up to MILD_BLUR px or noise up to MILD_NOISE."
    if rng.random() >= p: return video
    if rng.random() < 0.5: return gaussian_blur(video, rng.uniform(0.3, MILD_BLUR))
    g = torch.Generator().manual_seed(rng.randrange(2 ** 31))
    return (video + rng.uniform(0.005, MILD_NOISE) * torch.randn(video.shape, generator=g)).clamp(-1, 1)


def short_question(facet: str, description: str) -> str:
    "The warm-up's question: the facet and its description without Fig. 15's instructions (answers keep the JSON format)."
    return f"{facet}: {description} Is this true of the video? Answer in JSON."


def ta_pair(seed: int, facets, rcfg: RewardConfig, size: int, frames: int, objects=(1, 3), p_mild: float = 0.3,
            short: bool = False) -> list[Row] | None:
    """A contrastive TA pair about one stated facet: the true question on the true video (answer Yes), and either the
    same question on a video corrupted for that facet or the same video with the facet's description changed (No).
    `short`: the warm-up's short question instead of Fig. 15's template."""
    ask = (lambda facet, description: short_question(facet, description)) if short else \
        (lambda facet, description: build_question("TA", rcfg, facet=facet, description=description))
    rng = random.Random(seed)
    spec = sample_scene(rng, size, size, frames, objects=objects)
    f = facets_of(spec)
    stated = [k for k in facets if f.get(k)]
    if not stated: return None
    facet = rng.choice(stated)
    desc = f[facet]
    q = ask(facet, desc)
    video = render(spec)[0]
    pos = Row("TA", facet, "true", _mild(video, rng, p_mild), None, q, _yes_answer(desc), "Yes", spec, desc)
    if rng.random() < 0.5:  # same question, a video that contradicts it
        kind = rng.choice(FACET_VIDEO_KINDS[facet])
        shown = _wrong_video_spec(spec, kind, rng)
        if shown is not None and facets_of(shown)[facet] != desc:
            return [pos, Row("TA", facet, kind + " (video)", _mild(render(shown)[0], rng, p_mild), None, q,
                             _no_answer(facets_of(shown)[facet], desc), "No", shown, desc)]
    for _ in range(10):  # same video, a description it contradicts
        m = _mod_spec(spec, rng.choice(DESCRIPTION_KINDS[facet]), rng)
        if m is not None and facets_of(m)[facet] and facets_of(m)[facet] != desc:
            false = facets_of(m)[facet]
            return [pos, Row("TA", facet, "wrong description", pos.video, None,
                             ask(facet, false), _no_answer(desc, false), "No", spec, false)]
    return None


def _phy_answer(kind: str | None) -> str:
    if kind is None: return _no_defect_answer("Phy")
    return json.dumps({a: "Yes" if a == PHY_KINDS[kind] else "No" for a in PHY_ASPECTS})


def _phy_video(spec, kind: str, rng: random.Random) -> torch.Tensor | None:
    "The scene with a physics defect: a teleport or shape change (drf_nb.world), or an object vanishing / appearing mid-video."
    if kind in ("teleport", "shape change"):
        try: return render(corrupt_spec(spec, kind, rng, tries=30))[0]
        except ValueError: return None
    i, k = rng.randrange(len(spec.objects)), rng.randint(2, spec.frames - 2)
    full = render(spec)[0]
    less = render(dc_replace(spec, objects=spec.objects[:i] + spec.objects[i + 1:]))[0] if len(spec.objects) > 1 else \
        render(dc_replace(spec, objects=()))[0]
    return torch.cat([full[:k], less[k:]]) if kind == "vanish" else torch.cat([less[:k], full[k:]])


def _vq_answer(kind: str | None, package_form: bool) -> str:
    "Fig. 17's schema (has obvious defect, dominant issue, evidence) or, with `package_form`, drf_nb.reward's {decision, explanation}."
    if kind is None:
        if package_form: return _no_defect_answer("VQ")
        return json.dumps({"has obvious defect": "No", "dominant issue": "none", "evidence": ["edges as sharp as the reference", "no grain beyond the reference"]})
    issue, cue = VQ_KINDS[kind]
    if package_form: return json.dumps({"has obvious defect": "Yes", "explanation": f"The frames show {issue}: {cue}."})
    return json.dumps({"has obvious defect": "Yes", "dominant issue": issue, "evidence": [cue]})


def ref_pair(dimension: str, seed: int, rcfg: RewardConfig, size: int, frames: int, objects=(1, 3), p_mild: float = 0.3,
             vq_package_share: float = 0.25) -> list[Row] | None:
    "A contrastive Phy or VQ pair: one question (the caption's), the true video vs a defective one, both followed by a reference video."
    rng = random.Random(seed)
    spec = sample_scene(rng, size, size, frames, objects=objects)
    try: ref = reference_video(spec, seed=rng.randrange(2 ** 31))
    except ValueError: return None
    q = build_question(dimension, rcfg, caption=spec.caption)
    clean = render(spec)[0]
    if dimension == "Phy":
        kind = rng.choice(list(PHY_KINDS))
        bad = _phy_video(spec, kind, rng)
        if bad is None: return None
        return [Row("Phy", "", "true", _mild(clean, rng, p_mild), ref, q, _phy_answer(None), "No", quality=0),
                Row("Phy", "", kind, _mild(bad, rng, p_mild), ref, q, _phy_answer(kind), "Yes", quality=0)]
    kind = rng.choice(list(VQ_KINDS))
    bad = corrupt(spec, kind, rng)[0]
    pf = rng.random() < vq_package_share
    return [Row("VQ", "", "true", _mild(clean, rng, p_mild), ref, q, _vq_answer(None, pf), "No", quality=0),
            Row("VQ", "", kind, bad, ref, q, _vq_answer(kind, pf), "Yes", quality=QUALITY.index(kind))]


def make_pair(dimension: str, seed: int, args, facets=TA_FACETS, objects=(1, 3), short: bool = False) -> list[Row] | None:
    rcfg = RewardConfig(num_frames=args.frames, num_reference_frames=args.frames)
    if dimension == "TA": return ta_pair(seed, facets, rcfg, args.size, args.frames, objects, args.p_mild, short)
    return ref_pair(dimension, seed, rcfg, args.size, args.frames, objects, args.p_mild, args.vq_package_share)


# ---- the generator's own videos (2026-12-07, fourth session): on the toy DiT's samples the critic agreed with the judge
# at chance exactly where the generator fails (Object(s): it called 0.83 of the samples fine where the judge passed
# 0.42; motion; Phy: every sample fine), so Diffusion-DRF's reward could not see what it was meant to fix. Renders and
# their clean corruptions never look like the generator's failures (blobby, morphing shapes; objects that barely
# move). Stage `samples` samples the generator on training-stream captions and keeps each video with the judge's
# verdict; `--generated POOL --generated-share p` then makes a share p of the critic's pairs from it: the generated
# video asked one of its caption's questions (the answer states the judge's verdict) beside the true render asked the
# same one. Held-out pool videos (every 10th) are evaluated on their own line.
POOL_SEED0 = 7 * 10 ** 8  # scene seeds of the pool (training pairs stay below 10**8, the tokenizer's start at 5 * 10**8)
PHY_CHECK_ASPECT = {"persistence": "abnormal motion", "stable count": "abnormal motion", "continuous motion": "abnormal motion",
                    "rigid size": "abnormal deformation", "rigid shape": "abnormal deformation"}
VQ_CHECK_KIND = {"sharp": "blur", "clean": "noise"}


def judged_records(videos: torch.Tensor, specs: list) -> tuple[list, list]:
    "Videos (`Tensor[B, T, 3, H, W]` in [-1, 1]) as the pool stores them (uint8) and the judge's verdict on exactly those pixels (row and measures)."
    u8 = ((videos + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return list(u8), [dict(v.row(), measures=v.measures) for v in judge(u8.float() / 127.5 - 1, specs)]


def build_pool(args) -> None:
    """Stage samples: the generator (`--generator`, a WanPipeline folder) on `--n` training-stream scenes (at most
    `--max-objects` objects), judged; written to `<out>/pool.pt` in chunks (resumes). Videos kept as uint8."""
    from drf_nb.config import load_config
    from drf_nb.sampling import load_generator
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    path, logf = out / "pool.pt", out / "pool.log"
    pool = torch.load(path, weights_only=False) if path.exists() else dict(videos=[], specs=[], verdicts=[], generator=args.generator)
    if pool["generator"] != args.generator: raise SystemExit(f"{path} holds samples of {pool['generator']}, not {args.generator}: use another --out")
    cfg = load_config("toy", {"generator": {"model_id": args.generator}})
    g = cfg.generator
    gen = load_generator(g, device="cpu")
    objects = (1, args.max_objects or 3)
    bar = tqdm(total=args.n, initial=len(pool["specs"]), desc="pool")
    while len(pool["specs"]) < args.n:
        i0 = len(pool["specs"])
        specs = [sample_scene(random.Random(POOL_SEED0 + i), args.size, args.size, args.frames, objects=objects)
                 for i in range(i0, min(args.n, i0 + 64))]
        videos, _ = judge_generator(gen, specs, seed=POOL_SEED0 + i0, steps=args.sample_steps, guidance_scale=args.guidance,
                                    max_sequence_length=g.max_sequence_length)
        stored, verdicts = judged_records(videos, specs)
        pool["videos"] += stored
        pool["specs"] += specs
        pool["verdicts"] += verdicts
        tmp = path.with_suffix(".tmp"); torch.save(pool, tmp); tmp.replace(path)
        bar.update(len(specs))
        rates = pass_rates(pd.DataFrame(pool["verdicts"]).drop(columns="measures"))
        log(logf, f"{len(pool['specs'])} samples; judge pass rates so far: " + ", ".join(f"{k} {v:.2f}" for k, v in rates.items() if not k.startswith(("phy:", "vq:"))))
    bar.close()


class Pool:
    "The judged samples of stage `samples`: training items and held-out items (every 10th)."
    def __init__(self, path):
        d = torch.load(path, weights_only=False)
        self.videos, self.specs, self.verdicts = d["videos"], d["specs"], d["verdicts"]
        self.train = [i for i in range(len(self.specs)) if i % 10 != 9]
        self.held = [i for i in range(len(self.specs)) if i % 10 == 9]

    def video(self, i: int) -> torch.Tensor: return self.videos[i].float() / 127.5 - 1


def _generated_no_answer(facet: str, desc: str, measures: dict) -> str:
    "A TA 'No' about a generated video, grounded in what the judge measured where it can be named (objects' colours and shapes)."
    if facet in ("Object(s)", "Color Requirement"):
        seen = [o for o in measures.get("objects", []) if o.get("seen")]
        shown = " and ".join(f"a {'large' if o['large'] else 'small'} {o['color']} {o['shape']}" for o in seen) or "no clear object"
        return _no_answer(shown, desc)
    return json.dumps({"answer": "No", "explanation": f"The video does not show this: {_lc(desc.strip().rstrip('.'))}."})


def generated_pair(pool: Pool, i: int, dimension: str, rng: random.Random, rcfg: RewardConfig, facets, short: bool, p_mild: float,
                   vq_package_share: float) -> list[Row] | None:
    """The pool's video `i` asked one question of its caption (the answer states the judge's verdict), then the true render
    asked the same (fine); kinds 'generated pass' / 'generated fail'."""
    spec, v, video = pool.specs[i], pool.verdicts[i], pool.video(i)
    clean = _mild(render(spec)[0], rng, p_mild)
    kinds = [VQ_CHECK_KIND[c] for c in VQ_CHECK_KIND if not v.get(f"vq: {c}", True)]  # the judge's quality verdict on the video
    qual = QUALITY.index(kinds[0]) if kinds else 0
    if dimension == "TA":
        f = facets_of(spec)
        stated = [k for k in facets if f.get(k) and v.get(k) is not None and not pd.isna(v.get(k))]
        if not stated: return None
        failing = [k for k in stated if not v[k]]
        facet = rng.choice(failing if failing and rng.random() < 0.5 else stated)
        desc, ok = f[facet], bool(v[facet])
        q = short_question(facet, desc) if short else build_question("TA", rcfg, facet=facet, description=desc)
        gen = Row("TA", facet, "generated pass" if ok else "generated fail", video, None, q,
                  _yes_answer(desc) if ok else _generated_no_answer(facet, desc, v.get("measures", {}) or {}), "Yes" if ok else "No", None, desc,
                  quality=qual)
        return [gen, Row("TA", facet, "true", clean, None, q, _yes_answer(desc), "Yes", spec, desc, quality=0)]
    try: ref = reference_video(spec, seed=rng.randrange(2 ** 31))
    except ValueError: return None
    q = build_question(dimension, rcfg, caption=spec.caption)
    if dimension == "Phy":
        bad = {PHY_CHECK_ASPECT[c] for c in PHY_CHECK_ASPECT if not v.get(f"phy: {c}", True)}
        answer = json.dumps({a: "Yes" if a in bad else "No" for a in PHY_ASPECTS}) if bad else _phy_answer(None)
        return [Row("Phy", "", "generated fail" if bad else "generated pass", video, ref, q, answer, "Yes" if bad else "No", quality=qual),
                Row("Phy", "", "true", clean, ref, q, _phy_answer(None), "No", quality=0)]
    pf = rng.random() < vq_package_share
    return [Row("VQ", "", "generated fail" if kinds else "generated pass", video, ref, q, _vq_answer(kinds[0] if kinds else None, pf),
                "Yes" if kinds else "No", quality=qual),
            Row("VQ", "", "true", clean, ref, q, _vq_answer(None, pf), "No", quality=0)]


def generated_eval_rows(pool: Pool, args, n: int) -> list[Row]:
    "Held-out pool videos (never trained on), `n` per dimension, asked as in training (only the generated rows)."
    rcfg = RewardConfig(num_frames=args.frames, num_reference_frames=args.frames)
    rows = []
    for d, dim in enumerate(("TA", "Phy", "VQ")):
        got = 0
        for k, i in enumerate(pool.held):
            if got >= n: break
            pair = generated_pair(pool, i, dim, random.Random(EVAL_SEED0 + 10 ** 6 * d + k), rcfg, TA_FACETS, False, 0.0, args.vq_package_share)
            if pair: rows.append(pair[0]); got += 1
    return rows


# ---- tokenizer
def tokenizer_corpus(args, n_scenes: int) -> list[str]:
    "Every text the critic will read or write, from scenes outside the training and held-out seed ranges."
    texts = ["system\nYou are a helpful assistant.", "user\n", "assistant\n"]
    for j in range(n_scenes):
        for d, dim in enumerate(("TA", "TA", "Phy", "VQ")):
            pair = make_pair(dim, TOKENIZER_SEED0 + 4 * j + d, args)
            if pair: texts += [t for r in pair for t in (r.question, r.answer)]
    return texts


def train_bpe(texts: list[str], vocab_size: int):
    "A byte-level BPE (Qwen2's pre-tokenizer and normaliser) trained on `texts`, in the real `Qwen2Tokenizer` with Qwen's special tokens and chat template."
    base = Qwen2Tokenizer(vocab={c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}, merges=[], unk_token=None)
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = base.backend_tokenizer.normalizer
    bpe.pre_tokenizer = base.backend_tokenizer.pre_tokenizer  # the same split as Qwen2Tokenizer, so the merges apply as trained
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(QWEN_SPECIAL_TOKENS), initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False, min_frequency=2)
    bpe.train_from_iterator(texts, trainer)
    model = json.loads(bpe.to_str())["model"]
    vocab = dict(model["vocab"])
    for t in QWEN_SPECIAL_TOKENS: vocab[t] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges, unk_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.add_special_tokens({"additional_special_tokens": QWEN_SPECIAL_TOKENS})
    tok.chat_template = QWEN_VL_CHAT_TEMPLATE
    return tok


def build_processor(tok, min_pixels: int, max_pixels: int):
    size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
    return Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(size=size), tokenizer=tok,
                               video_processor=Qwen2VLVideoProcessor(size=size, cap_pixels_per_frame=False),
                               chat_template=QWEN_VL_CHAT_TEMPLATE)  # no cap: what drf_nb.frames computes


def build_critic_model(tok, args):
    "The tiny Qwen2.5-VL: text hidden 256 x 4 layers, vision depth 4 x 128; mrope_section sums to head_dim / 2."
    tid = tok.convert_tokens_to_ids
    heads = 4
    half = args.text_hidden // heads // 2
    t_sec = half // 4
    text = dict(vocab_size=len(tok), hidden_size=args.text_hidden, intermediate_size=3 * args.text_hidden, num_hidden_layers=args.text_layers,
                num_attention_heads=heads, num_key_value_heads=2, max_position_embeddings=args.max_positions, rms_norm_eps=1e-6,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [t_sec, (half - t_sec) // 2, half - t_sec - (half - t_sec) // 2]},
                bos_token_id=tid("<|endoftext|>"), eos_token_id=tid("<|im_end|>"), pad_token_id=tid("<|endoftext|>"))
    # tokens_per_second: temporal mRoPE positions per second of video; at 16 fps a 2-frame patch lasts 1/8 s, so 16 gives each patch its own position pair
    vision = dict(depth=args.vision_depth, hidden_size=args.vision_hidden, intermediate_size=2 * args.vision_hidden, num_heads=4,
                  out_hidden_size=args.text_hidden, patch_size=14, spatial_merge_size=2, temporal_patch_size=2, tokens_per_second=16,
                  window_size=112, fullatt_block_indexes=[args.vision_depth // 2 - 1, args.vision_depth - 1])
    cfg = Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=tid("<|image_pad|>"), video_token_id=tid("<|video_pad|>"),
                           vision_start_token_id=tid("<|vision_start|>"), vision_end_token_id=tid("<|vision_end|>"), tie_word_embeddings=False)
    return Qwen2_5_VLForConditionalGeneration(cfg)


def wrap_critic(model, processor, args) -> QwenVLCritic:
    "The package's critic around the model being trained (the same preprocessing, prompt and token path as the reward), parameters trainable."
    critic = QwenVLCritic(model, processor, critic_config(args, "unused"))
    model.requires_grad_(True)
    model.train()
    return critic


def critic_config(args, model_id: str) -> CriticConfig:
    return CriticConfig(family="qwen2_5_vl", model_id=str(model_id), dtype="float32", gradient_checkpointing=False,
                        attn_implementation="sdpa", min_pixels=args.min_pixels, max_pixels=args.max_pixels)


def check_processor_parity(critic: QwenVLCritic, rows: list[Row]) -> None:
    "The official processor on the tokenizer gives the same input_ids (and video grid) as the package's critic path."
    for r in rows:
        frames = r.video if r.reference is None else concat_reference(r.video, r.reference, critic.temporal_patch)
        visual = critic.visual_inputs(frames, FPS)
        ours = critic._ids(critic.expand_prompt(critic.prompt_text(r.question), visual))
        u8 = ((frames.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # (T, C, H, W)
        text = critic.prompt_text(r.question)
        off = critic.processor(text=[text], videos=[u8], return_tensors="pt", do_sample_frames=False)
        if off["input_ids"][0].tolist() != ours:
            raise SystemExit(f"official processor and the package disagree on input_ids for a {r.dimension} row "
                             f"({len(off['input_ids'][0])} vs {len(ours)} tokens)")
        if off["video_grid_thw"].tolist() != visual["video_grid_thw"].tolist():
            raise SystemExit(f"video grid differs: official {off['video_grid_thw'].tolist()}, package {visual['video_grid_thw'].tolist()}")


# ---- forward
def _decision_positions(critic, r: Row, ans_ids: list[int]) -> list[int]:
    "Indices (into the answer's tokens) of the Yes/No decision token(s): the first for TA / VQ, the five aspect values for Phy."
    yes, no = critic.tokenizer.convert_tokens_to_ids(["Yes", "No"])
    pos = [j for j, t in enumerate(ans_ids) if t in (yes, no)]
    want = 5 if r.dimension == "Phy" else 1
    if len(pos) < want: raise SystemExit(f"'Yes'/'No' are not single tokens in {r.answer!r}: retrain the tokenizer")
    return pos[:want]


def forward_rows(critic: QwenVLCritic, rows: list[Row]):
    """One batched forward of `rows` through the package critic's path (visual inputs, one vision encoding per distinct
    video, chat prompt, answer + end-of-turn): per row the answer's token log-probs (L,), its token ids, and the
    log-softmax rows at the decision positions (k, vocab)."""
    cache, visuals, feats = {}, [], []
    for r in rows:
        key = (id(r.video), id(r.reference))
        if key not in cache:
            frames = r.video if r.reference is None else concat_reference(r.video, r.reference, critic.temporal_patch)
            v = critic.visual_inputs(frames, FPS)
            cache[key] = (v, critic.encode(v))
        visuals.append(cache[key][0]); feats.append(cache[key][1])
    ids_rows, spans = [], []
    for r, v in zip(rows, visuals):
        p, a = critic._ids(critic.expand_prompt(critic.prompt_text(r.question), v)), critic.answer_ids(r.answer)
        if len(p) + len(a) > critic.max_positions: raise SystemExit(f"{r.dimension} row of {len(p) + len(a)} tokens exceeds max_positions")
        ids_rows.append(p + a); spans.append((len(p), len(a)))
    forward_rows.prompts = [critic.expand_prompt(critic.prompt_text(r.question), v) for r, v in zip(rows, visuals)]  # for the grounding loss
    L = max(map(len, ids_rows))
    ids = torch.full((len(rows), L), critic.tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), L), dtype=torch.long)
    for i, row in enumerate(ids_rows): ids[i, :len(row)] = torch.tensor(row); mask[i, :len(row)] = 1
    hidden = critic.lm_hidden(ids, mask, visuals, feats)
    forward_rows.hidden = hidden
    out = []
    for i, (p, a) in enumerate(spans):
        lp = critic.model.get_output_embeddings()(hidden[i, p - 1:p + a - 1]).float().log_softmax(-1)  # position t predicts t + 1
        tgt = ids[i, p:p + a]
        dec = _decision_positions(critic, rows[i], tgt.tolist())
        out.append((lp.gather(-1, tgt[:, None])[:, 0], tgt, lp[dec]))
    forward_rows.features = [(v["video_grid_thw"][0], f) for v, f in zip(visuals, feats)]  # for the auxiliary loss
    forward_rows.spans = spans  # (prompt length, answer length) per row: the quality read-out's position
    return out, [len(r) for r in ids_rows]


# ---- auxiliary vision loss (training only: the exported critic is the plain Qwen2.5-VL)
class AuxHeads(torch.nn.Module):
    """Linear read-outs of the critic's merged vision tokens, trained beside it so the vision tower learns what the
    questions ask about before the language model learns to use it: per token (2 frames x 12x12 px of the 48-px
    frame) which object colours and shapes it covers; per video (mean token) the count, background and motions."""
    def __init__(self, hidden: int):
        super().__init__()
        self.dense = torch.nn.Linear(hidden, len(COLORS) + len(SHAPES))
        self.pooled = torch.nn.Linear(hidden, 4 + len(BACKGROUNDS) + len(MOTIONS))


_COLOR_I = {c: i for i, c in enumerate(COLORS)}
_SHAPE_I = {c: i for i, c in enumerate(SHAPES)}
_BG_I = {c: i for i, c in enumerate(BACKGROUNDS)}
_MOTION_I = {c: i for i, c in enumerate(MOTIONS)}


def token_cover(spec, grid) -> torch.Tensor:
    "Which objects cover >= 10% of each merged vision token's cell: (N, t, h, w) booleans for the video grid `grid`."
    t, h, w = (int(x) for x in grid)
    h, w = h // 2, w // 2  # merged 2x2
    _, masks = render([spec], return_masks=True)  # (1, N, T, H, W)
    m = masks[0].float()
    T = m.shape[1]
    m = torch.cat([m, m[:, -1:].expand(-1, 2 * t - T, -1, -1)], 1) if 2 * t > T else m[:, :2 * t]  # the processor repeats the last frame
    return F.adaptive_avg_pool3d(m[None], (t, h, w))[0] >= 0.1 if m.numel() else torch.zeros(0, t, h, w, dtype=torch.bool)  # (N, t, h, w)


def aux_targets(spec, grid) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    "Per merged token, the colours and shapes of objects covering >= 10% of its cell (multi-hot); the count, background and motions."
    cover = token_cover(spec, grid)
    dense = torch.zeros(cover.shape[1:].numel(), len(COLORS) + len(SHAPES))
    for k, o in enumerate(spec.objects):
        c = cover[k].flatten()
        dense[c, _COLOR_I[o.color]] = 1
        dense[c, len(COLORS) + _SHAPE_I[o.shape]] = 1
    motions = torch.zeros(len(MOTIONS))
    for o in spec.objects: motions[_MOTION_I[o.motion]] = 1
    return dense, motions, min(len(spec.objects), 3), _BG_I[spec.background]


def aux_loss(heads: AuxHeads, rows: list[Row], features) -> torch.Tensor:
    "BCE on the per-token colours/shapes and the motions, cross-entropy on count and background, over the rows that show a known scene."
    losses, seen = [], set()
    for r, (grid, f) in zip(rows, features):
        if r.spec is None or id(f) in seen: continue
        seen.add(id(f))
        dense, motions, count, bg = aux_targets(r.spec, grid)
        if dense.shape[0] != f.shape[0]: raise SystemExit(f"aux: {f.shape[0]} vision tokens for a grid of {dense.shape[0]}")
        pooled = heads.pooled(f.mean(0))
        losses.append(F.binary_cross_entropy_with_logits(heads.dense(f), dense)
                      + F.binary_cross_entropy_with_logits(pooled[-len(MOTIONS):], motions)
                      + F.cross_entropy(pooled[:4][None], torch.tensor([count]))
                      + F.cross_entropy(pooled[4:4 + len(BACKGROUNDS)][None], torch.tensor([bg])))
    return torch.stack(losses).mean() if losses else torch.zeros(())


# ---- grounding loss on the language model (training only, like the auxiliary vision loss)
# Without it the decision learned the global facets (background, count) but never an object's colour or shape: the
# question's word must find the one or two video tokens of its object among ~80, and the decision token's loss alone
# gave that attention almost no gradient. This loss asks the language model, at each object colour or shape word of a
# TA question, what the video shows of it: at a shape word, the colours of the video's objects of that shape; at a
# colour word, the shapes of its objects of that colour (none, if it has none). The decision then only has to compare
# the word before ("red") with what was looked up at the word ("circle").
GROUND_WORDS = re.compile(r"\b(" + "|".join(list(COLORS) + [s + "s?" for s in SHAPES]) + r")\b")
N_GROUND = len(COLORS) + len(SHAPES)  # the head's outputs: colours, then shapes


def grounding_targets(question: str, spec) -> list[tuple[int, int, torch.Tensor, torch.Tensor]]:
    """(start, end, target, mask) per object colour or shape word of `question` (the template itself names none): for a
    shape word, the multi-hot colours of the scene's objects of that shape; for a colour word, the multi-hot shapes of
    its objects of that colour; `mask` selects the half of the head's outputs that is scored."""
    out = []
    for m in GROUND_WORDS.finditer(question.lower()):
        w = m.group(1)
        tgt, mask = torch.zeros(N_GROUND), torch.zeros(N_GROUND)
        if w in COLORS:
            mask[len(COLORS):] = 1
            for o in spec.objects:
                if o.color == w: tgt[len(COLORS) + _SHAPE_I[o.shape]] = 1
        else:
            shape = w[:-1] if w not in SHAPES else w
            mask[:len(COLORS)] = 1
            for o in spec.objects:
                if o.shape == shape: tgt[_COLOR_I[o.color]] = 1
        out.append((m.start(), m.end(), tgt, mask))
    return out


def grounding_positions(critic, prompt: str, question: str, spec) -> tuple[list[int], list[torch.Tensor], list[torch.Tensor]]:
    "Token positions (the last token of each word) in `prompt`'s ids, with the targets and masks of `grounding_targets`."
    base = prompt.rfind(question)
    if base < 0 or spec is None: return [], [], []
    enc = critic.tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    pos, tgt, msk = [], [], []
    for a, b, t, k in grounding_targets(question, spec):
        toks = [i for i, (x, y) in enumerate(enc.offset_mapping) if x < base + b and y > base + a]
        if toks: pos.append(toks[-1]); tgt.append(t); msk.append(k)
    return pos, tgt, msk


def grounding_logits(head: torch.nn.Linear, critic, rows: list[Row]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    "The head's logits (words, N_GROUND) at every grounded word of the last `forward_rows` batch (TA rows), targets and masks."
    logits, targets, masks = [], [], []
    for i, (r, prompt) in enumerate(zip(rows, forward_rows.prompts)):
        if r.dimension != "TA": continue
        pos, tgt, msk = grounding_positions(critic, prompt, r.question, r.spec)
        if pos: logits.append(head(forward_rows.hidden[i, pos])); targets += tgt; masks += msk
    if not logits: return torch.zeros(0, N_GROUND), torch.zeros(0, N_GROUND), torch.zeros(0, N_GROUND)
    return torch.cat(logits), torch.stack(targets), torch.stack(masks)


def grounding_loss(head, critic, rows: list[Row]) -> torch.Tensor:
    logits, targets, masks = grounding_logits(head, critic, rows)
    if not len(logits): return torch.zeros(())
    return (F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * masks).sum() / masks.sum()


# ---- size read-outs (training only, 2026-12-07): with one object per scene, colour, shape and count were refused at
# 1.00 within 900 steps of the Object(s) facet, a wrong size never (0.00-0.17): the vision read-out and the grounding
# above carry colours and shapes only. These two heads add the size, in the vision tokens (per token: the sizes of the
# objects covering it) and at each object word of a TA question (the sizes of the video's objects it names).
_SIZE_I = {c: i for i, c in enumerate(SIZES)}


class AttributeHeads(torch.nn.Module):
    """`dense` and `ground`: the sizes (per vision token; at each object word). `phrase`: at each shape word, whether the video
    has an object of the noun phrase it ends ("large green triangle"). Added after 1,500 steps in which the size read-outs
    were exact (1.00 at the words, 0.91 per token) and the truth head refused wrong sizes (1.00) while the decision never
    did: the decision reads mismatches at the shape word, where colour and shape mismatches are found, so the size's
    mismatch is asked for there too."""
    def __init__(self, hidden: int):
        super().__init__()
        self.dense = torch.nn.Linear(hidden, len(SIZES))
        self.ground = torch.nn.Linear(hidden, len(SIZES))
        self.phrase = torch.nn.Linear(hidden, 1)
        # the same three read-outs for the temporal and positional facets (added when, with colour, shape, size and count
        # learned on one object, motion, location, lighting and camera stayed at chance, their truth head too): per token and
        # at each object word the objects' motions and which location words their start satisfies; per video the lighting
        # and the camera; at the end of each motion or location clause of a description, whether the clause is true
        self.motion_dense = torch.nn.Linear(hidden, len(MOTIONS))
        self.motion_ground = torch.nn.Linear(hidden, len(MOTIONS))
        self.loc_dense = torch.nn.Linear(hidden, len(LOCATIONS))
        self.loc_ground = torch.nn.Linear(hidden, len(LOCATIONS))
        self.scene = torch.nn.Linear(hidden, len(LIGHTING) + len(CAMERA))
        self.clause = torch.nn.Linear(hidden, 1)
        # the video's lighting and camera read by the language model at the end of every TA description (added when the
        # vision read-out of the lighting reached 1.00 and the Lighting decision stayed at 0.50: the LM never fetched it)
        self.scene_ground = torch.nn.Linear(hidden, len(LIGHTING) + len(CAMERA))
        # the video's defect (QUALITY: none, blur, noise) per vision token of the video (the reference's tokens: none),
        # and read by the language model at the prompt's last token, where the answer starts (added at step 27,116: the
        # VQ decision had said "no defect" to every blurred or noisy video since the start, and single-prompt tuning
        # bought Object(s) with blur the critic never refused)
        self.quality = torch.nn.Linear(hidden, len(QUALITY))
        self.quality_ground = torch.nn.Linear(hidden, len(QUALITY))


_LOC_I = {c: i for i, c in enumerate(LOCATIONS)}
_LIGHT_I = {c: i for i, c in enumerate(LIGHTING)}
_CAM_I = {c: i for i, c in enumerate(CAMERA)}
_LOC_CANON = {w: loc for loc, ws in LOCATION_WORDS.items() for w in ws}


def object_attributes(o, spec) -> torch.Tensor:
    "One object's read-out targets: multi-hot sizes | motions | the location words its start satisfies."
    t = torch.zeros(len(SIZES) + len(MOTIONS) + len(LOCATIONS))
    t[_SIZE_I[o.size]] = 1
    t[len(SIZES) + _MOTION_I[o.motion]] = 1
    x, y = object_track(o, spec)[0]
    th = world_thresholds(spec.height, spec.width, spec.frames)
    for loc in LOCATIONS:
        if _location_ok(loc, x, y, spec.height, spec.width, th): t[len(SIZES) + len(MOTIONS) + _LOC_I[loc]] = 1
    return t


def clause_truth(description: str, spec) -> list[tuple[str, float]]:
    "(clause, 1/0) per motion or location clause of a description ('the red circle moves up', '... starts at the top')."
    out = []
    for c in description.split("; "):
        m = re.fullmatch(r"(?i)the (.+?) (" + "|".join(SHAPES) + r") (moves (\w+)(?: and bounces off the \w+ edge)?|stays still|starts (.+))", c)
        if not m: continue
        color, shape, _, move, where = m.groups()
        named = [o for o in spec.objects if o.color == color.lower() and o.shape == shape]
        if where is not None:
            loc = _LOC_CANON.get(where)
            if loc is None: continue
            th = world_thresholds(spec.height, spec.width, spec.frames)
            ok = any(_location_ok(loc, *object_track(o, spec)[0], spec.height, spec.width, th) for o in named)
        else:
            want = move or "still"
            bounce = "bounces" in c
            ok = any(o.motion == want and (o.bounce == bounce or want == "still") for o in named)
        out.append((c, float(ok)))
    return out


NOUN_PHRASE = re.compile(r"\b(?:(" + "|".join(SIZES) + r") )?(?:(" + "|".join(sorted(COLORS, key=len, reverse=True)) + r") )?("
                         + "|".join(SHAPES) + r")s?\b")


def phrase_truth(question: str, spec) -> list[tuple[int, int, float]]:
    "(start, end, 1/0) per object noun phrase of `question`: whether `spec` has an object of its size, colour and shape (those stated)."
    out = []
    for m in NOUN_PHRASE.finditer(question.lower()):
        size, color, shape = m.groups()
        hit = any(o.shape == shape and (size is None or o.size == size) and (color is None or o.color == color) for o in spec.objects)
        out.append((m.start(3), m.end(), float(hit)))
    return out


def token_attributes(spec, grid) -> torch.Tensor:
    "Per merged vision token, the multi-hot `object_attributes` of the objects covering >= 10% of its cell (as `aux_targets` covers)."
    cover = token_cover(spec, grid)
    out = torch.zeros(cover.shape[1:].numel(), len(SIZES) + len(MOTIONS) + len(LOCATIONS))
    for k, o in enumerate(spec.objects): out[cover[k].flatten()] = torch.maximum(out[cover[k].flatten()], object_attributes(o, spec))
    return out


def word_attributes(question: str, spec) -> list[tuple[int, int, torch.Tensor]]:
    "(start, end, multi-hot `object_attributes`) per object colour or shape word of `question`: of the video's objects of that colour (shape)."
    out = []
    for m in GROUND_WORDS.finditer(question.lower()):
        w = m.group(1)
        tgt = torch.zeros(len(SIZES) + len(MOTIONS) + len(LOCATIONS))
        shape = w[:-1] if w not in SHAPES and w not in COLORS else w
        for o in spec.objects:
            if (o.color == w) if w in COLORS else (o.shape == shape): tgt = torch.maximum(tgt, object_attributes(o, spec))
        out.append((m.start(), m.end(), tgt))
    return out


def _last_token(enc, a: int, b: int) -> int | None:
    "The index of the last token of characters [a, b) in a tokenizer encoding with offsets, or None."
    toks = [k for k, (x, y) in enumerate(enc.offset_mapping) if x < b and y > a]
    return toks[-1] if toks else None


def _attr_logits(heads: AttributeHeads, x: torch.Tensor, dense: bool) -> torch.Tensor:
    "Sizes | motions | locations logits of vision tokens (`dense`) or of object words."
    if dense: return torch.cat([heads.dense(x), heads.motion_dense(x), heads.loc_dense(x)], -1)
    return torch.cat([heads.ground(x), heads.motion_ground(x), heads.loc_ground(x)], -1)


# defects are rare among the rows whose quality is known (one video of a VQ pair; Phy, TA and generated rows are mostly
# clean): the defect classes weigh more, or the read-outs settle on "none" (560 steps at step 27,116 inside the
# attribute loss's mean: both read-outs said "none" to every held-out blurred or noisy video)
QUALITY_CLASS_WEIGHT = torch.tensor([1.0, 4.0, 4.0])


def quality_losses(heads: AttributeHeads, rows: list[Row]) -> list[torch.Tensor]:
    """The quality read-outs on the last `forward_rows` batch, for rows whose video's defect is known: each vision token of
    the video (its first half when a reference follows it, whose tokens are clean) and the language model's state at the
    prompt's last token, both classified into QUALITY."""
    losses, seen = [], set()
    for i, (r, (grid, f)) in enumerate(zip(rows, forward_rows.features)):
        if r.quality is None: continue
        if id(f) not in seen:
            seen.add(id(f))
            n = f.shape[0] // 2 if r.reference is not None else f.shape[0]  # both halves padded to the same number of frames
            tgt = torch.zeros(f.shape[0], dtype=torch.long); tgt[:n] = r.quality
            losses.append(F.cross_entropy(heads.quality(f), tgt, weight=QUALITY_CLASS_WEIGHT))
        p, _ = forward_rows.spans[i]
        losses.append(F.cross_entropy(heads.quality_ground(forward_rows.hidden[i, p - 1])[None], torch.tensor([r.quality]),
                                      weight=QUALITY_CLASS_WEIGHT))
    return losses


def attribute_loss(heads: AttributeHeads, critic, rows: list[Row]) -> torch.Tensor:
    """The read-outs of `AttributeHeads` on the last `forward_rows` batch: per vision token and per video of rows with a known
    scene; at the object words, clause ends, description end and noun phrases of TA rows."""
    losses, seen = [], set()
    for r, (grid, f) in zip(rows, forward_rows.features):
        if r.spec is None or id(f) in seen: continue
        seen.add(id(f))
        tgt = token_attributes(r.spec, grid)
        if tgt.shape[0] == f.shape[0]: losses.append(F.binary_cross_entropy_with_logits(_attr_logits(heads, f, dense=True), tgt))
        pooled = heads.scene(f.mean(0))
        s = r.spec
        losses.append(F.cross_entropy(pooled[None, :len(LIGHTING)], torch.tensor([_LIGHT_I[s.lighting or "bright"]]))
                      + F.cross_entropy(pooled[None, len(LIGHTING):], torch.tensor([_CAM_I[s.camera or "still"]])))
    for i, (r, prompt) in enumerate(zip(rows, forward_rows.prompts)):
        base = prompt.rfind(r.question)
        if r.dimension != "TA" or r.spec is None or base < 0: continue
        enc = critic.tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
        hidden = forward_rows.hidden[i]
        spans = [(base + a, base + b, t) for a, b, t in word_attributes(r.question, r.spec)]
        spans = [(k, t) for a, b, t in spans if (k := _last_token(enc, a, b)) is not None]
        if spans: losses.append(F.binary_cross_entropy_with_logits(_attr_logits(heads, hidden[[k for k, _ in spans]], dense=False),
                                                                    torch.stack([t for _, t in spans])))
        truths = [(heads.clause, base + a, base + a + len(c), t) for c, t in clause_truth(r.statement or "", r.spec) if (a := r.question.rfind(c)) >= 0]
        truths += [(heads.phrase, base + a, base + b, t) for a, b, t in phrase_truth(r.question, r.spec)]
        logits, tgts = [], []
        for head, a, b, t in truths:
            k = _last_token(enc, a, b)
            if k is not None: logits.append(head(hidden[k])[0]); tgts.append(t)
        if logits: losses.append(F.binary_cross_entropy_with_logits(torch.stack(logits), torch.tensor(tgts)))
        t = truth_position(critic, prompt, r.question, r.statement) if r.statement else None
        if t is not None:
            p = heads.scene_ground(forward_rows.hidden[i, t])
            losses.append(F.cross_entropy(p[None, :len(LIGHTING)], torch.tensor([_LIGHT_I[r.spec.lighting or "bright"]]))
                          + F.cross_entropy(p[None, len(LIGHTING):], torch.tensor([_CAM_I[r.spec.camera or "still"]])))
    return torch.stack(losses).mean() if losses else torch.zeros(())


# ---- truth loss (training only): whether the stated description is true of the video, read linearly off the LM's
# hidden state at the description's last token. With the grounding loss the colour and shape words learned what the
# video shows of them, yet the decision never refused a wrong colour or shape: this asks the language model to
# compute the comparison where all of the description has been read, one attention hop from the decision.
# Tried on 2026-12-07 (toy_runs/README.md): alone it did not help; a one-object-first curriculum did.
def truth_position(critic, prompt: str, question: str, statement: str) -> int | None:
    "The token index in `prompt`'s ids of the last token of `statement` (inside `question`), or None."
    base = prompt.rfind(question)
    a = question.rfind(statement) if statement else -1
    if base < 0 or a < 0: return None
    b = base + a + len(statement)
    enc = critic.tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    toks = [i for i, (x, y) in enumerate(enc.offset_mapping) if x < b and y > base + a]
    return toks[-1] if toks else None


def truth_logits(head: torch.nn.Linear, critic, rows: list[Row]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    "The head's logit at each TA row's description end in the last `forward_rows` batch, the targets (1: true), the rows' indices."
    logits, targets, idx = [], [], []
    for i, (r, prompt) in enumerate(zip(rows, forward_rows.prompts)):
        if r.dimension != "TA" or not r.statement: continue
        t = truth_position(critic, prompt, r.question, r.statement)
        if t is None: continue
        logits.append(head(forward_rows.hidden[i, t])[0]); targets.append(float(r.decision == "Yes")); idx.append(i)
    if not logits: return torch.zeros(0), torch.zeros(0), []
    return torch.stack(logits), torch.tensor(targets), idx


def truth_loss(head, critic, rows: list[Row]) -> torch.Tensor:
    logits, targets, _ = truth_logits(head, critic, rows)
    return F.binary_cross_entropy_with_logits(logits, targets) if len(logits) else torch.zeros(())


@torch.no_grad()
def aux_accuracy(critic, heads: AuxHeads, specs: list) -> dict:
    "Held-out read-out accuracy of the auxiliary heads: per-token colour and shape presence (and the all-absent baseline), count, background, motions."
    dense_ok, dense_base, count_ok, bg_ok, mot_ok = [], [], [], [], []
    for s in specs:
        v = critic.visual_inputs(render([s])[0], FPS)
        f = critic.encode(v)
        dense, motions, count, bg = aux_targets(s, v["video_grid_thw"][0])
        dense_ok.append(((heads.dense(f) > 0) == dense.bool()).float().mean().item()); dense_base.append((dense == 0).float().mean().item())
        pooled = heads.pooled(f.mean(0))
        count_ok.append(int(pooled[:4].argmax()) == count); bg_ok.append(int(pooled[4:4 + len(BACKGROUNDS)].argmax()) == bg)
        mot_ok.append(((pooled[-len(MOTIONS):] > 0) == motions.bool()).float().mean().item())
    return {"tokens": np.mean(dense_ok), "tokens (all-absent baseline)": np.mean(dense_base), "count": np.mean(count_ok),
            "background": np.mean(bg_ok), "motions": np.mean(mot_ok)}


def pretrain_vision(critic, heads: AuxHeads, args, logf: Path) -> None:
    """Before any question: the vision tower and the auxiliary heads alone, `--vision-steps` steps of `--vision-batch`
    fresh scenes (a vision encoder pretrained before the language model learns to read it, as VLMs are built).
    Only for a new run; it takes minutes, since no language model runs."""
    visual = critic.model.model.visual
    params = list(visual.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=args.vision_lr, weight_decay=0.01)
    rng, held = random.Random(args.seed + 7), [sample_scene(random.Random(EVAL_SEED0 - 1 - i), args.size, args.size, args.frames) for i in range(24)]
    t0 = time.time()
    for step in tqdm(range(args.vision_steps), desc="vision", mininterval=10):
        specs = [sample_scene(rng, args.size, args.size, args.frames) for _ in range(args.vision_batch)]
        videos = render(specs)
        rows = [Row("TA", "", "true", _mild(v, rng, args.p_mild), None, "", "", "Yes", s) for v, s in zip(videos, specs)]
        feats = []
        for r in rows:
            v = critic.visual_inputs(r.video, FPS)
            feats.append((v["video_grid_thw"][0], critic.encode(v)))
        for g in opt.param_groups: g["lr"] = args.vision_lr * min(1.0, (step + 1) / 100)
        loss = aux_loss(heads, rows, feats)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if (step + 1) % 250 == 0 or step + 1 == args.vision_steps:
            acc = aux_accuracy(critic, heads, held)
            log(logf, f"vision pretraining step {step + 1}/{args.vision_steps} loss {loss.item():.3f} ({time.time() - t0:.0f}s) | held-out read-out: "
                      + ", ".join(f"{k} {v:.3f}" for k, v in acc.items()))


def pair_loss(critic, rows: list[Row], decision_weight: float, heads: AuxHeads | None = None, aux_weight: float = 0.0,
              ground: torch.nn.Linear | None = None, ground_weight: float = 0.0, truth: torch.nn.Linear | None = None,
              truth_weight: float = 0.0, sizes: AttributeHeads | None = None, attribute_weight: float = 0.0,
              quality_weight: float = 0.0) -> tuple[torch.Tensor, float]:
    "Mean over rows of the weighted answer NLL (decision tokens x `decision_weight`), and the batch's decision accuracy."
    outs, _ = forward_rows(critic, rows)
    yes, no = critic.tokenizer.convert_tokens_to_ids(["Yes", "No"])
    losses, correct = [], []
    for r, (tok_lp, tgt, dec_lp) in zip(rows, outs):
        w = torch.ones_like(tok_lp)
        dec = _decision_positions(critic, r, tgt.tolist())
        w[dec] = decision_weight
        losses.append(-(w * tok_lp).sum() / w.sum())
        correct.append(_predict(r, dec_lp, yes, no) == r.decision)
    loss = torch.stack(losses).mean()
    if heads is not None and aux_weight > 0: loss = loss + aux_weight * aux_loss(heads, rows, forward_rows.features)
    if ground is not None and ground_weight > 0:
        loss = loss + ground_weight * grounding_loss(ground, critic, rows)
    if truth is not None and truth_weight > 0: loss = loss + truth_weight * truth_loss(truth, critic, rows)
    if sizes is not None and attribute_weight > 0: loss = loss + attribute_weight * attribute_loss(sizes, critic, rows)
    if sizes is not None and quality_weight > 0 and (q := quality_losses(sizes, rows)): loss = loss + quality_weight * torch.stack(q).mean()
    return loss, float(np.mean(correct))


def _predict(r: Row, dec_lp: torch.Tensor, yes: int, no: int) -> str:
    "The decision read off log p(Yes) vs log p(No): TA/VQ at the decision token; Phy 'Yes' (defect) if any aspect prefers Yes."
    prefers_yes = (dec_lp[:, yes] > dec_lp[:, no]).tolist()
    return "Yes" if any(prefers_yes) else "No"


# ---- held-out evaluation
def eval_rows(args, n_per_group: int) -> list[Row]:
    "Held-out pairs (scene seeds from EVAL_SEED0 up, never drawn in training): n per TA facet, n for Phy and for VQ."
    rows, seed = [], EVAL_SEED0
    facets = [f for f in TA_FACETS if not getattr(args, "facets", None) or f in args.facets]  # an experiment's restriction
    objects = (1, args.max_objects) if getattr(args, "max_objects", None) else (1, 3)
    short = getattr(args, "short_share", 0) >= 1.0
    for group in facets + ["Phy", "VQ"]:
        got = 0
        while got < n_per_group:
            seed += 1
            pair = make_pair("TA", seed, args, facets=(group,), objects=objects, short=short) if group in TA_FACETS else make_pair(group, seed, args)
            if pair: rows += pair; got += 1
    return rows


@torch.no_grad()
def evaluate_critic(critic, rows: list[Row], batch: int = 8, ground: torch.nn.Linear | None = None,
                    truth: torch.nn.Linear | None = None) -> dict:
    "Decision accuracy per dimension, TA facet and corruption kind; answer NLL per token; with `ground`, its word accuracy."
    was = critic.model.training
    critic.model.eval()
    yes, no = critic.tokenizer.convert_tokens_to_ids(["Yes", "No"])
    recs, g_ok, g_pos = [], [], []
    order = sorted(range(len(rows)), key=lambda i: (rows[i].dimension, len(rows[i].question)))  # similar lengths per batch
    for s in range(0, len(order), batch):
        chunk = [rows[i] for i in order[s:s + batch]]
        # Phy is read off the no-defect answer: a defect answer's own "Yes" would sit in the prefix of later aspects
        fed = [dc_replace(r, answer=_phy_answer(None)) if r.dimension == "Phy" else r for r in chunk]
        outs, _ = forward_rows(critic, fed)
        if ground is not None:
            logits, targets, masks = grounding_logits(ground, critic, fed)
            # a word is right when every scored output is: the looked-up colours (or shapes) exactly
            g_ok += ((((logits > 0).float() == targets) | (masks == 0)).all(-1)).tolist(); g_pos += (targets.sum(-1) > 0).tolist()
        truth_ok = {}
        if truth is not None:
            tl, tt, ti = truth_logits(truth, critic, fed)
            truth_ok = {i: bool((l > 0) == (t > 0.5)) for i, l, t in zip(ti, tl.tolist(), tt.tolist())}
        for j, (r, f, (tok_lp, _, dec_lp)) in enumerate(zip(chunk, fed, outs)):
            recs.append(dict(dimension=r.dimension, facet=r.facet, kind=r.kind, ok=_predict(r, dec_lp, yes, no) == r.decision,
                             nll=-tok_lp.mean().item() if f.answer == r.answer else float("nan"), truth=truth_ok.get(j, np.nan)))
    critic.model.train(was)
    df = pd.DataFrame(recs)
    out = {"nll": df.nll.mean()}  # over rows whose own answer was fed (all but Phy defects)
    for d, g in df.groupby("dimension", sort=False): out[d] = g.ok.mean()
    ta = df[df.dimension == "TA"]
    out["facets"] = {f: g.ok.mean() for f, g in ta.groupby("facet")}
    out["kinds"] = {k: g.ok.mean() for k, g in df.groupby(["dimension", "kind"])}
    if g_ok: out["grounding"] = (float(np.mean(g_ok)), float(np.mean(g_pos)), len(g_ok))
    if truth is not None: out["truth"] = {k: g.truth.astype(float).mean() for k, g in ta.groupby("kind")}
    return out


def _fmt_eval(ev: dict) -> str:
    head = f"held-out nll/token {ev['nll']:.3f} | acc " + " ".join(f"{d} {ev[d]:.3f}" for d in ("TA", "Phy", "VQ") if d in ev)
    facets = ", ".join(f"{f} {a:.2f}" for f, a in ev["facets"].items())
    kinds = ", ".join(f"{d}/{k} {a:.2f}" for (d, k), a in ev["kinds"].items())
    g = f" | grounding words exact {ev['grounding'][0]:.3f} (share with a match {ev['grounding'][1]:.2f}, n {ev['grounding'][2]})" if "grounding" in ev else ""
    t = " | truth head by kind: " + ", ".join(f"{k} {a:.2f}" for k, a in ev["truth"].items()) if "truth" in ev else ""
    return f"{head}{g} | TA facets: {facets} | by kind: {kinds}{t}"


# ---- the stage
def phase_of(step: int, args) -> tuple[int, str, tuple, tuple, bool]:
    "The curriculum's phase (`_phase_of`) with the experiment's restrictions (`--facets`, `--max-objects`) applied."
    phase, dim, facets, objects, short = _phase_of(step, args)
    if getattr(args, "facets", None): facets = tuple(f for f in args.facets if f in TA_FACETS) or facets
    if getattr(args, "max_objects", None): objects = (objects[0], min(objects[1], args.max_objects))
    return phase, dim, facets, objects, short


def _phase_of(step: int, args) -> tuple[int, str, tuple, tuple, bool]:
    """Curriculum: (phase, dimension of this step's pairs, TA facets, object-count range, short questions?). Phase 0
    (steps below `--short-steps`): colour and count on short questions, so the decision first learns to read the video
    without Fig. 15's instructions between; later phases start at `args.phase_starts` and keep `--short-share` of TA steps short."""
    p1, p2 = args.phase_starts
    r = random.Random(args.seed * 10 ** 7 + step)
    if step < args.short_steps: return 0, "TA", FIRST_FACETS, (1, 2), True
    short = r.random() < args.short_share
    if step < p1: return 1, "TA", FIRST_FACETS, (1, 2), short
    if step < p2: return 2, "TA", TA_FACETS, (1, 3), short
    u = r.random()
    dim = "TA" if u < args.ta_share else "Phy" if u < args.ta_share + (1 - args.ta_share) / 2 else "VQ"
    return 3, dim, TA_FACETS, (1, 3), short and dim == "TA"


# ---- a schedule of experiment flags: the critic's run changed its curriculum by hand over several sessions (a ladder of
# facets and object counts, read-outs added as they were found to be needed); `--schedule` replays such a history (or
# runs a planned one) unattended, so a run from scratch retraces it
SCHEDULE_FLAGS = {"facets": None, "max_objects": None, "short_share": 0.2, "truth_weight": 0.0, "attribute_weight": 0.0, "phases": (6000, 9000),
                  "generated_share": 0.0, "ta_share": 0.5, "quality_weight": 0.0}


def load_schedule(path) -> list[dict]:
    "`[{'from': step, 'flags': {...}}, ...]` sorted by step; each entry's flags (of `SCHEDULE_FLAGS`) hold until the next entry."
    entries = json.loads(Path(path).read_text())
    if not isinstance(entries, list) or not entries: raise SystemExit(f"--schedule {path}: a JSON list of {{'from': step, 'flags': {{...}}}} entries")
    for e in entries:
        bad = set(e.get("flags", {})) - set(SCHEDULE_FLAGS)
        if "from" not in e or bad: raise SystemExit(f"--schedule {path}: entry {e}: needs 'from'; flags may be {sorted(SCHEDULE_FLAGS)}")
    return sorted(entries, key=lambda e: e["from"])


def apply_schedule(args, schedule: list[dict], step: int) -> dict | None:
    "Set the flags of the entry in force at `step` on `args` (unlisted flags back to their defaults); the entry, or None before the first."
    now = [e for e in schedule if e["from"] <= step]
    if not now: return None
    e = now[-1]
    for k, d in SCHEDULE_FLAGS.items():
        v = e.get("flags", {}).get(k, d)
        setattr(args, k, tuple(v) if isinstance(v, list) else v)
    args.phase_starts = list(args.phases)  # a schedule sets the phases itself: no early advance (advance_curriculum) under it
    return e


SKIPPED: list[str] = []  # scene seeds whose pair could not be built, and why (logged at each evaluation)

def step_rows(step: int, args) -> tuple[int, list[Row]]:
    "The contrastive pairs of one optimizer step (all of one dimension, so rows have similar lengths): deterministic in step."
    phase, dim, facets, objects, short = phase_of(step, args)
    rows, k = [], 0
    pool = getattr(args, "pool", None)
    while len(rows) < 2 * args.pairs:
        seed = args.seed * 10 ** 7 + step * 64 + k; k += 1
        if seed >= EVAL_SEED0 or k >= 64: raise SystemExit(f"step {step}: training seeds would reach the held-out range")
        rng = random.Random(seed)
        try:
            if pool is not None and rng.random() < args.generated_share:  # a pair of the generator's own video and the true render
                rcfg = RewardConfig(num_frames=args.frames, num_reference_frames=args.frames)
                pair = generated_pair(pool, rng.choice(pool.train), dim, rng, rcfg, facets, short, args.p_mild, args.vq_package_share)
            else: pair = make_pair(dim, seed, args, facets, objects, short)
        except (ValueError, IndexError) as e:  # a scene the generators cannot handle: skipped and recorded, the run goes on
            SKIPPED.append(f"{dim} seed {seed}: {e!r}"); continue
        if pair: rows += pair
    return phase, rows


def advance_curriculum(args, phase: int, step: int, ev: dict) -> str | None:
    "Start the next phase now if the held-out accuracy of every facet trained in this phase reached `--advance-at` (else at its `--phases` cap)."
    trained = FIRST_FACETS if phase == 1 else TA_FACETS if phase == 2 else ()  # phase 0 ends at --short-steps
    if not trained or min(ev["facets"].get(f, 0.0) for f in trained) < args.advance_at: return None
    args.phase_starts[phase - 1] = step
    args.phase_starts[1] = max(args.phase_starts)
    return f"curriculum: held-out accuracy >= {args.advance_at} on {', '.join(trained)}: phase {phase + 1} starts at step {step}"


def save_critic_ckpt(out: Path, critic, opt, step: int, args, heads=None, opt_aux=None, ground=None, opt_ground=None,
                     truth=None, opt_truth=None, sizes=None, opt_sizes=None) -> Path:
    "Atomic swap as in the vae stage; `checkpoint/critic` is a save_pretrained folder the package loads."
    tmp, final, old = out / "checkpoint.tmp", out / "checkpoint", out / "checkpoint.old"
    shutil.rmtree(tmp, ignore_errors=True)
    critic.model.save_pretrained(tmp / "critic")
    critic.processor.save_pretrained(tmp / "critic")
    aux = {"aux_heads": heads.state_dict(), "aux_optimizer": opt_aux.state_dict()} if heads is not None else {}
    if ground is not None: aux.update(ground_head=ground.state_dict(), ground_optimizer=opt_ground.state_dict())
    if truth is not None: aux.update(truth_head=truth.state_dict(), truth_optimizer=opt_truth.state_dict())
    if sizes is not None: aux.update(attribute_heads=sizes.state_dict(), attribute_optimizer=opt_sizes.state_dict())
    torch.save({"optimizer": opt.state_dict(), "step": step, "torch_rng": torch.get_rng_state(), "phase_starts": list(args.phase_starts),
                "phase_caps": list(args.phases), **aux},
               tmp / "state.pt")
    if final.exists(): final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final / "critic"


def prompt_lengths(critic, rows: list[Row]) -> dict:
    "Tokens per row (prompt with video tokens + answer + end-of-turn), by dimension: max and mean."
    out = {}
    for r in rows:
        frames = r.video if r.reference is None else concat_reference(r.video, r.reference, critic.temporal_patch)
        v = critic.visual_inputs(frames, FPS)
        n = len(critic._ids(critic.expand_prompt(critic.prompt_text(r.question), v))) + len(critic.answer_ids(r.answer))
        out.setdefault(r.dimension, []).append(n)
    return {d: (max(v), float(np.mean(v))) for d, v in out.items()}


def train_critic(args) -> None:
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    logf = out / "train.log"
    torch.manual_seed(args.seed)
    tok_dir = out / "tokenizer"
    if not (tok_dir / "tokenizer.json").exists():
        t0 = time.time()
        texts = tokenizer_corpus(args, args.tokenizer_scenes)
        tok = train_bpe(texts, args.vocab_size)
        tmp = out / "tokenizer.tmp"; shutil.rmtree(tmp, ignore_errors=True)
        build_processor(tok, args.min_pixels, args.max_pixels).save_pretrained(tmp)
        tmp.rename(tok_dir)
        raw = sum(len(t.encode()) for t in texts)
        log(logf, f"tokenizer: byte-level BPE on {len(texts)} texts ({raw / 1e6:.2f} MB), vocab {len(tok)} "
                  f"({len(tok) - len(QWEN_SPECIAL_TOKENS)} BPE + {len(QWEN_SPECIAL_TOKENS)} special); "
                  f"{raw / sum(len(tok(t).input_ids) for t in texts):.2f} bytes/token; {time.time() - t0:.0f}s")
    processor = AutoProcessor.from_pretrained(tok_dir)
    ck = latest(out) if args.resume else None
    if ck is not None:
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(ck / "critic", dtype=torch.float32)
        processor = AutoProcessor.from_pretrained(ck / "critic")
        state = torch.load(ck / "state.pt", weights_only=False)
        step = state["step"]; torch.set_rng_state(state["torch_rng"])
        saved = state.get("phase_starts", list(args.phases))
        advanced = saved != state.get("phase_caps", saved)  # a curriculum that advanced early stays advanced; else the caps given now apply
        args.phase_starts = saved if advanced else list(args.phases)
    else:
        model, state, step = build_critic_model(processor.tokenizer, args), None, 0
        args.phase_starts = list(args.phases)
    critic = wrap_critic(model, processor, args)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    if state is not None: opt.load_state_dict(state["optimizer"])
    heads = AuxHeads(args.text_hidden)  # its own optimizer: states of runs without it still resume
    opt_aux = torch.optim.AdamW(heads.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    if state is not None and "aux_heads" in state:
        heads.load_state_dict(state["aux_heads"]); opt_aux.load_state_dict(state["aux_optimizer"])
    ground = torch.nn.Linear(args.text_hidden, N_GROUND)  # likewise its own optimizer: older states resume without it
    opt_ground = torch.optim.AdamW(ground.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    if state is not None and "ground_head" in state:
        ground.load_state_dict(state["ground_head"]); opt_ground.load_state_dict(state["ground_optimizer"])
    truth = torch.nn.Linear(args.text_hidden, 1)  # its own optimizer too
    opt_truth = torch.optim.AdamW(truth.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    if state is not None and "truth_head" in state:
        truth.load_state_dict(state["truth_head"]); opt_truth.load_state_dict(state["truth_optimizer"])
    sizes = AttributeHeads(args.text_hidden)  # and the attribute read-outs
    opt_sizes = torch.optim.AdamW(sizes.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    key = next((k for k in ("attribute_heads", "size_heads") if state is not None and k in state), None)  # size_heads: their first name
    if key:
        missing = sizes.load_state_dict(state[key], strict=False).missing_keys
        if not missing: opt_sizes.load_state_dict(state[key.replace("heads", "optimizer")])  # a state before a head was added: afresh
    ev_rows = eval_rows(args, args.eval_n)
    args.pool = Pool(args.generated) if args.generated else None
    gen_rows = generated_eval_rows(args.pool, args, args.eval_n) if args.pool else []
    if args.pool: log(logf, f"generated pool {args.generated}: {len(args.pool.train)} training and {len(args.pool.held)} held-out samples")
    if ck is None and args.vision_steps: pretrain_vision(critic, heads, args, logf)
    if ck is None:
        check_processor_parity(critic, [r for i, r in enumerate(ev_rows) if i % 7 == 0][:12])
        lens = prompt_lengths(critic, ev_rows)
        log(logf, "official processor = package path on input_ids and video grid (12 held-out rows); tokens per row (max, mean): "
                  + ", ".join(f"{d} {m} / {a:.0f}" for d, (m, a) in lens.items()))
    n_params = sum(p.numel() for p in model.parameters())
    n_vis = sum(p.numel() for p in model.model.visual.parameters())
    log(logf, f"stage critic: {'resumed ' + str(ck) + ' at step ' + str(step) if ck else 'new'}; {n_params / 1e6:.2f}M params "
              f"({n_vis / 1e6:.2f}M vision); vocab {len(processor.tokenizer)}; {args.size}x{args.size}x{args.frames} videos -> "
              f"{critic.spec.target_size(args.frames, args.size, args.size)} px; {args.pairs} pairs/step, lr {args.lr}, decision x{args.decision_weight}, aux x{args.aux_weight}, grounding x{args.ground_weight}, truth x{args.truth_weight}, attributes x{args.attribute_weight}, "
              f"phases start at {args.phase_starts} (caps {args.phases}, early at held-out acc {args.advance_at}), held-out rows {len(ev_rows)}, threads {torch.get_num_threads()}")
    last_save, t_start, s_start = time.time(), time.time(), step
    hist = {"loss": [], "acc": []}
    schedule, in_force = (load_schedule(args.schedule) if args.schedule else None), None
    bar = tqdm(total=args.steps, initial=step, desc="critic", mininterval=10)
    lr_at = lambda s: args.lr * min(1.0, (s + 1) / args.warmup)
    while step < args.steps:
        if schedule is not None:
            e = apply_schedule(args, schedule, step)
            if e is not in_force:
                in_force = e
                if e is not None:
                    log(logf, f"schedule: from step {e['from']}: {json.dumps(e.get('flags', {}))}")
                    ev_rows = eval_rows(args, args.eval_n)  # held-out rows of the rung in force
        phase, rows = step_rows(step, args)
        opts = (opt, opt_aux, opt_ground, opt_truth, opt_sizes)
        for g in (g for o in opts for g in o.param_groups): g["lr"] = lr_at(step)
        loss, acc = pair_loss(critic, rows, args.decision_weight, heads, args.aux_weight, ground, args.ground_weight, truth, args.truth_weight,
                              sizes, args.attribute_weight, args.quality_weight)
        for o in opts: o.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for o in opts: o.step()
        step += 1; bar.update(1)
        hist["loss"].append(loss.item()); hist["acc"].append(acc)
        if step % args.log_every == 0:
            bar.set_postfix(phase=phase, loss=f"{np.mean(hist['loss'][-args.log_every:]):.3f}", acc=f"{np.mean(hist['acc'][-args.log_every:]):.2f}")
        if step % args.eval_every == 0 or step == args.steps:
            ev = evaluate_critic(critic, ev_rows, ground=ground, truth=truth if args.truth_weight > 0 else None)
            rate = (step - s_start) / (time.time() - t_start)
            if SKIPPED: log(logf, f"{len(SKIPPED)} training pairs skipped so far, the last: {SKIPPED[-1]}")
            log(logf, f"step {step} phase {phase} train loss {np.mean(hist['loss'][-args.eval_every:]):.3f} "
                      f"batch acc {np.mean(hist['acc'][-args.eval_every:]):.2f} | {rate:.3f} steps/s | " + _fmt_eval(ev))
            if gen_rows:
                gv = evaluate_critic(critic, gen_rows)
                log(logf, f"step {step} the generator's held-out samples (decision = the judge's verdict): acc " + " ".join(f"{d} {gv[d]:.3f}" for d in ("TA", "Phy", "VQ") if d in gv)
                          + " | TA facets: " + ", ".join(f"{f} {a:.2f}" for f, a in gv["facets"].items())
                          + " | by kind: " + ", ".join(f"{d}/{k} {a:.2f}" for (d, k), a in gv["kinds"].items()))
            moved = advance_curriculum(args, phase, step, ev)
            if moved: log(logf, moved)
            critic.model.eval()
            for r in ev_rows[:2]:  # a held-out pair: its true and its false row
                said = critic.generate(r.video, [r.question], max_new_tokens=48)[0]
                log(logf, f"  greedy on a held-out {r.dimension} '{r.facet}' {r.kind} row (reference {r.answer!r}): {said!r}")
            critic.model.train()
        if time.time() - last_save >= args.save_every_s or step == args.steps:
            save_critic_ckpt(out, critic, opt, step, args, heads, opt_aux, ground, opt_ground, truth, opt_truth, sizes, opt_sizes)
            last_save = time.time()
    bar.close()
    log(logf, f"done at step {step}; the critic: {out / 'checkpoint' / 'critic'}")
    if args.verify_load: verify_load(out / "checkpoint" / "critic", critic, ev_rows, args, logf)


@torch.no_grad()
def verify_load(folder: Path, critic, rows: list[Row], args, logf: Path) -> None:
    "The saved folder loads through the package's `load_critic` and scores answers exactly as the trained model does."
    loaded = load_critic(critic_config(args, folder))
    critic.model.eval()
    for r in [rows[0], next(x for x in rows if x.dimension == "Phy")]:
        q = [CriticQuery(r.question, r.answer, use_reference=r.reference is not None)]
        a = loaded.score(r.video, q, reference=r.reference, fps=FPS).logprob_sums[0].item()
        b = forward_rows(critic, [r])[0][0][0].sum().item()
        if abs(a - b) > 1e-3 * max(1.0, abs(b)): raise SystemExit(f"load_critic scores {a:.4f}, the trained model {b:.4f}: the saved critic differs")
        log(logf, f"load_critic({folder}) scores a held-out {r.dimension} answer {a:.4f} = trained model {b:.4f}")


# ---------------------------------------------------------------------------------------------------------------
# Stage dit: the tiny Wan generator (UMT5 text encoder + WanTransformer3DModel) trained by flow matching on world videos
# ---------------------------------------------------------------------------------------------------------------
CAPTION_WORD = re.compile(r"[A-Za-z]+|[0-9]+|[^\sA-Za-z0-9]")


def caption_tokenizer(kind: str = "word", n_scenes: int = 2000, size: int = 48, frames: int = 9):
    """The generator's tokenizer, in the real `T5Tokenizer` class (a unigram model, as UMT5's). "char": `drf_nb.tiny`'s one
    piece per ASCII character (a caption is ~150 tokens). "word": one piece per word of the world's captions (collected
    from `n_scenes` scenes of a seed range training never draws) scored above the character pieces, which stay as the
    fallback for any other text: a caption is ~35 tokens, so a small text encoder reads words, not spellings."""
    from collections import Counter
    from transformers import T5Tokenizer
    from drf_nb.tiny import tiny_t5_tokenizer
    if kind == "char": return tiny_t5_tokenizer()
    if kind != "word": raise ValueError(f"caption tokenizer {kind!r}: 'word' or 'char'")
    words = Counter()
    for i in range(n_scenes):
        for w in CAPTION_WORD.findall(sample_scene(random.Random(5 * 10 ** 6 + i), size, size, frames).caption):
            words[w.lower() if w[:1].isupper() and w[1:].islower() else w] += 1
    chars = [chr(c) for c in range(32, 127)]
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)] + [(c, -8.0) for c in chars]
    # a word piece with and without the leading space marker; capitalised forms too (sentence starts)
    seen = {p for p, _ in pieces}
    for w, _ in words.most_common():
        for form in {w, w.capitalize()}:
            for piece in ("▁" + form,) + ((form,) if len(form) > 1 else ()):
                if piece not in seen: pieces.append((piece, -2.0)); seen.add(piece)
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def build_text_encoder(d_model: int, layers: int, vocab_size: int = 128):
    "A small UMT5 encoder over the caption tokenizer's vocabulary (`caption_tokenizer`)."
    from transformers import UMT5Config, UMT5EncoderModel
    return UMT5EncoderModel(UMT5Config(vocab_size=vocab_size, d_model=d_model, d_kv=d_model // 4, d_ff=2 * d_model, num_layers=layers,
                                       num_heads=4, relative_attention_num_buckets=32, relative_attention_max_distance=128,
                                       pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, dropout_rate=0.0))


def build_dit(args, text_dim: int, z_dim: int):
    from diffusers import WanTransformer3DModel
    heads = args.dit_hidden // 16
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=16, in_channels=z_dim,
                                 out_channels=z_dim, text_dim=text_dim, freq_dim=64, ffn_dim=4 * args.dit_hidden,
                                 num_layers=args.dit_layers, cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=64)


def assemble_pipeline(vae, text_encoder, transformer, flow_shift: float, tokenizer=None):
    "The stack as a `WanPipeline` (what the package's `load_generator` loads): Wan's flow UniPC scheduler with `flow_shift`."
    from diffusers import UniPCMultistepScheduler, WanPipeline
    from drf_nb.tiny import tiny_t5_tokenizer
    sched = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=flow_shift, num_train_timesteps=1000)
    return WanPipeline(tokenizer=tokenizer or tiny_t5_tokenizer(), text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=sched)


def shifted_sigmas(u: torch.Tensor, shift: float) -> torch.Tensor:
    "Flow-matching noise levels: uniform `u` through the same shift as `FlowMatchEulerDiscreteScheduler(shift)` (more time at high noise)."
    return shift * u / (1 + (shift - 1) * u)


def latent_object_mask(alpha: torch.Tensor, spatial: int) -> torch.Tensor:
    """Object coverage from `render(..., return_masks=True)` (B, N, T, H, W) -> (B, 1, T', H', W') on the Wan latent grid: 1 where
    any object touches a latent cell (frame 0 alone, then groups of 4 frames, as the causal VAE compresses time)."""
    m = alpha.amax(1)
    B, T, H, W = m.shape
    if (T - 1) % 4: raise ValueError(f"latent_object_mask: {T} frames is not 1 + 4k")
    m = torch.cat([m[:, :1], m[:, 1:].reshape(B, (T - 1) // 4, 4, H, W).amax(2)], 1)
    return torch.nn.functional.max_pool2d(m, spatial)[:, None]


def flow_matching_loss(pipe, latents: torch.Tensor, captions: list[str], rng: torch.Generator, shift: float, max_len: int,
                       weight: torch.Tensor | None = None) -> torch.Tensor:
    """Rectified flow as Wan trains: x_t = (1 - s) x_0 + s eps, the DiT predicts eps - x_0 at timestep 1000 s. The captions go
    through the pipeline's own `_get_t5_prompt_embeds` (what inference calls), with gradients: the text encoder trains too.
    `weight` (broadcast over channels): a weighted mean of the squared error. Per-position weights leave the minimiser (the
    conditional mean of eps - x_0 at each position) unchanged; they move gradient and capacity to the objects (a fifth of the
    pixels, a third of the latent cells they touch), which the first recipe never formed under the plain mean."""
    emb = pipe._get_t5_prompt_embeds(captions, max_sequence_length=max_len, device=latents.device)
    eps = torch.randn(latents.shape, generator=rng)
    s = shifted_sigmas(torch.rand(latents.shape[0], generator=rng), shift).view(-1, 1, 1, 1, 1)
    x_t = (1 - s) * latents + s * eps
    v = pipe.transformer(hidden_states=x_t, timestep=s.flatten() * 1000, encoder_hidden_states=emb, return_dict=False)[0]
    err = (v.float() - (eps - latents)) ** 2
    if weight is None: return err.mean()
    w = weight.expand_as(err)
    return (err * w).sum() / w.sum()


@torch.no_grad()
def encode_latents(vae, videos: torch.Tensor) -> torch.Tensor:
    "World videos (B, C, T, H, W) -> the DiT's normalised latents (posterior mean, per-channel statistics of the VAE's config)."
    z = vae.encode(videos).latent_dist.mean
    mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
    return (z - mean) / std


def encode_scenes(vae, specs) -> tuple[torch.Tensor, torch.Tensor]:
    "Scenes -> (normalised latents, their latent-grid object masks (B, 1, T', H', W'), 0/1)."
    video, alpha = render(specs, return_masks=True)
    z = encode_latents(vae, video.permute(0, 2, 1, 3, 4))
    return z, (latent_object_mask(alpha, video.shape[-1] // z.shape[-1]) > 0).float()


class EMA:
    "Exponential moving average of trainable weights (what is evaluated and exported: small diffusion models sample far better from it)."
    def __init__(self, modules, decay: float):
        self.decay, self.params = decay, [p for m in modules for p in m.parameters() if p.requires_grad]
        self.shadow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self, step: int):
        d = min(self.decay, (1 + step) / (10 + step))  # short memory early, when the weights move fast
        for s, p in zip(self.shadow, self.params): s.lerp_(p, 1 - d)

    @torch.no_grad()
    def swap(self):
        "Exchange live and averaged weights (call twice to restore)."
        for s, p in zip(self.shadow, self.params):
            tmp = p.detach().clone(); p.copy_(s); s.copy_(tmp)


@torch.no_grad()
def evaluate_generator(pipe, specs, args, seed: int = 0) -> tuple[dict, torch.Tensor]:
    "Sample each held-out caption once on fixed noise (the package's WanGenerator and flow UniPC), judge the videos: pass rates per facet."
    from drf_nb.sampling import WanGenerator
    gen = WanGenerator(pipe)
    gen.transformer.eval(); gen.text_encoder.eval()
    videos, tab = judge_generator(gen, specs, seed, args.sample_steps, args.guidance, args.max_text_len)
    return pass_rates(tab), videos


def save_dit_ckpt(out: Path, pipe, opt, ema: EMA, step: int, rng: random.Random, trng: torch.Generator, max_text_len: int = 320,
                  fg_weight: float = 0.0) -> None:
    "Atomic swap as in the other stages; `checkpoint/pipeline` holds the EMA weights as a WanPipeline folder, state.pt the live ones."
    tmp, final, old = out / "checkpoint.tmp", out / "checkpoint", out / "checkpoint.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    live = [p.detach().clone() for p in ema.params]
    ema.swap(); pipe.save_pretrained(tmp / "pipeline"); ema.swap()
    torch.save({"optimizer": opt.state_dict(), "step": step, "live": live, "data_rng": rng.getstate(),
                "noise_rng": trng.get_state(), "torch_rng": torch.get_rng_state(), "max_text_len": max_text_len, "fg_weight": fg_weight}, tmp / "state.pt")
    if final.exists(): final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


class LatentCache:
    """The DiT's training set: scenes 0..size-1 of the training stream (scene i drawn from seed * 10**7 + i), encoded lazily by
    the frozen VAE and kept (rendering and encoding were ~45% of a step). Saved beside the checkpoint (not committed:
    `<out>/latent_cache.pt`) and reloaded on resume when it belongs to the same VAE; a lost cache only costs time."""
    def __init__(self, path: Path, size: int, seed: int, args, vae_key: str):
        self.path, self.size, self.seed, self.args, self.key = path, size, seed, args, vae_key
        self.latents, self.captions, self.masks, self.saved_n = {}, {}, {}, 0
        if path.exists():
            d = torch.load(path, weights_only=False)
            if d.get("key") == (vae_key, size, seed, args.size, args.frames) and "masks" in d:  # caches before masks: refilled
                self.latents, self.captions, self.masks = d["latents"], d["captions"], d["masks"]; self.saved_n = len(self.latents)

    def batch(self, idx: list[int], vae) -> tuple[torch.Tensor, list[str], torch.Tensor]:
        "Latents, captions and latent-grid object masks of training scenes `idx`."
        miss = [i for i in dict.fromkeys(idx) if i not in self.latents]
        if miss:
            specs = [sample_scene(random.Random(self.seed * 10 ** 7 + i), self.args.size, self.args.size, self.args.frames) for i in miss]
            z, m = encode_scenes(vae, specs)
            for i, s, zi, mi in zip(miss, specs, z, m):
                self.latents[i], self.captions[i], self.masks[i] = zi.clone(), s.caption, mi.to(torch.uint8)
        return (torch.stack([self.latents[i] for i in idx]), [self.captions[i] for i in idx],
                torch.stack([self.masks[i] for i in idx]).float())

    def save(self) -> None:
        n = len(self.latents)
        if n == self.saved_n or (n < self.size and n < self.saved_n * 1.1 + 64): return  # rewrite when it grew by a tenth, or is complete
        tmp = self.path.with_suffix(".tmp")
        torch.save({"key": (self.key, self.size, self.seed, self.args.size, self.args.frames), "latents": self.latents,
                    "captions": self.captions, "masks": self.masks}, tmp)
        tmp.replace(self.path); self.saved_n = len(self.latents)


def vae_fingerprint(vae) -> str:
    "A short digest of the VAE encoder's weights and latent statistics: a cache of latents is valid for this encoder only."
    import hashlib
    h = hashlib.sha1()
    for k, v in sorted(vae.state_dict().items()):
        if k.startswith(("encoder.", "quant_conv.")): h.update(k.encode()); h.update(v.detach().float().numpy().tobytes())
    h.update(json.dumps([vae.config.latents_mean, vae.config.latents_std]).encode())
    return h.hexdigest()[:16]


def train_dit(args) -> None:
    from diffusers import AutoencoderKLWan, WanPipeline
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    logf = out / "train.log"
    torch.manual_seed(args.seed)
    rng, trng = random.Random(args.seed), torch.Generator().manual_seed(args.seed)
    eval_rng = random.Random(2 * 10 ** 6 + args.seed)  # held-out captions: a stream training never draws from
    eval_specs = [sample_scene(eval_rng, args.size, args.size, args.frames) for _ in range(args.eval_n)]
    ck = latest(out) if args.resume else None
    if ck is not None:
        pipe = WanPipeline.from_pretrained(ck / "pipeline", dtype=torch.float32)
        state = torch.load(ck / "state.pt", weights_only=False)
        step = state["step"]
        args.max_text_len = state.get("max_text_len", 320)  # the run's own (states before it was saved: the character tokenizer's 320)
        args.dit_fg_weight = state.get("fg_weight", 0.0)  # a run keeps its loss (states before it: the plain mean)
    else:
        vae_dir = Path(args.vae)
        if not (vae_dir / "config.json").exists(): raise SystemExit(f"--vae {vae_dir}: no AutoencoderKLWan folder there (train the vae stage first)")
        vae = AutoencoderKLWan.from_pretrained(vae_dir)
        fix_spatial_factor(vae)  # checkpoints of vae runs started before the config carried it
        if vae.config.latents_mean is None or len(vae.config.latents_mean) != vae.config.z_dim:
            raise SystemExit(f"--vae {vae_dir}: its config has no latents_mean/std of z_dim={vae.config.z_dim} (a vae-stage checkpoint has)")
        tok = caption_tokenizer(args.tokenizer, size=args.size, frames=args.frames)
        te = build_text_encoder(args.text_dim, args.text_enc_layers, len(tok))
        pipe = assemble_pipeline(vae, te, build_dit(args, args.text_dim, vae.config.z_dim), args.flow_shift, tok)
        lens = [len(tok(sample_scene(random.Random(6 * 10 ** 6 + i), args.size, args.size, args.frames).caption).input_ids) for i in range(500)]
        if max(lens) > args.max_text_len:
            raise SystemExit(f"--max-text-len {args.max_text_len}: captions reach {max(lens)} tokens with the {args.tokenizer} tokenizer")
        log(logf, f"caption tokenizer: {args.tokenizer}, {len(tok)} pieces; caption length mean {np.mean(lens):.0f}, max {max(lens)} tokens")
        state, step = None, 0
    pipe.vae.requires_grad_(False).eval()
    trainable = [pipe.transformer, pipe.text_encoder]
    for m in trainable: m.requires_grad_(True).train()
    ema = EMA(trainable, args.ema)
    if state is not None:  # the folder holds the EMA weights: they become the shadow, the live ones come from state.pt
        with torch.no_grad():
            for s, p, l in zip(ema.shadow, ema.params, state["live"]): s.copy_(p); p.copy_(l)
        rng.setstate(state["data_rng"]); trng.set_state(state["noise_rng"]); torch.set_rng_state(state["torch_rng"])
    opt = torch.optim.AdamW(ema.params, lr=args.lr, weight_decay=0.01)
    if state is not None: opt.load_state_dict(state["optimizer"])
    n_dit = sum(p.numel() for p in pipe.transformer.parameters()); n_te = sum(p.numel() for p in pipe.text_encoder.parameters())
    shift = pipe.scheduler.config.flow_shift
    log(logf, f"stage dit: {'resumed ' + str(ck) + ' at step ' + str(step) if ck else 'new'}; DiT {n_dit / 1e6:.2f}M + text encoder "
              f"{n_te / 1e6:.2f}M params; {args.size}x{args.size}x{args.frames}, batch {args.batch}, lr {args.lr}, flow shift {shift}, "
              f"caption dropout {args.p_uncond}, EMA {args.ema}, object weight {args.dit_fg_weight}; held-out captions {len(eval_specs)}, threads {torch.get_num_threads()}")
    cache = LatentCache(out / "latent_cache.pt", args.dataset_size, args.seed, args, vae_fingerprint(pipe.vae)) if args.dataset_size else None
    if cache is not None: log(logf, f"training set: {args.dataset_size} scenes, latents cached ({len(cache.latents)} already encoded)")
    last_save, losses = time.time(), []
    bar = tqdm(total=args.steps, initial=step, desc="dit", mininterval=10)
    while step < args.steps:
        if cache is None:  # an endless stream of new scenes (the toy run's first 1,258 steps)
            specs = [sample_scene(rng, args.size, args.size, args.frames) for _ in range(args.batch)]
            (latents, masks), captions = encode_scenes(pipe.vae, specs), [s.caption for s in specs]
        else:
            latents, captions, masks = cache.batch([rng.randrange(cache.size) for _ in range(args.batch)], pipe.vae)
        captions = ["" if rng.random() < args.p_uncond else c for c in captions]  # dropout: classifier-free guidance needs p(x)
        for g in opt.param_groups: g["lr"] = args.lr * min(1.0, (step + 1) / args.warmup)
        loss = flow_matching_loss(pipe, latents, captions, trng, shift, args.max_text_len, 1 + args.dit_fg_weight * masks if args.dit_fg_weight else None)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ema.params, 1.0)
        opt.step(); ema.update(step)
        step += 1; losses.append(loss.item()); bar.update(1)
        if step % args.log_every == 0: bar.set_postfix(loss=f"{np.mean(losses[-args.log_every:]):.4f}")
        if step % args.eval_every == 0 or step == args.steps:
            ema.swap()
            ev, _ = evaluate_generator(pipe, eval_specs, args)
            ema.swap()
            for m in trainable: m.train()
            head = f"step {step} loss {np.mean(losses[-args.eval_every:]):.4f} | EMA samples, held-out captions: pass TA {ev.pop('TA'):.2f} Phy {ev.pop('Phy'):.2f} VQ {ev.pop('VQ'):.2f}"
            log(logf, head + " | " + ", ".join(f"{k} {v:.2f}" for k, v in ev.items()))
        if time.time() - last_save >= args.save_every_s or step == args.steps:
            save_dit_ckpt(out, pipe, opt, ema, step, rng, trng, args.max_text_len, args.dit_fg_weight)
            if cache is not None: cache.save()
            last_save = time.time()
    bar.close()
    log(logf, f"done at step {step}; the generator: {out / 'checkpoint' / 'pipeline'}")


# ---------------------------------------------------------------------------------------------------------------
# Stage export: the trained generator and critic into the package (drf_nb/data/toy), where the toy preset loads them
# ---------------------------------------------------------------------------------------------------------------
def swap_decoder(pipeline_vae: Path, decoder_from: Path) -> None:
    "Replace the generator's VAE by a decoder-only fine-tuned one, after checking that its encoder is the one the DiT trained on."
    from diffusers import AutoencoderKLWan
    if not (decoder_from / "config.json").exists(): raise SystemExit(f"export --decoder-from {decoder_from}: no AutoencoderKLWan folder there")
    old, new = AutoencoderKLWan.from_pretrained(pipeline_vae), AutoencoderKLWan.from_pretrained(decoder_from)
    a, b = old.state_dict(), new.state_dict()
    enc = [k for k in a if k.startswith(("encoder.", "quant_conv."))]
    if a.keys() != b.keys() or any(not torch.equal(a[k], b[k]) for k in enc) or old.config.latents_mean != new.config.latents_mean:
        raise SystemExit(f"export --decoder-from {decoder_from}: its encoder differs from the generator's (fine-tune the decoder with --freeze-encoder "
                         "from the checkpoint the DiT was started on)")
    fix_spatial_factor(new)
    shutil.rmtree(pipeline_vae); new.save_pretrained(pipeline_vae)
    print(f"generator VAE: decoder from {decoder_from} (encoder unchanged, {len(enc)} tensors checked)")


def export_models(args) -> None:
    "Copy the runs' save_pretrained folders into drf_nb/data/toy/{generator,critic} (atomically), with each run's last log lines."
    from drf_nb.tiny import PACKAGED_MODELS
    data = Path(__file__).resolve().parent.parent / "drf_nb" / "data"
    for name, src in (("toy-world-generator", args.generator), ("toy-world-critic", args.critic)):
        src = Path(src)
        if not (src / "config.json").exists() and not (src / "model_index.json").exists():
            raise SystemExit(f"export: {src} is not a save_pretrained folder (train the {PACKAGED_MODELS[name][2]} stage first)")
        dest = data / PACKAGED_MODELS[name][0]
        tmp = dest.with_name(dest.name + ".tmp"); shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("*.tmp", "__pycache__"))
        if name == "toy-world-generator" and args.decoder_from: swap_decoder(tmp / "vae", Path(args.decoder_from))
        run_log = src.parent.parent / "train.log"  # <run>/checkpoint/<folder>
        if run_log.exists(): (tmp / "TRAINING_LOG.txt").write_text("".join(run_log.read_text().splitlines(True)[-6:]))
        shutil.rmtree(dest, ignore_errors=True); tmp.rename(dest)
        size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
        print(f"{name}: {src} -> {dest} ({size / 1e6:.1f} MB)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("stage", choices=["vae", "critic", "dit", "samples", "export"], help="what to train (dit needs a trained vae); samples: the generator's judged videos for the critic's --generated; export: "
                   "copy the trained generator and critic into drf_nb/data/toy")
    p.add_argument("--out", help="run folder (checkpoint/, train.log); every stage but export")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint if there is one")
    p.add_argument("--steps", type=int, default=None, help="total optimizer steps (vae 30000, critic 12000)")
    p.add_argument("--batch", type=int, default=None, help="videos per step (vae 8, dit 16)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (vae 2e-3, critic 5e-4)")
    p.add_argument("--fg-weight", type=float, default=4.0, help="vae: loss weight 1 + fg_weight x object mask")
    p.add_argument("--texture-weight", type=float, default=10.0, help="vae: weight of the high-pass (texture and edge) MSE; without it "
                   "reconstructions lost the background texture, so camera pans (the judge reads them off the texture) failed")
    p.add_argument("--freeze-encoder", action="store_true", help="vae: train the decoder only from here on (recorded in the "
                   "checkpoint): the DiT trains on the encoder's latents, so the decoder can keep improving beside it")
    p.add_argument("--base-dim", type=int, default=8, help="VAE width (new runs only)")
    p.add_argument("--z-dim", type=int, default=16, help="latent channels (new runs only)")
    p.add_argument("--spatial", type=int, default=4, help="vae: spatial compression, 4 or 8 (new runs only; the paper's Wan VAE has 8, "
                   "but at 48 px that leaves a 6x6 latent that loses small objects)")
    p.add_argument("--size", type=int, default=48, help="frame height = width (a multiple of 16)")
    p.add_argument("--frames", type=int, default=9, help="frames per video (1 + 4k)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--save-every-s", type=float, default=180.0, help="seconds between checkpoints")
    p.add_argument("--eval-every", type=int, default=None, help="steps between held-out evaluations (vae 250, critic 600: its 432 held-out rows take minutes)")
    p.add_argument("--eval-n", type=int, default=None, help="vae: held-out scenes; critic: held-out pairs per TA facet, Phy and VQ (vae 32, critic 24)")
    p.add_argument("--log-every", type=int, default=10)
    c = p.add_argument_group("critic")
    c.add_argument("--pairs", type=int, default=4, help="contrastive pairs per step (2 rows each)")
    c.add_argument("--decision-weight", type=float, default=20.0, help="loss weight of the Yes/No decision token(s)")
    c.add_argument("--phases", type=lambda s: tuple(int(x) for x in s.split(",")), default=(6000, 9000),
                   help="curriculum: steps where phase 2 (all TA facets) and phase 3 (TA + Phy + VQ) start at the latest")
    c.add_argument("--aux-weight", type=float, default=1.0, help="weight of the auxiliary vision loss (per-token colours and shapes, "
                   "count, background, motions, read linearly off the merged vision tokens; training only)")
    c.add_argument("--ground-weight", type=float, default=1.0, help="weight of the grounding loss: at each object shape (colour) "
                   "word of a TA question, the colours (shapes) of the video's objects of that shape (colour), read off the language model there; training only")
    c.add_argument("--facets", type=lambda s: tuple(x.strip() for x in s.split(",")), default=None,
                   help="an experiment: train and evaluate TA on these facets only (comma-separated), in every phase")
    c.add_argument("--max-objects", type=int, default=None, help="an experiment: at most this many objects per scene, in training and evaluation")
    c.add_argument("--truth-weight", type=float, default=0.0, help="weight of the truth loss: whether a TA question's stated "
                   "description is true of the video, read linearly off the LM's hidden state at the description's last token "
                   "(training only; an experiment, off by default)")
    c.add_argument("--quality-weight", type=float, default=0.0, help="weight of the quality read-outs (AttributeHeads.quality per vision "
                   "token of the video, quality_ground at the prompt's last token: none / blur / noise), on rows whose video's defect is known")
    c.add_argument("--attribute-weight", type=float, default=0.0, help="weight of the attribute read-outs (AttributeHeads: per vision token and at each "
                   "object word the sizes, motions and start locations of the objects there; per video lighting and camera; the truth of "
                   "each noun phrase, motion and location clause); added 2026-12-07, off by default")
    c.add_argument("--schedule", default=None, help="a JSON list of {from: step, flags: {...}}: the experiment flags ("
                   + ", ".join(SCHEDULE_FLAGS) + ") in force from each step on, replacing those given here (toy_runs/critic/schedule.json: the run's history)")
    c.add_argument("--vision-steps", type=int, default=0, help="new runs: steps of vision-tower pretraining on the auxiliary read-outs alone (off by default: the auxiliary loss during training teaches colours too)")
    c.add_argument("--vision-batch", type=int, default=8, help="scenes per vision-pretraining step")
    c.add_argument("--vision-lr", type=float, default=1e-3)
    c.add_argument("--short-steps", type=int, default=3000, help="curriculum phase 0: steps of colour and count on short questions")
    c.add_argument("--short-share", type=float, default=0.2, help="after phase 0: share of TA steps still on short questions")
    c.add_argument("--advance-at", type=float, default=0.85,
                   help="a phase ends early at an evaluation where every facet it trains reaches this held-out accuracy")
    c.add_argument("--ta-share", type=float, default=0.5, help="phase 3: share of steps of TA pairs (the rest split between Phy and VQ)")
    c.add_argument("--p-mild", type=float, default=0.3, help="share of videos given the blur/noise the judge tolerates")
    c.add_argument("--vq-package-share", type=float, default=0.25, help="share of VQ answers in drf_nb.reward's {decision, explanation} form")
    c.add_argument("--warmup", type=int, default=100, help="critic and dit: linear learning-rate warm-up steps")
    c.add_argument("--vocab-size", type=int, default=1024, help="BPE vocabulary incl. special tokens (new tokenizer only)")
    c.add_argument("--tokenizer-scenes", type=int, default=600, help="scenes whose questions and answers train the BPE")
    c.add_argument("--text-hidden", type=int, default=256)
    c.add_argument("--text-layers", type=int, default=4)
    c.add_argument("--vision-hidden", type=int, default=128)
    c.add_argument("--vision-depth", type=int, default=4)
    c.add_argument("--max-positions", type=int, default=2048, help="max_position_embeddings (longest Phy/VQ row, video included)")
    c.add_argument("--min-pixels", type=int, default=112 * 112, help="critic.min_pixels: 48 px frames go to 112 px (8x8 patches of 14 px; "
                   "at 56 px, 4x4 patches, the decision stayed at chance for objects)")
    c.add_argument("--max-pixels", type=int, default=512 * 288, help="critic.max_pixels")
    d = p.add_argument_group("dit")
    d.add_argument("--vae", default="toy_runs/vae/checkpoint/vae", help="the trained AutoencoderKLWan folder (new runs only)")
    d.add_argument("--dit-hidden", type=int, default=192, help="DiT width (heads of 16 channels; new runs only)")
    d.add_argument("--dit-layers", type=int, default=6)
    d.add_argument("--text-dim", type=int, default=128, help="UMT5 d_model (new runs only)")
    d.add_argument("--text-enc-layers", type=int, default=2)
    d.add_argument("--tokenizer", choices=["word", "char"], default="word", help="caption tokenizer (new runs only): one piece per world "
                   "word with a character fallback (~35 tokens a caption), or one per character (~150)")
    d.add_argument("--max-text-len", type=int, default=96, help="generator.max_sequence_length in tokens (a new run checks captions fit; "
                   "a resumed run keeps its own)")
    d.add_argument("--flow-shift", type=float, default=1.0, help="flow-matching shift of training and of the saved scheduler (new runs "
                   "only); 1: uniform noise levels (at 3, most steps fell where a 12x12 latent's objects are already gone)")
    d.add_argument("--dataset-size", type=int, default=20000, help="training scenes (their latents cached: 1.7x faster steps); 0: a new "
                   "scene for every sample, as the toy run's first 1,258 steps")
    d.add_argument("--dit-fg-weight", type=float, default=2.0, help="flow-matching loss weight 1 + w x object mask on the latent "
                   "grid (new runs; a resumed run keeps its own; 0: the plain mean)")
    d.add_argument("--p-uncond", type=float, default=0.1, help="caption dropout (for classifier-free guidance)")
    d.add_argument("--ema", type=float, default=0.999, help="EMA decay of the exported weights")
    d.add_argument("--sample-steps", type=int, default=20, help="evaluation: flow UniPC steps")
    d.add_argument("--guidance", type=float, default=3.0, help="evaluation: classifier-free guidance scale")
    c.add_argument("--generated", default=None, help="critic: a pool.pt of stage samples (the generator's judged videos); with "
                   "--generated-share (or a schedule's generated_share) that share of pairs is made from it")
    c.add_argument("--generated-share", type=float, default=0.0, help="critic: share of pairs made of a pool video and the true render")
    c.add_argument("--n", type=int, default=1500, help="samples: videos in the pool")
    c.add_argument("--verify-load", action="store_true", help="at the end, load the saved critic with drf_nb's load_critic and compare scores")
    e = p.add_argument_group("export")
    e.add_argument("--generator", default="toy_runs/dit/checkpoint/pipeline", help="the WanPipeline folder to ship")
    e.add_argument("--decoder-from", default=None, help="an AutoencoderKLWan folder whose decoder replaces the generator's "
                   "(a vae run continued with --freeze-encoder from the checkpoint the DiT trained on; the encoder is checked)")
    e.add_argument("--critic", default="toy_runs/critic/checkpoint/critic", help="the critic folder to ship")
    args = p.parse_args(argv)
    if args.stage == "export": return export_models(args)
    if not args.out: p.error(f"--out is required for stage {args.stage}")
    if args.size % 16: p.error(f"--size {args.size}: must be a multiple of 16 (the Wan VAE)")
    if args.frames < 5 or (args.frames - 1) % 4: p.error(f"--frames {args.frames}: must be 1 + 4k with k >= 1")
    defaults = {"vae": dict(steps=30000, lr=2e-3, batch=8, eval_every=250, eval_n=32), "critic": dict(steps=12000, lr=5e-4, eval_every=600, eval_n=24),
                "dit": dict(steps=40000, lr=3e-4, batch=16, eval_every=500, eval_n=32), "samples": {}}
    for k, v in defaults[args.stage].items():
        if getattr(args, k) is None: setattr(args, k, v)
    if args.stage == "critic" and args.generated and not Path(args.generated).exists():
        p.error(f"--generated {args.generated}: no such pool (make it with stage samples)")
    if args.stage == "critic" and (len(args.phases) != 2 or not 0 <= args.phases[0] <= args.phases[1]):
        p.error(f"--phases {args.phases}: give two step counts, phase-2 start <= phase-3 start")
    torch.set_num_threads(args.threads)
    if args.stage == "vae": train_vae(args)
    elif args.stage == "critic": train_critic(args)
    elif args.stage == "dit": train_dit(args)
    elif args.stage == "samples": build_pool(args)


if __name__ == "__main__":
    main()
