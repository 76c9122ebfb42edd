#!/usr/bin/env python
"""Peak GPU memory and time of one Diffusion-DRF training step at the paper's size (Table 7's grid).

Real-size models with random weights, nothing downloaded: the Wan2.1-1.3B DiT (30 layers, 12 heads x 128,
ffn 8960, text_dim 4096), the Wan VAE (default config), Qwen2.5-VL-7B (the explicit config of DESIGN.md);
random text embeddings (512 x 4096) stand in for UMT5-XXL, which is frozen and runs without a graph. The
step is the trainer's own (`DRFTrainer.training_step`): 512x288, 49 frames, 25 sampling steps with
gradients through the last K, N_f generated + 10 reference frames to the critic, bf16 autocast with
float32 AdamW master weights, gradient checkpointing of the DiT (per sampling step) and of the VLM.

    python scripts/bench_train_memory.py                 # the grid, on a GPU
    python scripts/bench_train_memory.py --size smoke    # the tiny stacks on the CPU (checks the script)

Each grid point runs in its own process so peaks do not carry over. The critic's tokenizer is the tiny
byte-level one (one token per byte), so question/answer sequences are ~3x longer than with Qwen's BPE:
a conservative (higher) memory figure.
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

PAPER_VRAM = {(2, 4): 62, (4, 4): 65, (6, 4): 68, (8, 4): 71, (10, 4): 75, (10, 1): 56, (10, 2): 63, (10, 3): 69}
GRID = [(2, 4), (4, 4), (6, 4), (8, 4), (10, 4), (10, 1), (10, 2), (10, 3)]
FACETS = {"Object(s)": "a red tomato in a pink bowl", "Environment": "a wooden kitchen table",
          "Objects' Motion": "a hand places the tomato into the bowl", "Lighting": "soft daylight from a window"}


def full_models():
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, UMT5Config, UMT5EncoderModel
    from drf_nb.tiny import tiny_qwen_tokenizer, tiny_qwen_vl, tiny_t5_tokenizer
    dev = "cuda"
    with torch.device(dev):
        dit = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16,
                                    out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
                                    qk_norm="rms_norm_across_heads", eps=1e-6).to(torch.bfloat16)
        vae = AutoencoderKLWan().to(torch.bfloat16)
    te = UMT5EncoderModel(UMT5Config(vocab_size=128, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4))  # WanPipeline requires one; random embeddings replace its output
    pipe = WanPipeline(tokenizer=tiny_t5_tokenizer(), text_encoder=te, vae=vae, transformer=dit,
                       scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0))
    tok = tiny_qwen_tokenizer(); tid = tok.convert_tokens_to_ids
    qcfg = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                         num_key_value_heads=4, max_position_embeddings=128000, rms_norm_eps=1e-6,
                         rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
                         bos_token_id=tid("<|endoftext|>"), eos_token_id=tid("<|im_end|>"), pad_token_id=tid("<|endoftext|>")),
        vision_config=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, tokens_per_second=2, window_size=112,
                           fullatt_block_indexes=[7, 15, 23, 31]),
        image_token_id=tid("<|image_pad|>"), video_token_id=tid("<|video_pad|>"), vision_start_token_id=tid("<|vision_start|>"),
        vision_end_token_id=tid("<|vision_end|>"), tie_word_embeddings=False)
    qcfg._attn_implementation = "sdpa"
    with torch.device(dev):
        vlm = Qwen2_5_VLForConditionalGeneration(qcfg).to(torch.bfloat16).eval()
    _, processor = tiny_qwen_vl()  # the official processor classes around the byte-level tokenizer
    return pipe, vlm, processor


def smoke_models():
    from drf_nb.tiny import tiny_qwen_vl, tiny_wan_pipeline
    vlm, processor = tiny_qwen_vl()
    return tiny_wan_pipeline(), vlm, processor


def run_point(size: str, nf: int, k: int, steps: int) -> dict:
    import torch
    from drf_nb.config import load_config
    from drf_nb.critic import QwenVLCritic
    from drf_nb.reward import build_reward
    from drf_nb.sampling import PromptEmbeds, WanGenerator
    from drf_nb.training import DRFTrainer, single_prompt_samples
    gpu = torch.cuda.is_available() and size == "full"
    over = {"reward": {"num_frames": nf, "num_reference_frames": 10 if size == "full" else 4},
            "sampling": {"backprop_steps": k, "checkpointing": "step"},
            "critic": {"gradient_checkpointing": True},
            "training": {"report_to": "none", "output_dir": "/tmp/bench_train_memory", "checkpoint_every": 10 ** 6,
                         "validate_every": 10 ** 6, "mixed_precision": "bf16" if gpu else "no", "max_steps": steps}}
    if size == "smoke": over["sampling"]["train_steps"] = 4
    cfg = load_config("paper" if size == "full" else "tiny", over)
    pipe, vlm, processor = full_models() if size == "full" else smoke_models()
    gen = WanGenerator(pipe, flow_shift=cfg.generator.flow_shift)
    g = cfg.generator
    dim = gen.transformer.config.text_dim

    def random_embeds(prompts, negative_prompts=None, max_sequence_length=512):  # UMT5-XXL stand-in
        gen_ = torch.Generator().manual_seed(0)
        e = lambda: torch.randn(len(prompts), max_sequence_length, dim, generator=gen_).to(gen.device, gen.dtype)
        return PromptEmbeds(e(), e())
    gen.encode_prompt = random_embeds
    if gpu: gen.to("cuda")
    critic = QwenVLCritic(vlm, processor, cfg.critic)
    ref = torch.rand(cfg.reward.num_reference_frames, 3, g.height, g.width) * 2 - 1
    samples = single_prompt_samples("A red tomato in a pink bowl on a wooden kitchen table", cfg, FACETS, reference_video=ref)
    tr = DRFTrainer(cfg, generator=gen, reward_fn=build_reward(cfg, critic=critic), samples=samples)
    times, peak = [], 0
    for i in range(steps):
        if gpu: torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        t0 = time.time()
        res = tr.training_step()
        if gpu: torch.cuda.synchronize(); peak = max(peak, torch.cuda.max_memory_allocated())
        times.append(time.time() - t0)
    import resource
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2 ** 30  # Linux reports KiB
    return {"N_f": nf, "K": k, "peak_gb": peak / 2 ** 30 if gpu else None, "cpu_peak_rss_gb": rss_gb,
            "step_s": times[-1], "first_step_s": times[0],
            "reward": res.reward, "skipped": res.skipped, "device": "cuda" if gpu else "cpu"}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=["full", "smoke"], default="full")
    p.add_argument("--steps", type=int, default=2, help="training steps per point (peak over all of them, time of the last)")
    p.add_argument("--points", default=None, help="e.g. '10:4,2:4' (default: Table 7's grid)")
    p.add_argument("--out", default=None, help="also write the rows as JSON (the memory_results of nbs/repro/table7_ablation)")
    p.add_argument("--point", default=None, help=argparse.SUPPRESS)  # one point, in a child process
    a = p.parse_args()
    if a.point:
        nf, k = map(int, a.point.split(":"))
        print("RESULT " + json.dumps(run_point(a.size, nf, k, a.steps)), flush=True)
        return 0
    grid = [tuple(map(int, x.split(":"))) for x in a.points.split(",")] if a.points else GRID
    if a.size == "smoke":  # the tiny preset has 9 frames and T=4 steps: the same grid, N_f capped at 9
        grid = [(min(nf, 9), min(k, 4)) for nf, k in grid]
    rows = []
    print(f"{'N_f':>4} {'K':>2} {'peak GB':>8} {'paper GB':>9} {'step s':>7}  note", flush=True)
    for nf, k in grid:
        r = subprocess.run([sys.executable, __file__, "--size", a.size, "--steps", str(a.steps), "--point", f"{nf}:{k}"],
                           capture_output=True, text=True)
        line = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
        if r.returncode or not line:
            err = (r.stderr.strip().splitlines() or ["?"])[-1]
            print(f"{nf:>4} {k:>2} {'-':>8} {PAPER_VRAM.get((nf, k), '-'):>9} {'-':>7}  failed: {err[:150]}", flush=True)
            continue
        d = json.loads(line[0][7:]); rows.append(d)
        peak = f"{d['peak_gb']:.1f}" if d["peak_gb"] is not None else "n/a"
        note = "" if d["device"] == "cuda" else f"CPU: process peak RSS {d['cpu_peak_rss_gb']:.2f} GB, models included"
        print(f"{nf:>4} {k:>2} {peak:>8} {PAPER_VRAM.get((nf, k), '-'):>9} {d['step_s']:>7.1f}  {note}", flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps(rows, indent=1))
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
