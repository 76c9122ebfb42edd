#!/usr/bin/env python
"""Train the toy world's scalar-reward baselines (the paper's PickScore and VideoAlign rows, issue 13) on this CPU.

Stage `pickscore`: a tiny `CLIPModel` (the class of PickScore_v1) with its `CLIPProcessor`, trained contrastively on
world frames and their captions: a symmetric InfoNCE over the batch (CLIP's loss, learnable temperature), plus one
hard negative caption per frame (the scene with one thing changed that a single frame shows: a colour, a shape, a
size, the count, the background, a location). Its tokenizer is a CLIP BPE (lower-cased, CLIP's split, `</w>` word
ends) trained on world captions, so that a caption fits PickScore's 77 tokens. Like PickScore it sees single frames:
it cannot see motion, camera or lighting changes, which is the point of comparing it with Diffusion-DRF.
Held-out: the share of frames whose true caption scores above a hard negative, per kind of change.

    OMP_NUM_THREADS=1 python scripts/train_toy_scalar_rewards.py pickscore --out toy_runs/pickscore --resume

Stage `videoreward`: a tiny `Qwen2VLForConditionalGeneration` with VideoAlign's three reward tokens and bias-free
head (drf_nb.scalar_rewards.VideoRewardModel, the release's prompt template and frame sampling), trained with
VideoAlign's Bradley-Terry-with-ties loss (`btt_loss`) on pairs of world videos of one caption, ranked per
dimension by the world's judge: VQ by its VQ score, MQ (motion quality) by its Phy score, TA by its TA score; equal
scores are ties. Pairs: a render (sometimes mildly degraded) against a corrupted one (a wrong colour, count,
direction, background, lighting or camera; a teleport, a shape change, an object vanishing or appearing; blur or
noise) or against another mild render (ties everywhere). Its tokenizer is a Qwen2 BPE trained on the template and
world captions (the byte-level tiny tokenizer would make the ~3,300-byte template thousands of tokens).
Held-out: pairwise accuracy per dimension on pairs the judge does not tie.

    OMP_NUM_THREADS=1 python scripts/train_toy_scalar_rewards.py videoreward --out toy_runs/videoreward --resume

Both save `<out>/checkpoint/model` (the package loads it: `reward.pickscore_model_id` and `pickscore_processor_id`, or
`reward.videoalign_model_id`), atomically every `--save-every-s` seconds; `--resume` continues. `export` copies them
into drf_nb/data/toy/{pickscore,videoreward}, where the toy preset loads them. `stats` prints the trained VideoReward's
per-dimension score mean and standard deviation on held-out judged pairs: the toy preset's normalisation constants;
`eval` its held-out pairwise accuracy per dimension and kind of pair.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_toy_world as ttw  # noqa: E402  (the world's pair builders, BPE and checkpoint helpers)
from transformers import (CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer, Qwen2VLConfig,  # noqa: E402
                          Qwen2VLForConditionalGeneration, Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor)

from drf_nb.config import RewardConfig  # noqa: E402
from drf_nb.scalar_rewards import (VIDEOREWARD_TOKENS, PickScore, VideoReward, VideoRewardModel, btt_loss, load_videoreward_model,  # noqa: E402
                                   videoreward_question)
from drf_nb.tiny import QWEN_VL_CHAT_TEMPLATE  # noqa: E402
from drf_nb.world import corrupt, judge, make_caption, render, sample_scene  # noqa: E402

FRAME_KINDS = ("wrong colour", "swap colours", "wrong shape", "wrong size", "fewer objects", "more objects", "wrong background",
               "wrong location")  # changes a single frame shows (PickScore's hard negatives)
EVAL_SEED0, TOKENIZER_SEED0 = 10 ** 9, 5 * 10 ** 8  # as train_toy_world: held-out and tokenizer scenes never meet training ones
STATS_SEED0 = 2 * 10 ** 9  # the scenes the VideoReward's normalisation statistics are taken on (stage stats)
CLIP_SPLIT = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""  # CLIPTokenizer's own


def atomic_save(out: Path, write_model, state: dict) -> None:
    "The checkpoint folder is written beside the old one and swapped in (a crash leaves one whole checkpoint)."
    tmp, final, old = out / "checkpoint.tmp", out / "checkpoint", out / "checkpoint.old"
    shutil.rmtree(tmp, ignore_errors=True); tmp.mkdir(parents=True)
    write_model(tmp / "model")
    torch.save(state, tmp / "state.pt")
    if final.exists(): final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------
# PickScore: a tiny CLIP on world frames and captions
# ---------------------------------------------------------------------------------------------------------------
def train_clip_bpe(texts: list[str], vocab_size: int) -> CLIPTokenizer:
    "A BPE in CLIP's format (lower case, CLIP's split, `</w>` word ends, every byte as a fallback) trained on `texts`, as a `CLIPTokenizer`."
    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    bpe.normalizer = normalizers.Lowercase()
    bpe.pre_tokenizer = pre_tokenizers.Split(Regex(CLIP_SPLIT), behavior="isolated")
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, end_of_word_suffix="</w>", show_progress=False, min_frequency=2))
    model = json.loads(bpe.to_str())["model"]
    vocab = {}
    for c in sorted(pre_tokenizers.ByteLevel.alphabet()): vocab[c] = len(vocab)  # what CLIPTokenizer falls back to, as tiny_clip_tokenizer
    for c in sorted(pre_tokenizers.ByteLevel.alphabet()): vocab[c + "</w>"] = len(vocab)
    for t in model["vocab"]:
        if t not in vocab: vocab[t] = len(vocab)
    for t in ("<|startoftext|>", "<|endoftext|>"): vocab[t] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def build_clip(tok: CLIPTokenizer, args) -> tuple[CLIPModel, CLIPProcessor]:
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=args.width, intermediate_size=2 * args.width, num_hidden_layers=args.layers,
                         num_attention_heads=4, max_position_embeddings=77, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id),
        vision_config=dict(hidden_size=args.width, intermediate_size=2 * args.width, num_hidden_layers=args.layers, num_attention_heads=4,
                           image_size=args.size, patch_size=8),
        projection_dim=args.width // 2)
    ip = CLIPImageProcessor(size={"shortest_edge": args.size}, crop_size={"height": args.size, "width": args.size})
    return CLIPModel(config), CLIPProcessor(image_processor=ip, tokenizer=tok)


def frame_batch(seeds: list[int], args, hard: bool = True):
    "One random frame (mildly degraded 30% of the time) of each seed's scene, its caption and a hard negative caption (kind, text)."
    frames, pos, neg = [], [], []
    for s in seeds:
        rng = random.Random(s)
        spec = sample_scene(rng, args.size, args.size, args.frames)
        v = ttw._mild(render(spec)[0], rng, 0.3)
        frames.append(v[rng.randrange(args.frames)])
        pos.append(spec.caption)
        if hard:
            for _ in range(20):
                kind = rng.choice(FRAME_KINDS)
                m = ttw._mod_spec(spec, kind, rng)
                if m is not None:
                    neg.append((kind, make_caption(m, rng))); break
            else: neg.append(("another scene", sample_scene(rng, args.size, args.size, args.frames).caption))
    return torch.stack(frames), pos, neg


def pickscore_of(model: CLIPModel, processor: CLIPProcessor) -> PickScore:
    "The package's PickScore around the model being trained (its constructor freezes; training turns gradients back on)."
    ps = PickScore(model, processor, RewardConfig(kind="pickscore", scalar_dtype="float32"))
    model.requires_grad_(True).train()
    return ps


def clip_embeds(ps: PickScore, frames: torch.Tensor, texts: list[str]):
    "Unit image and text embeddings by the package's own path (differentiable preprocessing, 77-token truncation): what the reward reads."
    return ps.image_embeds(frames), ps.text_embeds(texts)


@torch.no_grad()
def eval_clip(ps: PickScore, args) -> dict:
    "Held-out: the share of frames whose caption outscores a hard negative (overall and per kind), and in-batch top-1 retrieval."
    model = ps.model
    model.eval()
    frames, pos, neg = frame_batch([EVAL_SEED0 + i for i in range(args.eval_n)], args)
    img, txt = clip_embeds(ps, frames, pos + [t for _, t in neg])
    n = len(pos)
    s = img @ txt.T
    win = (s[range(n), range(n)] > s[range(n), [n + i for i in range(n)]]).float()
    kinds = {}
    for (k, _), w in zip(neg, win.tolist()): kinds.setdefault(k, []).append(w)
    model.train()
    return dict(hard=float(win.mean()), top1=float((s[:, :n].argmax(1) == torch.arange(n)).float().mean()),
                kinds={k: float(np.mean(v)) for k, v in sorted(kinds.items())})


def open_run(args) -> tuple:
    "The run folder, its log, the checkpoint to resume (or None), its saved state and step (RNG restored)."
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    ck = ttw.latest(out) if args.resume else None
    state = torch.load(ck / "state.pt", weights_only=False) if ck is not None else None
    if state is not None: torch.set_rng_state(state["torch_rng"])
    return out, out / "train.log", ck, state, state["step"] if state is not None else 0


def train_pickscore(args) -> None:
    out, logf, ck, state, step = open_run(args)
    if ck is not None:
        model, processor = CLIPModel.from_pretrained(ck / "model"), CLIPProcessor.from_pretrained(ck / "model")
    else:
        corpus = [sample_scene(random.Random(TOKENIZER_SEED0 + i), args.size, args.size, args.frames).caption for i in range(args.tokenizer_scenes)]
        tok = train_clip_bpe(corpus, args.vocab_size)
        lens = [len(tok(c).input_ids) for c in corpus]
        log_line = f"tokenizer: CLIP BPE on {len(corpus)} captions, vocab {len(tok)}; tokens per caption max {max(lens)}, mean {np.mean(lens):.0f} (PickScore reads 77)"
        model, processor = build_clip(tok, args)
        ttw.log(logf, log_line)
    ps = pickscore_of(model, processor)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1, betas=(0.9, 0.98))
    if state is not None: opt.load_state_dict(state["optimizer"])
    ttw.log(logf, f"stage pickscore: {'resumed at step ' + str(step) if ck else 'new'}; {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params; "
                  f"batch {args.batch} frames + {args.batch} hard negative captions, lr {args.lr}, {args.steps} steps")
    bar = tqdm(total=args.steps, initial=step, desc="pickscore", mininterval=10)
    last_save, losses = time.time(), []
    while step < args.steps:
        frames, pos, neg = frame_batch([args.seed * 10 ** 7 + step * args.batch + i for i in range(args.batch)], args)
        for g in opt.param_groups: g["lr"] = args.lr * min(1.0, (step + 1) / args.warmup)
        img, txt = clip_embeds(ps, frames, pos + [t for _, t in neg])
        logits = model.logit_scale.exp() * img @ txt.T  # (B, 2B): each frame against every caption and every hard negative
        n = len(pos)
        target = torch.arange(n)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits[:, :n].T, target)) / 2
        opt.zero_grad(set_to_none=True); loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad(): model.logit_scale.clamp_(0, 4.6052)  # CLIP's cap: temperature >= 0.01
        step += 1; losses.append(loss.item()); bar.update(1)
        if step % 10 == 0: bar.set_postfix(loss=f"{np.mean(losses[-10:]):.3f}")
        if step % args.eval_every == 0 or step == args.steps:
            ev = eval_clip(ps, args)
            ttw.log(logf, f"step {step} loss {np.mean(losses[-args.eval_every:]):.3f} | held-out: caption > hard negative {ev['hard']:.3f}, "
                          f"in-batch top-1 {ev['top1']:.3f} | " + ", ".join(f"{k} {v:.2f}" for k, v in ev["kinds"].items()))
        if time.time() - last_save >= args.save_every_s or step == args.steps:
            atomic_save(out, lambda d: (model.save_pretrained(d), processor.save_pretrained(d)),
                        {"optimizer": opt.state_dict(), "step": step, "torch_rng": torch.get_rng_state()})
            last_save = time.time()
    bar.close()
    ttw.log(logf, f"done at step {step}; the model: {out / 'checkpoint' / 'model'}")


# ---------------------------------------------------------------------------------------------------------------
# VideoReward: a tiny Qwen2-VL with VideoAlign's reward tokens, trained with Bradley-Terry-with-ties on judged pairs
# ---------------------------------------------------------------------------------------------------------------
PAIR_KINDS = ("tie", "wrong colour", "wrong count", "wrong direction", "wrong background", "wrong lighting", "wrong camera",
              "teleport", "shape change", "vanish", "appear", "blur", "noise")
DIMS = ("VQ", "MQ", "TA")  # the head's order (the tokens' order in the template)


def other_video(spec, kind: str, rng: random.Random) -> torch.Tensor | None:
    "The second video of a pair: another mild render (a tie), or the scene with `kind` gone wrong."
    if kind == "tie": return ttw._mild(render(spec)[0], rng, 1.0)
    if kind in ("blur", "noise"): return corrupt(spec, kind, rng)[0]
    if kind in ("teleport", "shape change", "vanish", "appear"): return ttw._phy_video(spec, kind, rng)
    shown = ttw._wrong_video_spec(spec, kind, rng)
    return None if shown is None else render(shown)[0]


def judged_pairs(seeds: list[int], args) -> list[tuple]:
    "Pairs (caption, video A, video B, kind, labels (VQ, MQ, TA) in {1, 0, -1}) ranked by the world's judge; scenes that fail are skipped."
    rows = []
    for s in seeds:
        rng = random.Random(s)
        spec = sample_scene(rng, args.size, args.size, args.frames)
        a = ttw._mild(render(spec)[0], rng, 0.3)
        kind = rng.choice(PAIR_KINDS)
        try: b = other_video(spec, kind, rng)
        except (ValueError, IndexError): b = None
        if b is None: continue
        va, vb = judge(torch.stack([a, b]), [spec, spec])
        score = lambda v: (v.vq_score, v.phy_score, v.ta)
        lab = [0 if abs(x - y) < 1e-6 else (1 if x > y else -1) for x, y in zip(score(va), score(vb))]
        if rng.random() < 0.5: a, b, lab = b, a, [-l for l in lab]  # the better video is not always first
        rows.append((spec.caption, a, b, kind, lab))
    return rows


def videoreward_of(model: VideoRewardModel, args) -> VideoReward:
    "The package's VideoReward around the model being trained, raw scores (no normalisation); gradients back on after its constructor freezes."
    rcfg = RewardConfig(kind="videoalign", videoalign_norm_mean=[0.0, 0.0, 0.0], videoalign_norm_std=[1.0, 1.0, 1.0], videoalign_fps=args.vr_fps,
                        videoalign_min_pixels=args.min_pixels, videoalign_max_pixels=args.max_pixels, scalar_dtype="float32",
                        scalar_gradient_checkpointing=False)
    vr = VideoReward(model, rcfg, fps=args.fps, clip_frames=args.frames)
    model.requires_grad_(True).train()
    return vr


def vr_scores(vr: VideoReward, videos: list[torch.Tensor], captions: list[str]) -> torch.Tensor:
    "Raw (VQ, MQ, TA) scores by the package's path: the release's frame sampling, torch-only Qwen preprocessing, the head at the reward tokens."
    return vr.model([vr.visual_inputs(v) for v in videos], captions)


def build_videoreward(args) -> VideoRewardModel:
    corpus = [sample_scene(random.Random(TOKENIZER_SEED0 + i), args.size, args.size, args.frames).caption for i in range(args.tokenizer_scenes)]
    texts = ["system\nYou are a helpful assistant.", "user\n", "assistant\n"] + [videoreward_question(c) for c in corpus]
    tok = ttw.train_bpe(texts, args.vocab_size)
    tok.add_special_tokens({"additional_special_tokens": list(VIDEOREWARD_TOKENS)})  # as drf_nb.scalar_rewards.tiny_videoreward_processor
    size = {"shortest_edge": args.min_pixels, "longest_edge": args.max_pixels}
    processor = Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(size=size), tokenizer=tok,
                                 video_processor=Qwen2VLVideoProcessor(size=size), chat_template=QWEN_VL_CHAT_TEMPLATE)
    tid = tok.convert_tokens_to_ids
    h, heads = args.width, 4
    text = dict(vocab_size=len(tok), hidden_size=h, intermediate_size=3 * h, num_hidden_layers=args.layers, num_attention_heads=heads,
                num_key_value_heads=2, max_position_embeddings=4096, rms_norm_eps=1e-6,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [h // heads // 2 // 4, 3 * (h // heads // 2) // 8, 3 * (h // heads // 2) // 8]},
                bos_token_id=tid("<|endoftext|>"), eos_token_id=tid("<|im_end|>"), pad_token_id=tid("<|endoftext|>"))
    vision = dict(depth=args.layers, embed_dim=h // 2, hidden_size=h, mlp_ratio=2, num_heads=4, patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
    config = Qwen2VLConfig(text_config=text, vision_config=vision, image_token_id=tid("<|image_pad|>"), video_token_id=tid("<|video_pad|>"),
                           vision_start_token_id=tid("<|vision_start|>"), vision_end_token_id=tid("<|vision_end|>"), tie_word_embeddings=True)
    return VideoRewardModel(Qwen2VLForConditionalGeneration(config), processor)


@torch.no_grad()
def eval_videoreward(vr: VideoReward, pairs) -> dict:
    "Held-out pairwise accuracy per dimension on the pairs the judge does not tie, and the share of ties."
    model = vr.model
    model.eval()
    acc = {d: [] for d in DIMS}
    for i in range(0, len(pairs), 8):
        chunk = pairs[i:i + 8]
        caps = [p[0] for p in chunk]
        d = vr_scores(vr, [p[1] for p in chunk], caps) - vr_scores(vr, [p[2] for p in chunk], caps)
        for p, row in zip(chunk, d.tolist()):
            for j, dim in enumerate(DIMS):
                if p[4][j]: acc[dim].append(float(np.sign(row[j]) == p[4][j]))
    model.train()
    n = len(pairs)
    return {d: (float(np.mean(v)) if v else float("nan"), len(v) / n) for d, v in acc.items()}


def train_videoreward(args) -> None:
    out, logf, ck, state, step = open_run(args)
    model = load_videoreward_model(str(ck / "model"), dtype="float32") if ck is not None else build_videoreward(args)
    vr = videoreward_of(model, args)
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    if state is not None: opt.load_state_dict(state["optimizer"])
    ev_pairs = judged_pairs([EVAL_SEED0 + i for i in range(args.eval_n)], args)
    probe = vr_scores(vr, [ev_pairs[0][1]], [ev_pairs[0][0]])
    ttw.log(logf, f"stage videoreward: {'resumed at step ' + str(step) if ck else 'new'}; {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params, "
                  f"vocab {len(model.tokenizer)}; prompt tokens {len(model.prompt_ids(ev_pairs[0][0], 1))} + video; {args.batch} pairs/step, lr {args.lr}, "
                  f"theta {args.theta}; held-out pairs {len(ev_pairs)} (scores of shape {tuple(probe.shape)})")
    bar = tqdm(total=args.steps, initial=step, desc="videoreward", mininterval=10)
    last_save, losses = time.time(), []
    while step < args.steps:
        pairs = judged_pairs([args.seed * 10 ** 7 + step * 64 + i for i in range(args.batch)], args)
        for g in opt.param_groups: g["lr"] = args.lr * min(1.0, (step + 1) / args.warmup)
        caps = [p[0] for p in pairs]
        ra, rb = vr_scores(vr, [p[1] for p in pairs], caps), vr_scores(vr, [p[2] for p in pairs], caps)
        lab = torch.tensor([p[4] for p in pairs], dtype=torch.float32)
        loss = btt_loss(ra, rb, lab, theta=args.theta)
        opt.zero_grad(set_to_none=True); loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1; losses.append(loss.item()); bar.update(1)
        if step % 10 == 0: bar.set_postfix(loss=f"{np.mean(losses[-10:]):.3f}")
        if step % args.eval_every == 0 or step == args.steps:
            ev = eval_videoreward(vr, ev_pairs)
            ttw.log(logf, f"step {step} BTT loss {np.mean(losses[-args.eval_every:]):.3f} | held-out pairwise accuracy (untied pairs, their share): "
                          + ", ".join(f"{d} {a:.3f} ({s:.2f})" for d, (a, s) in ev.items()))
        if time.time() - last_save >= args.save_every_s or step == args.steps:
            atomic_save(out, model.save_pretrained, {"optimizer": opt.state_dict(), "step": step, "torch_rng": torch.get_rng_state()})
            last_save = time.time()
    bar.close()
    ttw.log(logf, f"done at step {step}; the model: {out / 'checkpoint' / 'model'}")


@torch.no_grad()
def eval_by_kind(args) -> None:
    """Held-out pairwise accuracy of the VideoReward folder `--videoreward` on `--eval-n` judged pairs from a stream
    training and its periodic evaluation never use, per dimension and per kind of pair (untied pairs only)."""
    vr = videoreward_of(load_videoreward_model(args.videoreward, dtype="float32"), args)
    vr.model.eval()
    pairs = judged_pairs([EVAL_SEED0 + 5000 + i for i in range(args.eval_n or 400)], args)
    hits = {}
    for i in tqdm(range(0, len(pairs), 8), desc="held-out pairs", mininterval=10):
        chunk = pairs[i:i + 8]
        caps = [p[0] for p in chunk]
        d = vr_scores(vr, [p[1] for p in chunk], caps) - vr_scores(vr, [p[2] for p in chunk], caps)
        for p, row in zip(chunk, d.tolist()):
            for j, dim in enumerate(DIMS):
                if p[4][j]:
                    ok = float(np.sign(row[j]) == p[4][j])
                    hits.setdefault((dim, "all"), []).append(ok); hits.setdefault((dim, p[3]), []).append(ok)
    for dim in DIMS:
        kinds = sorted((k for d, k in hits if d == dim and k != "all"), key=lambda k: -np.mean(hits[(dim, k)]))
        print(f"{dim}: {np.mean(hits[(dim, 'all')]):.3f} on {len(hits[(dim, 'all')])} untied pairs; "
              + ", ".join(f"{k} {np.mean(hits[(dim, k)]):.2f} ({len(hits[(dim, k)])})" for k in kinds))


@torch.no_grad()
def score_stats(args) -> None:
    """The per-dimension mean and standard deviation of the trained VideoReward's raw scores over the videos of `--eval-n`
    judged pairs from a stream no training or evaluation pair uses: the toy preset's `reward.videoalign_norm_mean` and
    `videoalign_norm_std`, as the release's inference config normalises its scores over its data."""
    vr = videoreward_of(load_videoreward_model(args.videoreward, dtype="float32"), args)
    vr.model.eval()
    pairs = judged_pairs([STATS_SEED0 + i for i in range(args.eval_n or 128)], args)
    scores = torch.cat([vr_scores(vr, [p[k] for p in pairs[i:i + 8]], [p[0] for p in pairs[i:i + 8]])
                        for i in range(0, len(pairs), 8) for k in (1, 2)])
    mean, std = scores.mean(0), scores.std(0)
    print(f"{len(scores)} videos of {len(pairs)} judged pairs; per dimension {', '.join(DIMS)}:")
    print(f"reward.videoalign_norm_mean={[round(float(x), 4) for x in mean]}")
    print(f"reward.videoalign_norm_std={[round(float(x), 4) for x in std]}")


def export(args) -> None:
    "Copy the trained folders into drf_nb/data/toy/{pickscore,videoreward} (atomically), with each run's last log lines."
    from drf_nb.tiny import PACKAGED_MODELS
    data = Path(__file__).resolve().parent.parent / "drf_nb" / "data"
    for name, src in (("toy-world-pickscore", args.pickscore), ("toy-world-videoreward", args.videoreward)):
        src = Path(src)
        if not (src / "config.json").exists(): raise SystemExit(f"export: {src} is not a trained model folder (train its stage first)")
        dest = data / PACKAGED_MODELS[name][0]
        tmp = dest.with_name(dest.name + ".tmp"); shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        run_log = src.parent.parent / "train.log"
        if run_log.exists(): (tmp / "TRAINING_LOG.txt").write_text("".join(run_log.read_text().splitlines(True)[-4:]))
        shutil.rmtree(dest, ignore_errors=True); tmp.rename(dest)
        print(f"{name}: {src} -> {dest} ({sum(f.stat().st_size for f in dest.rglob('*') if f.is_file()) / 1e6:.1f} MB)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("stage", choices=["pickscore", "videoreward", "eval", "stats", "export"],
                   help="eval: the trained VideoReward's held-out accuracy per dimension and kind of pair; "
                        "stats: its score mean and std per dimension (the toy preset's normalisation)")
    p.add_argument("--out", help="run folder (checkpoint/, train.log)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint if there is one")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps (pickscore 1500, videoreward 2000)")
    p.add_argument("--batch", type=int, default=None, help="frames (pickscore 32) or video pairs (videoreward 4) per step")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (pickscore 1e-3, videoreward 5e-4)")
    p.add_argument("--width", type=int, default=None, help="hidden size of both towers (pickscore 128, videoreward 128; new runs only)")
    p.add_argument("--layers", type=int, default=3, help="layers of each tower (new runs only)")
    p.add_argument("--vocab-size", type=int, default=None, help="BPE vocabulary (pickscore 512, videoreward 2048: the template then takes ~810 tokens, the floor of Qwen2's word split; new runs only)")
    p.add_argument("--tokenizer-scenes", type=int, default=2000, help="captions the BPE is trained on (new runs only)")
    p.add_argument("--size", type=int, default=48); p.add_argument("--frames", type=int, default=9)
    p.add_argument("--fps", type=float, default=16.0, help="frame rate of world videos (GeneratorConfig.fps of the toy preset)")
    p.add_argument("--vr-fps", type=float, default=2.0, help="videoreward: frames per second it samples (reward.videoalign_fps)")
    p.add_argument("--min-pixels", type=int, default=112 * 112, help="videoreward: reward.videoalign_min_pixels of the toy preset")
    p.add_argument("--max-pixels", type=int, default=112 * 112, help="videoreward: reward.videoalign_max_pixels of the toy preset")
    p.add_argument("--theta", type=float, default=5.0, help="videoreward: the tie parameter of the BTT loss")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--eval-every", type=int, default=250); p.add_argument("--eval-n", type=int, default=None, help="held-out frames / pairs (256 / 96)")
    p.add_argument("--save-every-s", type=float, default=180.0)
    p.add_argument("--seed", type=int, default=0); p.add_argument("--threads", type=int, default=1)
    p.add_argument("--pickscore", default="toy_runs/pickscore/checkpoint/model", help="export: the PickScore folder")
    p.add_argument("--videoreward", default="toy_runs/videoreward/checkpoint/model", help="export: the VideoReward folder")
    args = p.parse_args(argv)
    if args.stage == "export": return export(args)
    if args.stage == "stats": return score_stats(args)
    if args.stage == "eval": return eval_by_kind(args)
    if not args.out: p.error(f"--out is required for stage {args.stage}")
    defaults = {"pickscore": dict(steps=1500, batch=32, lr=1e-3, width=128, vocab_size=512, eval_n=256),
                "videoreward": dict(steps=2000, batch=4, lr=5e-4, width=128, vocab_size=2048, eval_n=96)}[args.stage]
    for k, v in defaults.items():
        if getattr(args, k) is None: setattr(args, k, v)
    torch.set_num_threads(args.threads)
    (train_pickscore if args.stage == "pickscore" else train_videoreward)(args)


if __name__ == "__main__":
    main()
