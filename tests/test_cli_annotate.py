"""`drf-nb annotate` as a user runs it: exit 1 with the drop reasons when nothing is kept, 0 when records are kept,
2 with one line for an input it cannot use; never a traceback."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
       "PYTHONPATH": str(ROOT)}
EXE = Path(sys.executable).parent / "drf-nb"
CMD = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "drf_nb.cli"]


def annotate(src, out, *extra):
    cmd = [*CMD, "annotate", "--preset", "tiny", "--backend", "scripted", "--no-progress", "--input", str(src), "--output", str(out),
           *map(str, extra)]
    return subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=300)


def write_video(path, frames=8, size=32):
    import av, numpy as np
    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=8); st.width = st.height = size; st.pix_fmt = "yuv420p"
        for t in range(frames):
            img = np.full((size, size, 3), (t * 30) % 255, dtype=np.uint8)
            for pkt in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")): c.mux(pkt)
        for pkt in st.encode(): c.mux(pkt)
    return str(path)


@pytest.fixture
def captioned(tmp_path):
    "Two (caption, video) pairs: VideoAlign's real captioned videos when shared/data is here, else synthetic clips."
    from drf_nb.frames import find_shared_data
    shared = find_shared_data(ROOT)
    if shared is not None and (shared / "videoalign" / "example.csv").exists():
        ex = pd.read_csv(shared / "videoalign" / "example.csv")
        return [(c, str(shared / "videoalign" / p)) for c, p in zip(ex.prompt[:2], ex.path_A[:2])]
    return [("A red ball rolls to the left on a wooden floor, the camera stays still.", write_video(tmp_path / "a.mp4")),
            ("A small dog runs on a sandy beach at sunset, the camera pans right.", write_video(tmp_path / "b.mp4"))]


def test_nothing_kept_exits_1_with_the_reasons(tmp_path):
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video" * 8)
    video = write_video(tmp_path / "clip.mp4")
    rows = [dict(caption="???", video=video), dict(caption="2024", video=video),  # junk captions: nothing for the LLM to state
            dict(caption="A cat sleeps on a sofa.", video=str(tmp_path / "gone.mp4")),
            dict(caption="A cat sleeps on a sofa.", video=str(tmp_path / "also-gone.mp4")),
            dict(caption="A cat sleeps on a sofa.", video=str(tmp_path / "corrupt.mp4")), dict(caption="  ", video=video)]
    pd.DataFrame(rows).to_csv(tmp_path / "src.csv", index=False)
    r = annotate(tmp_path / "src.csv", tmp_path / "out")
    assert r.returncode == 1, (r.returncode, r.stderr[-3000:])
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("drf-nb annotate: kept 0 of 6 records"), lines
    counts = sorted(line.split(":")[0].strip() for line in lines[1:])
    assert counts == ["1 corrupt_video", "1 empty_caption", "2 missing_video", "2 unparsed_decomposition"], lines
    assert "[2 no usable facet value]" in r.stderr
    summary = json.loads(r.stdout)
    assert (summary["total"], summary["kept"], summary["parse_errors"]) == (6, 0, {"no usable facet value": 2})


def test_records_kept_exits_0_with_a_one_line_summary(tmp_path, captioned):
    rows = [dict(caption=c, video=v) for c, v in captioned] + [dict(caption="A cat sleeps on a sofa.", video=str(tmp_path / "gone.mp4"))]
    pd.DataFrame(rows).to_csv(tmp_path / "src.csv", index=False)
    r = annotate(tmp_path / "src.csv", tmp_path / "out")
    assert r.returncode == 0, (r.returncode, r.stderr[-3000:])
    assert "Traceback" not in r.stderr
    assert r.stderr.strip() == "drf-nb annotate: kept 2 of 3 records; dropped 1: 1 missing_video", r.stderr
    assert json.loads(r.stdout)["kept"] == 2
    from drf_nb.annotation import load_annotations
    kept = load_annotations(tmp_path / "out")
    assert kept["caption"] == [c for c, _ in captioned]


def test_an_unusable_input_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "ragged.csv").write_text("caption,video\nA cat sleeps.,b.mp4\nA dog runs.,a.mp4,extra,fields\n")
    r = annotate(tmp_path / "ragged.csv", tmp_path / "out")
    assert r.returncode == 2, (r.returncode, r.stderr[-3000:])
    assert r.stderr.count("\n") == 1 and "ragged.csv: cannot read it as CSV" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()  # refused before any work
