"""Benchmark the shared-vision batched critic against the naive per-query loop.

For one video and N queries (N = 1, 4, 8, 12 by default) it times `score` + backward and measures
peak memory (CUDA: torch.cuda.max_memory_allocated; CPU: peak process RSS sampled by a thread, minus
the RSS before the call, in a fresh process per cell) of three ways to score:
  batched  `Critic.score`: one vision encoding per distinct visual input, one batched LM forward
  grouped  the same with `lm_batch_per_visual=True`: one LM batch per distinct visual input (less padding)
  naive    `Critic.score_naive`: one full forward per query

  --size tiny   the tiny random Qwen2.5-VL stack on CPU (seconds)
  --size 7b     the real Qwen2.5-VL-7B architecture with random weights (explicit config, bf16),
                10 generated + 10 reference frames at 512x288, for a GPU

Query mix: one third of the queries (at least one when N >= 2) show generated + reference frames
(Phy/VQ), the rest only the generated frames (TA). Answers are ~40-word explanations. The tokenizer
is the tiny byte-level one (no merges), so texts cost ~4x more tokens than with Qwen's real BPE.
A benchmark, not a test.
"""
from __future__ import annotations

import argparse
import gc
import os
import threading
import time
from dataclasses import replace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch


def qwen7b_critic(device, dtype, max_layers=None):
    "A Qwen2.5-VL-7B-sized critic with random weights (DESIGN.md's explicit config) and the tiny tokenizer."
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor
    from drf_nb.config import CriticConfig
    from drf_nb.critic import QwenVLCritic
    from drf_nb.tiny import QWEN_VL_CHAT_TEMPLATE, tiny_qwen_tokenizer
    tok = tiny_qwen_tokenizer()
    tid = tok.convert_tokens_to_ids
    text = dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                num_key_value_heads=4, max_position_embeddings=128000, rms_norm_eps=1e-6,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
                bos_token_id=tid("<|endoftext|>"), eos_token_id=tid("<|im_end|>"), pad_token_id=tid("<|endoftext|>"))
    vision = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, tokens_per_second=2, window_size=112, fullatt_block_indexes=[7, 15, 23, 31])
    if max_layers:  # a shortened stack, only to smoke-test this code path without a GPU
        text["num_hidden_layers"] = min(text["num_hidden_layers"], max_layers)
        vision["depth"] = min(vision["depth"], max_layers)
        vision["fullatt_block_indexes"] = [i for i in vision["fullatt_block_indexes"] if i < vision["depth"]] or [vision["depth"] - 1]
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=tid("<|image_pad|>"), video_token_id=tid("<|video_pad|>"),
                              vision_start_token_id=tid("<|vision_start|>"), vision_end_token_id=tid("<|vision_end|>"), tie_word_embeddings=False)
    cfg = CriticConfig(dtype="bfloat16", gradient_checkpointing=True, attn_implementation="sdpa")
    config._attn_implementation = cfg.attn_implementation
    with torch.device(device):
        torch.set_default_dtype(dtype)
        model = Qwen2_5_VLForConditionalGeneration(config).eval()
        torch.set_default_dtype(torch.float32)
    size = {"shortest_edge": cfg.min_pixels, "longest_edge": cfg.max_pixels}
    proc = Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(size=size), tokenizer=tok,
                               video_processor=Qwen2VLVideoProcessor(size=size), chat_template=QWEN_VL_CHAT_TEMPLATE)
    return QwenVLCritic(model, proc, cfg), (10, 288, 512)


def tiny_critic():
    from drf_nb.config import tiny_config
    from drf_nb.critic import load_critic
    return load_critic(replace(tiny_config().critic, dtype="float32")), (10, 56, 56)


def make_queries(n):
    from drf_nb.critic import CriticQuery
    answer = ("Yes. The video shows a red ball rolling from the left of a wooden table to the right edge, where it "
              "stops; the lighting is warm and steady, the camera is static, and no text appears in any frame.")
    n_ref = 0 if n == 1 else max(1, n // 3)
    return [CriticQuery(f"Question {i}: does the video satisfy requirement {i} of the prompt 'a red ball rolls on a wooden table'? "
                        "Answer yes or no, then explain briefly.", answer, use_reference=i >= n - n_ref) for i in range(n)]


class PeakRSS:
    "Peak resident memory of this process above its level at entry, sampled every 2 ms."
    def __enter__(self):
        import psutil
        self.proc, self.stop, self.peak = psutil.Process(), False, 0
        self.base = self.proc.memory_info().rss
        self.thread = threading.Thread(target=self._run, daemon=True); self.thread.start()
        return self
    def _run(self):
        while not self.stop:
            self.peak = max(self.peak, self.proc.memory_info().rss); time.sleep(0.002)
    def __exit__(self, *exc):
        self.stop = True; self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)
        self.used = self.peak - self.base


def _run_once(fn, video, queries, reference):
    v = video.detach().clone().requires_grad_(True)
    fn(v, queries, reference=reference).logprob_sums.sum().backward()


def measure(critic, which, video, queries, reference, device, repeats):
    "(best time over `repeats`, peak memory of the first run) of `critic.<which>` + backward."
    critic.lm_batch_per_visual = which == "score_grouped"  # one LM batch per distinct visual input
    fn = critic.score_naive if which == "score_naive" else critic.score
    times, mem = [], None
    for r in range(repeats):
        gc.collect()
        if device.type == "cuda":
            torch.cuda.synchronize(); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            t0 = time.perf_counter(); _run_once(fn, video, queries, reference); torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
            mem = torch.cuda.max_memory_allocated() - base if mem is None else min(mem, torch.cuda.max_memory_allocated() - base)
        elif r == 0:  # a fresh process: the first run's RSS growth is its peak working set (later runs reuse freed pages)
            with PeakRSS() as m:
                t0 = time.perf_counter(); _run_once(fn, video, queries, reference); times.append(time.perf_counter() - t0)
            mem = m.used
        else:
            t0 = time.perf_counter(); _run_once(fn, video, queries, reference); times.append(time.perf_counter() - t0)
    return min(times), mem


def setup(size, device, max_layers=None):
    torch.manual_seed(0)
    critic, (T, H, W) = qwen7b_critic(device, torch.bfloat16, max_layers) if size == "7b" else tiny_critic()
    critic.to(device)
    video = (torch.rand(T, 3, H, W) * 2 - 1).to(device)
    reference = (torch.rand(T, 3, H, W) * 2 - 1).to(device)
    return critic, video, reference


def _child(size, n, which, repeats, max_layers=None):
    "One CPU measurement in a fresh process, so that memory freed by an earlier run cannot hide this one's peak."
    critic, video, reference = setup(size, torch.device("cpu"), max_layers)
    return measure(critic, which, video, make_queries(n), reference, torch.device("cpu"), repeats)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["tiny", "7b"], default="tiny", help="critic size (default: tiny, CPU)")
    ap.add_argument("--queries", type=int, nargs="+", default=[1, 4, 8, 12], help="numbers of queries N")
    ap.add_argument("--device", default=None, help="default: cuda if available for 7b, else cpu")
    ap.add_argument("--repeats", type=int, default=3, help="runs per setting; the best time is reported")
    ap.add_argument("--max-layers", type=int, default=None,
                    help="7b only: cut text layers and vision depth to this many (a CPU smoke test of the 7b path, not a benchmark)")
    args = ap.parse_args(argv)
    device = torch.device(args.device or ("cuda" if args.size == "7b" and torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        critic, video, reference = setup(args.size, device, args.max_layers)
        run = lambda n, which: measure(critic, which, video, make_queries(n), reference, device, args.repeats)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        def run(n, which):
            with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
                return pool.submit(_child, args.size, n, which, args.repeats, args.max_layers).result()
    T, H, W = (10, 288, 512) if args.size == "7b" else (10, 56, 56)
    unit = "GPU peak alloc" if device.type == "cuda" else "CPU peak RSS growth, fresh process per cell"
    print(f"critic={args.size} device={device} frames={T} generated + {T} reference at {W}x{H}")
    print(f"time = best of {args.repeats} (score + backward), s; memory = {unit}, MiB; ratio = batched / naive")
    print("batched: one vision encoding per visual input + one LM batch; grouped: + one LM batch per visual input; naive: per query")
    print(f"{'N':>3} {'batched s':>10} {'grouped s':>10} {'naive s':>9} {'b/n time':>8} {'g/n time':>8} "
          f"{'batched MiB':>12} {'grouped MiB':>12} {'naive MiB':>10} {'b/n mem':>7} {'g/n mem':>7}")
    mib = 2 ** 20
    for n in args.queries:
        (tb, mb), (tg, mg), (tn, mn) = (run(n, w) for w in ("score", "score_grouped", "score_naive"))
        print(f"{n:>3} {tb:>10.3f} {tg:>10.3f} {tn:>9.3f} {tb / tn:>8.2f} {tg / tn:>8.2f} "
              f"{mb / mib:>12.1f} {mg / mib:>12.1f} {mn / mib:>10.1f} {mb / max(mn, 1):>7.2f} {mg / max(mn, 1):>7.2f}", flush=True)


if __name__ == "__main__":
    main()
