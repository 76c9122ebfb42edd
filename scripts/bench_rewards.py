"""Benchmark the scalar-reward baselines against the Diffusion-DRF critic: forward + backward to the pixels.

Each reward runs through the package's own reward class on one generated video (the N_f frames the trainer decodes
from a 49-frame, 16 fps, 512x288 clip) and is back-propagated to those pixels; models are the real architectures
with random weights, built from explicit configs, in bf16, frozen:
  videoalign     VideoReward: Qwen2-VL-2B (text 1536 x 28 layers, 12 heads / 2 KV, ffn 8960, vocab 151660 after the three
                 reward tokens; vision 32 blocks x 1280, 16 heads, mlp ratio 4), the release's prompt, 2 fps sampling,
                 frames resized into [100352, 200704] pixels
  pickscore      PickScore: CLIP ViT-H/14 (vision 32 x 1280, 16 heads, ffn 5120, 224 px; text 24 x 1024, 16 heads,
                 ffn 4096; projection 1024), every frame scored
  diffusion_drf  the Diffusion-DRF critic Qwen2.5-VL-7B (DESIGN.md's config, gradient checkpointing) on the demo prompt's
                 queries: one TA query per facet (3) + Phy + VQ, the last two with N_f reference frames
Text goes through the tiny byte-level tokenizers (no merges): every prompt costs ~4x the tokens of the real BPE, for all
three rewards alike.

  --fake         no GPU needed, exact live-tensor memory at full depth: every model built at its real size under torch's
                 FakeTensorMode (shapes only, drf_nb.memory), the reward's forward and backward to the pixels run through
                 the package's classes, and the peak of live tensor bytes above the weights counted op by op (what a GPU
                 reports as max_memory_allocated above the model, to the byte on configurations small enough to check:
                 tests/test_memory_dry_run.py); FLOPs counted per op give the time at --utilisation of A100 / H100 peak.
  --device cuda  real depth; time = best of --repeats; memory = torch.cuda.max_memory_allocated above the model
  CPU (default without a GPU): a full-depth forward + backward of the 7B critic does not fit this machine's time, so every
                 model runs at its real width and token counts but with its towers cut to 1 or 2 layers, in a fresh process
                 each (depths (1, 1), (2, 1), (1, 4) for (language/text, vision)); the full-depth time and working-set
                 growth are extrapolated linearly in each tower's depth, and printed as EXTRAPOLATED. Time on CPU is the
                 main thread's CPU time (torch runs single-threaded here), not wall time: the machine is shared, and wall
                 time moved by +-40% between identical runs. Peak memory is the process RSS growth during forward +
                 backward (weights excluded).
A benchmark, not a test.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_critic import PeakRSS, qwen7b_critic  # noqa: E402  (the 7B critic's explicit config lives there)

KINDS = ("diffusion_drf", "videoalign", "pickscore")
DEPTHS = {"diffusion_drf": (28, 32), "videoalign": (28, 32), "pickscore": (24, 32)}  # (language / text layers, vision blocks)
VISION_STEP = 4  # the vision slope is measured over 3 blocks: one block costs less than the run-to-run noise of the 7B critic
CLIP_FRAMES, CLIP_FPS, HEIGHT, WIDTH = 49, 16, 288, 512


def videoreward_2b(dtype, text_layers=None, vision_depth=None):
    "VideoReward at Qwen2-VL-2B size with random weights, on the tiny tokenizer (+ reward tokens) and the official processor."
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from drf_nb.scalar_rewards import VideoRewardModel, tiny_videoreward_processor
    proc = tiny_videoreward_processor(min_pixels=128 * 28 * 28, max_pixels=200704)
    tid = proc.tokenizer.convert_tokens_to_ids
    text = dict(vocab_size=151660, hidden_size=1536, intermediate_size=8960, num_hidden_layers=text_layers or 28, num_attention_heads=12,
                num_key_value_heads=2, max_position_embeddings=32768, rms_norm_eps=1e-6,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
                bos_token_id=tid("<|endoftext|>"), eos_token_id=tid("<|im_end|>"), pad_token_id=tid("<|endoftext|>"))
    vision = dict(depth=vision_depth or 32, embed_dim=1280, hidden_size=1536, mlp_ratio=4, num_heads=16, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2)
    config = Qwen2VLConfig(text_config=text, vision_config=vision, image_token_id=tid("<|image_pad|>"), video_token_id=tid("<|video_pad|>"),
                           vision_start_token_id=tid("<|vision_start|>"), vision_end_token_id=tid("<|vision_end|>"), tie_word_embeddings=True)
    config._attn_implementation = "sdpa"
    torch.set_default_dtype(dtype)
    try: vlm = Qwen2VLForConditionalGeneration(config).eval()
    finally: torch.set_default_dtype(torch.float32)
    return VideoRewardModel(vlm, proc)


def pickscore_h14(dtype, text_layers=None, vision_depth=None):
    "PickScore at CLIP ViT-H/14 size with random weights, the tiny CLIP tokenizer and the default CLIP image processor (224 px)."
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor
    from drf_nb.scalar_rewards import tiny_clip_tokenizer
    tok = tiny_clip_tokenizer()
    config = CLIPConfig(
        text_config=dict(vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=text_layers or 24,
                         num_attention_heads=16, max_position_embeddings=77, hidden_act="gelu",
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        vision_config=dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=vision_depth or 32, num_attention_heads=16,
                           image_size=224, patch_size=14, hidden_act="gelu"),
        projection_dim=1024)
    config._attn_implementation = "sdpa"
    torch.set_default_dtype(dtype)
    try: model = CLIPModel(config).eval()
    finally: torch.set_default_dtype(torch.float32)
    return model, CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tok)


def _on(module, device):
    "`module` on `device`; not moved when it is there already (a fake-tensor build: fake parameters cannot always be swapped)."
    return module if all(p.device == device for p in module.parameters()) else module.to(device)


def build(kind, frames, device, text_layers=None, vision_depth=None):
    "(reward_fn, video (1, N_f, C, H, W), samples) for one reward kind, at real size unless depths are given."
    from drf_nb.config import load_config
    from drf_nb.reward import DiffusionDRFReward, single_prompt_samples
    from drf_nb.scalar_rewards import PickScore, VideoReward
    from drf_nb.training import DEMO_FACETS, DEMO_PROMPT
    torch.manual_seed(0)
    cfg = load_config("paper", {"reward": {"kind": kind, "num_frames": frames, "num_reference_frames": frames}})
    if kind == "videoalign":
        fn = VideoReward(videoreward_2b(torch.bfloat16, text_layers, vision_depth), cfg.reward, fps=CLIP_FPS, clip_frames=CLIP_FRAMES)
        _on(fn.model, device)
    elif kind == "pickscore":
        model, proc = pickscore_h14(torch.bfloat16, text_layers, vision_depth)
        fn = PickScore(_on(model, device), proc, cfg.reward)
    else:
        critic, _ = qwen7b_critic(device, torch.bfloat16)  if text_layers is None else _critic_cut(device, text_layers, vision_depth)
        fn = DiffusionDRFReward(_on(critic, device), cfg.reward, fps=CLIP_FPS)
    ref = torch.rand(frames, 3, HEIGHT, WIDTH) * 2 - 1
    samples = single_prompt_samples(DEMO_PROMPT, cfg, facets=DEMO_FACETS, reference_video=ref)
    for s in samples: s.reference_video = ref.to(device)
    return fn, (torch.rand(1, frames, 3, HEIGHT, WIDTH) * 2 - 1).to(device), samples


def _critic_cut(device, text_layers, vision_depth):
    "The 7B critic with its language model cut to `text_layers` and its vision tower to `vision_depth` blocks."
    import bench_critic
    from transformers import Qwen2_5_VLConfig
    orig = Qwen2_5_VLConfig.__init__
    def cut(self, *a, text_config=None, vision_config=None, **k):
        text_config = dict(text_config, num_hidden_layers=text_layers)
        fa = [i for i in vision_config.get("fullatt_block_indexes", []) if i < vision_depth] or [vision_depth - 1]
        vision_config = dict(vision_config, depth=vision_depth, fullatt_block_indexes=fa)
        orig(self, *a, text_config=text_config, vision_config=vision_config, **k)
    Qwen2_5_VLConfig.__init__ = cut
    try: return bench_critic.qwen7b_critic(device, torch.bfloat16)
    finally: Qwen2_5_VLConfig.__init__ = orig


def run_once(fn, video, samples):
    v = video.detach().clone().requires_grad_(True)
    out = fn(v, samples)
    out.rewards.sum().backward()
    assert v.grad is not None and torch.isfinite(v.grad).all()


def measure(kind, frames, device, repeats, text_layers=None, vision_depth=None):
    "(best time, peak memory growth) of one forward + backward of reward `kind`."
    fn, video, samples = build(kind, frames, device, text_layers, vision_depth)
    times, mem = [], None
    for r in range(repeats):
        gc.collect()
        if device.type == "cuda":
            torch.cuda.synchronize(); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            t0 = time.perf_counter(); run_once(fn, video, samples); torch.cuda.synchronize(); times.append(time.perf_counter() - t0)
            m = torch.cuda.max_memory_allocated() - base
            mem = m if mem is None else min(mem, m)
        elif r == 0:  # fresh process: the first run's RSS growth is its working set
            with PeakRSS() as pk:
                t0 = time.thread_time(); run_once(fn, video, samples); times.append(time.thread_time() - t0)
            mem = pk.used
        else:
            t0 = time.thread_time(); run_once(fn, video, samples); times.append(time.thread_time() - t0)
    return min(times), mem


def measure_fake(kind, frames):
    "(live bytes above the weights at the peak, FLOPs, seconds to trace) of one forward + backward of `kind` at full size, fake."
    from drf_nb.memory import LiveBytes, fake_mode, shapes_only
    mode, t0 = fake_mode(), time.time()
    with shapes_only(mode, real_data=False):
        fn, video, samples = build(kind, frames, torch.device("cpu"))
    modules = [m for m in vars(fn).values() if isinstance(m, torch.nn.Module)]
    lb = LiveBytes()
    with shapes_only(mode), lb:
        lb.track([list(m.parameters()) + list(m.buffers()) for m in modules], video, [s.reference_video for s in samples])
        static = lb.live
        lb.reset_peaks()
        v = video.detach().clone().requires_grad_(True)
        fn(v, samples).rewards.sum().backward()
        del v
    return lb.peak - static, sum(lb.phase_flops.values()), time.time() - t0


def _child(kind, frames, repeats, text_layers, vision_depth):
    return measure(kind, frames, torch.device("cpu"), repeats, text_layers, vision_depth)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    ap.add_argument("--frames", type=int, default=None, help="N_f frames decoded for the reward (default: 10 on a GPU, the paper; 4 on CPU)")
    ap.add_argument("--repeats", type=int, default=None, help="runs per measurement; best time reported (default: 3 on a GPU, 1 on CPU)")
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    ap.add_argument("--fake", action="store_true", help="full size on fake tensors (no GPU): exact live-tensor memory, FLOPs")
    ap.add_argument("--utilisation", type=float, default=0.4, help="--fake: fraction of the bf16 peak for the time estimates")
    args = ap.parse_args(argv)
    if args.fake:
        from drf_nb.memory import step_seconds
        frames = args.frames or 10
        print(f"--fake: full size, fake tensors; N_f={frames} frames of a {CLIP_FRAMES}-frame {CLIP_FPS} fps clip at {WIDTH}x{HEIGHT}; "
              f"forward + backward to the pixels; memory = peak live tensor bytes above the weights; time at {args.utilisation:.0%} of bf16 peak")
        res = {}
        for k in args.kinds:
            res[k] = measure_fake(k, frames)
            print(f"  {k:<14} traced in {res[k][2]:.0f} s", flush=True)
        base = res.get("diffusion_drf")
        print(f"\n{'reward':<14} {'peak GiB':>9} {'TFLOP':>8} {'A100 s':>7} {'H100 s':>7} {'mem / DRF':>10} {'time / DRF':>11}")
        for k, (m, f, _) in res.items():
            rm = f"{m / base[0]:>10.3f}" if base else f"{'-':>10}"
            rt = f"{f / base[1]:>11.3f}" if base else f"{'-':>11}"
            print(f"{k:<14} {m / 2 ** 30:>9.2f} {f / 1e12:>8.2f} {step_seconds(f, 'A100', args.utilisation):>7.2f} "
                  f"{step_seconds(f, 'H100', args.utilisation):>7.2f} {rm} {rt}")
        return
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    frames = args.frames or (10 if device.type == "cuda" else 4)
    repeats = args.repeats or (3 if device.type == "cuda" else 1)
    mib = 2 ** 20
    results = {}
    if device.type == "cuda":
        print(f"device={device} N_f={frames} frames of a {CLIP_FRAMES}-frame {CLIP_FPS} fps clip at {WIDTH}x{HEIGHT}; full depth; "
              f"time = best of {repeats} (forward + backward to the pixels); memory = GPU peak allocated above the weights")
        for k in args.kinds: results[k] = measure(k, frames, device, repeats)
        label = "MEASURED, full size"
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        if torch.get_num_threads() != 1: print("warning: torch uses several threads; CPU time of the main thread undercounts (set OMP_NUM_THREADS=1)")
        print(f"time = CPU time of the main thread; device=cpu ({torch.get_num_threads()} thread(s)) N_f={frames} frames of a {CLIP_FRAMES}-frame {CLIP_FPS} fps clip at "
              f"{WIDTH}x{HEIGHT}; models at real width and token counts, towers cut to 1-2 layers (fresh process per run)")
        print(f"full-depth figures below are EXTRAPOLATED linearly in each tower's depth from depths (1,1), (2,1), (1,{VISION_STEP}); not measured")
        for k in args.kinds:
            pts = {}
            for lt, lv in ((1, 1), (2, 1), (1, VISION_STEP)):
                with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
                    pts[(lt, lv)] = pool.submit(_child, k, frames, repeats, lt, lv).result()
                print(f"  {k:<14} language/text layers={lt} vision blocks={lv}: {pts[(lt, lv)][0]:8.2f} s {pts[(lt, lv)][1] / mib:9.1f} MiB", flush=True)
            Lt, Lv = DEPTHS[k]
            ext = []
            for i, what in ((0, "time"), (1, "memory")):
                per_text = pts[(2, 1)][i] - pts[(1, 1)][i]
                per_vision = (pts[(1, VISION_STEP)][i] - pts[(1, 1)][i]) / (VISION_STEP - 1)
                for name, d in (("language/text layer", per_text), ("vision block", per_vision)):
                    if d < 0: print(f"  {k}: the {what} of one {name} is below the run-to-run noise ({d:.3g}); counted as 0")
                ext.append(pts[(1, 1)][i] + (Lt - 1) * max(per_text, 0.0) + (Lv - 1) * max(per_vision, 0.0))
            results[k] = tuple(ext)
        label = f"EXTRAPOLATED to full depth from CPU runs at depth 1-{VISION_STEP}"
    base = results.get("diffusion_drf")
    print(f"\n{label}")
    print(f"{'reward':<14} {'time s':>9} {'peak MiB':>10} {'time / DRF':>11} {'mem / DRF':>10}")
    for k, (t, m) in results.items():
        rt = f"{t / base[0]:>11.3f}" if base else f"{'-':>11}"
        rm = f"{m / base[1]:>10.3f}" if base and base[1] > 0 else f"{'-':>10}"
        print(f"{k:<14} {t:>9.2f} {m / mib:>10.1f} {rt} {rm}")


if __name__ == "__main__":
    main()
