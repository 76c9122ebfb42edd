#!/usr/bin/env python
"""Annotation throughput (samples/s) on the tiny stack (tiny Qwen2 LLM + tiny Qwen2.5-VL critic) for several LLM batch sizes.

Prints one row per batch size with the ratio against batch size 1. The LLM decomposition is batched (left padding);
the critic answers per sample, so the ratio shows how much of the pipeline batching can speed up."""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--samples", type=int, default=16, help="samples per measurement")
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--answerer", choices=["critic", "scripted"], default="critic")
    args = p.parse_args(argv)

    import av, numpy as np, pandas as pd, torch
    from drf_nb.annotation import annotate, make_answerer, make_llm
    from drf_nb.config import tiny_config
    torch.set_num_threads(os.cpu_count() or 1)
    tmp = Path(tempfile.mkdtemp())
    with av.open(str(tmp / "v.mp4"), "w") as c:  # one small real mp4, shared by every row
        st = c.add_stream("libx264", rate=8); st.width = st.height = 32; st.pix_fmt = "yuv420p"
        for t in range(12):
            for pkt in st.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), t * 20, np.uint8), format="rgb24")): c.mux(pkt)
        for pkt in st.encode(): c.mux(pkt)
    caps = [f"A {c} ball rolls to the left on a wooden floor, the camera stays still, warm light from a window." for c in
            ("red", "blue", "green", "white", "black", "pink", "orange", "grey")]
    pd.DataFrame([dict(caption=caps[i % len(caps)], video="v.mp4") for i in range(args.samples)]).to_csv(tmp / "src.csv", index=False)

    cfg = tiny_config()
    cfg.annotation.llm_backend = "transformers"; cfg.annotation.max_new_tokens = args.max_new_tokens
    llm, answerer = make_llm(cfg), make_answerer(cfg, args.answerer)
    llm.generate(["warm up"], 2)
    rows = []
    for bs in args.batch_sizes:
        cfg.annotation.batch_size = llm.batch_size = bs
        cfg.annotation.shard_size = max(bs, 1)  # one LLM batch per chunk
        out = tmp / f"out-{bs}"
        t0 = time.perf_counter()
        s = annotate(cfg, tmp / "src.csv", out, llm=llm, answerer=answerer, limit=args.samples, progress=False)
        rows.append((bs, s.samples_processed / (time.perf_counter() - t0)))
    print(f"tiny stack, {args.samples} samples, max_new_tokens={args.max_new_tokens}, answerer={args.answerer}, "
          f"{torch.get_num_threads()} CPU threads")
    print(f"{'batch':>5} {'samples/s':>10} {'vs bs=1':>8}")
    for bs, r in rows: print(f"{bs:>5} {r:>10.2f} {r / rows[0][1]:>7.2f}x")

if __name__ == "__main__":
    main()
