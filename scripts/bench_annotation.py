#!/usr/bin/env python
"""Annotation throughput (samples/s) on the tiny stack for several batch sizes, per stage and overall, as ratios against bs=1.

What is measured, and why this way. The pipeline (drf_nb.annotation.annotate_rows) runs two model stages per chunk:
  1. LLM: the tiny Qwen2 instruct LM decomposes each caption (TransformersLLM, left-padded batches of `bs` prompts);
  2. answers: the tiny Qwen2.5-VL critic answers every question of each sample (CriticAnswerer -> Critic.generate:
     one vision encoding per group, then `bs` questions per batched greedy model.generate call; a sample has two
     groups, its TA questions on the real video and Phy+VQ with the reference frames).
Running the tiny LLM end to end measures nothing useful: its random weights emit gibberish that does not parse, so
the samples are dropped before the critic answers, and greedy lengths depend on where EOS happens to fall. So the
stages are timed separately on the same samples:
  * LLM stage: the real Fig. 13 decomposition prompts, with min_new_tokens == max_new_tokens so every row decodes
    exactly the same number of tokens at every batch size;
  * answer stage: the questions built from the ScriptedLLM's (parseable) decomposition of the same captions, answered
    by the tiny critic on frames decoded from a real mp4, again with a fixed answer length; on --answer-samples (4)
    samples, since every sample asks the same number of questions and the critic batches within a sample only (its
    questions share one video; questions of different samples see different videos), so more samples add time,
    not information. The critic's batch is therefore at most a group (6-8 TA questions, 2 Phy+VQ): bs=16 answers
    the same way as bs=8;
  * total = 1 / (1 / LLM samples/s + 1 / answer samples/s): the stages run one after the other in annotate_rows (video decoding
    and Parquet writing are left out: they do not depend on the batch size).
Each stage also runs with 1 new token (prefill only), which splits its time into prefill and decoding steps.
Each measurement is the best of --repeats runs (the machine is shared; the minimum is the least disturbed run).
The per-call columns (ms per decoding step) show where batching helps: if a step's cost grows about linearly with
the batch, the tiny models are compute-bound per row on the CPU and batching cannot win there; at real size on a
GPU a step is dominated by reading the weights, which a batch shares."""
import argparse
from dataclasses import replace
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

CAPTIONS = [f"A {c} ball rolls to the left on a wooden floor, the camera stays still, warm light from a window." for c in
            ("red", "blue", "green", "white", "black", "pink", "orange", "grey")]

def _best(fn, repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return min(ts)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--samples", type=int, default=16, help="samples in the LLM stage (16: bs=16 is one full batch)")
    p.add_argument("--answer-samples", type=int, default=4, help="samples in the answer stage (the critic batches within a sample)")
    p.add_argument("--llm-tokens", type=int, default=32, help="new tokens per decomposition (fixed)")
    p.add_argument("--answer-tokens", type=int, default=32, help="new tokens per reference answer (fixed)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)

    import av, numpy as np, torch
    from drf_nb.annotation import (CriticAnswerer, ScriptedLLM, TransformersLLM, answer_queries, build_queries,
                                   parse_decomposition)
    from drf_nb.critic import load_critic
    from drf_nb.config import tiny_config
    from drf_nb.frames import read_video
    from drf_nb.prompts import DECOMPOSITION
    torch.set_num_threads(os.cpu_count() or 1)
    cfg = tiny_config()
    tmp = Path(tempfile.mkdtemp())
    with av.open(str(tmp / "v.mp4"), "w") as c:  # one small real mp4, shared by every sample
        st = c.add_stream("libx264", rate=8); st.width = st.height = 32; st.pix_fmt = "yuv420p"
        for t in range(12):
            for pkt in st.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), t * 20, np.uint8), format="rgb24")): c.mux(pkt)
        for pkt in st.encode(): c.mux(pkt)
    video = read_video(str(tmp / "v.mp4"), num_frames=cfg.reward.num_frames)
    ref = read_video(str(tmp / "v.mp4"), num_frames=cfg.reward.num_reference_frames)
    caps = [CAPTIONS[i % len(CAPTIONS)] for i in range(args.samples)]
    prompts = [DECOMPOSITION.render(video_caption=c) for c in caps]
    queries = [build_queries(parse_decomposition(t), c, cfg.reward.num_frames, cfg.reward.num_reference_frames)
               for c, t in zip(caps, ScriptedLLM().generate(prompts))]
    groups = [sum(q["dimension"] == "TA" for q in qs) for qs in queries]

    llm = TransformersLLM("tiny", dtype="float32", device="cpu", min_new_tokens=args.llm_tokens)
    critic = load_critic(replace(cfg.critic, dtype="float32"))  # float32: the CPU's fast path
    ans = CriticAnswerer(critic, fps=float(cfg.generator.fps), max_new_tokens=2, min_new_tokens=2)
    llm.batch_size = ans.batch_size = 1  # warm up both paths once
    llm.generate(prompts[:1], 2); answer_queries(ans, queries[0], video, ref)

    def set_tokens(n):  # fixed-length rows: min == max new tokens
        ans.max_new_tokens = ans.min_new_tokens = n
    n_q = sum(map(len, queries))
    n_ans = min(args.answer_samples, args.samples); n_q_ans = sum(map(len, queries[:n_ans]))
    llm_len = np.mean([len(llm.tokenizer(llm.tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                        add_generation_prompt=True), add_special_tokens=False).input_ids) for q in prompts[:4]])
    vis = critic.visual_inputs(video, float(cfg.generator.fps))
    q_len = np.mean([len(critic._ids(critic.expand_prompt(critic.prompt_text(q["question"]), vis))) for q in queries[0]])

    rows = []
    for bs in args.batch_sizes:
        llm.batch_size = ans.batch_size = bs
        r = dict(bs=bs)
        # each stage twice: with 1 new token (prefill only) and with the full fixed length; the difference is decoding
        for name, run, T in (("llm", lambda n: llm.generate(prompts, n), args.llm_tokens),
                             ("ans", lambda n: (set_tokens(n), [answer_queries(ans, qs, video, ref) for qs in queries[:n_ans]]),
                              args.answer_tokens)):
            llm.min_new_tokens = T
            t_full = _best(lambda: run(T), args.repeats)
            llm.min_new_tokens = 1
            t_pre = _best(lambda: run(1), args.repeats)
            # model.generate calls: LLM batches; critic: per sample per group (TA, then Phy+VQ), ceil(group / bs) each
            calls = (-(-len(prompts) // bs) if name == "llm" else
                     sum(-(-g // bs) + -(-(len(qs) - g) // bs) for g, qs in zip(groups[:n_ans], queries[:n_ans])))
            n_rows = len(prompts) if name == "llm" else n_q_ans
            r.update({name: (args.samples if name == "llm" else n_ans) / t_full, f"{name}_t": t_full, f"{name}_pre": 1e3 * t_pre / n_rows,
                      f"{name}_step": 1e3 * (t_full - t_pre) / (T - 1) / calls, f"{name}_rows": n_rows / calls})
        r["total"] = 1 / (1 / r["llm"] + 1 / r["ans"])  # per sample, the two stages one after the other
        rows.append(r)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"tiny stack: LLM stage {args.samples} samples, answer stage {n_ans} samples, {n_q} questions ({n_q / args.samples:.1f}/sample: TA group "
          f"{min(groups)}-{max(groups)}, Phy+VQ group 2), {torch.get_num_threads()} CPU threads, load average {load:.2f}, "
          f"best of {args.repeats}")
    print(f"LLM: {args.llm_tokens} new tokens/row, prompt ~{llm_len:.0f} tokens; critic: {args.answer_tokens} new tokens/answer, "
          f"prompt ~{q_len:.0f} tokens (video included)")
    b = rows[0]
    print(f"{'':>5} | {'LLM stage':^37} | {'answer stage (critic)':^42} | {'total':^16}")
    print(f"{'batch':>5} | {'smp/s':>6} {'vs 1':>6} {'pre ms/row':>10} {'dec ms/step':>11} | {'smp/s':>6} {'vs 1':>6} "
          f"{'rows/call':>9} {'pre ms/row':>10} {'dec ms/step':>11} | {'smp/s':>6} {'vs 1':>6}")
    for r in rows:
        print(f"{r['bs']:>5} | {r['llm']:>6.2f} {r['llm'] / b['llm']:>5.2f}x {r['llm_pre']:>10.1f} {r['llm_step']:>11.2f} | "
              f"{r['ans']:>6.2f} {r['ans'] / b['ans']:>5.2f}x {r['ans_rows']:>9.2f} {r['ans_pre']:>10.1f} {r['ans_step']:>11.2f} | "
              f"{r['total']:>6.2f} {r['total'] / b['total']:>5.2f}x")
    # why the LLM prefill does not batch on the tiny stack: one forward over the prompts, padded (the real captions differ
    # in length by a few bytes) or not (the same caption repeated): a padded batch makes SDPA take an explicit
    # (B, 1, L, L) mask instead of its is_causal path; with L ~ 3,900 byte-level tokens that mask is large
    enc = lambda ps: llm.tokenizer([llm.tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                    add_generation_prompt=True) for q in ps], return_tensors="pt", padding=True, add_special_tokens=False)
    def fwd(e):
        with torch.inference_mode(): llm.model(**e, use_cache=False, logits_to_keep=1)
    print(f"LLM prefill forward, ms/row ({llm.model.config._attn_implementation} attention), best of {args.repeats}:")
    for bs in args.batch_sizes:
        same, mixed = enc([prompts[0]] * bs), enc(prompts[:bs])
        print(f"  bs={bs:>2}: same-length rows {1e3 * _best(lambda: fwd(same), args.repeats) / bs:7.1f}   padded rows "
              f"{1e3 * _best(lambda: fwd(mixed), args.repeats) / bs:7.1f}")
    print("pre ms/row: prefill time per row (1-token run / rows); dec ms/step: one decoding step of one model.generate call,\n"
          "for all its rows together ((full - 1-token time) / (T - 1) / calls). Batching pays where dec ms/step grows slower than rows/call.")

if __name__ == "__main__":
    main()
