"""The whole method on the tiny preset: captioned videos -> annotation dataset -> Diffusion-DRF training on it.

The tiny LLM and VLM write gibberish, so the annotation uses the scripted backends (realistic answers); the
training reads the dataset the way a real run does (queries from the records, reference frames from the videos)."""
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"


def write_video(path: Path, frames: int, size=(48, 64), seed=0):
    import av
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=8); st.height, st.width = size; st.pix_fmt = "yuv420p"
        for t in range(frames):
            img = np.clip(rng.normal(128, 40, (*size, 3)) + 8 * t, 0, 255).astype(np.uint8)
            for pkt in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")): c.mux(pkt)
        for pkt in st.encode(): c.mux(pkt)


def test_annotate_then_train_on_the_dataset(tmp_path):
    from drf_nb.annotation import annotate, load_annotations
    from drf_nb.config import load_config
    from drf_nb.training import DRFTrainer
    for i in range(3): write_video(tmp_path / f"v{i}.mp4", frames=12, seed=i)
    write_video(tmp_path / "short.mp4", frames=2, seed=9)
    captions = ["A red ball rolls to the left on a wooden floor, the camera stays still, warm light from a window.",
                "Two white ducks swim across a calm lake at sunset, the camera pans slowly to the right.",
                "A chef in a white apron slices green vegetables on a wooden board in a bright kitchen.",
                "A dog runs on a beach."]
    pd.DataFrame({"caption": captions, "video": ["v0.mp4", "v1.mp4", "v2.mp4", "short.mp4"]}).to_csv(tmp_path / "src.csv", index=False)
    cfg = load_config("tiny", {"annotation": {"llm_backend": "scripted"},
                               "training": {"report_to": "none", "output_dir": str(tmp_path / "run"), "max_steps": 2,
                                            "checkpoint_every": 2, "dataset_path": str(tmp_path / "ann")}})
    summary = annotate(cfg, tmp_path / "src.csv", tmp_path / "ann", answerer_kind="scripted", progress=False)
    assert summary.total == 4 and summary.drop_reasons.get("short_video") == 1, summary
    ds = load_annotations(tmp_path / "ann")
    assert len(ds) == summary.kept >= 1
    dims = {q["dimension"] for q in ds[0]["queries"]}
    assert dims == {"TA", "Phy", "VQ"}, dims

    tr = DRFTrainer(cfg, device="cpu")  # samples come from training.dataset_path
    sample = tr.samples[0]
    assert sample.reference_video is not None and tuple(sample.reference_video.shape) == (4, 3, 32, 32)
    assert {q.dimension for q in sample.queries} == {"TA", "Phy", "VQ"}
    before = {n: p.detach().clone() for n, p in tr.generator.transformer.named_parameters()}
    hist = tr.train(progress=False)
    assert len(hist) == 2 and all(np.isfinite(h.reward) and not h.skipped for h in hist), hist
    assert set(hist[-1].per_dimension) >= {"TA", "Phy", "VQ"}
    moved = any(not torch_equal(p, before[n]) for n, p in tr.generator.transformer.named_parameters())
    assert moved, "the DiT did not change"
    assert (tmp_path / "run" / "checkpoints").is_dir()


def torch_equal(a, b):
    import torch
    return torch.equal(a.detach(), b)
