"A real SIGKILL part-way through `python -m drf_nb.annotation`, then a rerun: the dataset equals an uninterrupted run's."
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}

def _video(path, frames=8, size=16):
    import av, numpy as np
    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=8); st.width = st.height = size; st.pix_fmt = "yuv420p"
        for t in range(frames):
            img = np.full((size, size, 3), (t * 30) % 255, dtype=np.uint8)
            for pkt in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")): c.mux(pkt)
        for pkt in st.encode(): c.mux(pkt)

@pytest.fixture
def source(tmp_path):
    _video(tmp_path / "v.mp4")
    caps = [f"A {c} ball rolls to the left on a wooden floor, the camera stays still, warm light." for c in
            ("red", "blue", "green", "white", "black", "pink", "orange", "grey", "brown", "golden", "silver", "purple")]
    rows = [dict(caption=c, video="v.mp4") for c in caps] + [dict(caption="", video="v.mp4"), dict(caption="A cat.", video="gone.mp4")]
    pd.DataFrame(rows).to_csv(tmp_path / "src.csv", index=False)
    return tmp_path / "src.csv"

def _cmd(src, out, delay):
    return [sys.executable, "-m", "drf_nb.annotation", "--preset", "tiny", "--backend", "scripted", "--input", str(src),
            "--output", str(out), "--shard-size", "2", "--limit", "14", "--delay", str(delay), "--no-progress"]

def _records(out):
    from drf_nb.annotation import load_annotations
    return load_annotations(out, keep_only=False).to_list()

def test_sigkill_then_resume(source, tmp_path):
    out = tmp_path / "killed"
    p = subprocess.Popen(_cmd(source, out, 0.15), env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while not list((out / "data").glob("train-*.parquet")):  # kill only after the first shard exists
        assert p.poll() is None, p.stdout.read().decode()[-2000:]
        assert time.time() < deadline, "no shard appeared"
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL
    partial = sorted(f.name for f in (out / "data").glob("train-*.parquet"))
    assert 1 <= len(partial) < 7, partial  # 14 rows / 2 per shard: killed part-way
    r = subprocess.run(_cmd(source, out, 0.0), env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f'"chunks_done_before": {len(partial)}' in r.stdout
    ref = tmp_path / "straight"
    r = subprocess.run(_cmd(source, ref, 0.0), env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = _records(out), _records(ref)
    assert len(a) == 14 and len({x["sample_id"] for x in a}) == 14
    for x in a + b: x["video_path"] = Path(x["video_path"]).name  # same source, resolved in two runs
    assert a == b
    assert sum(x["keep"] for x in a) == 12 and {x["drop_reason"] for x in a if not x["keep"]} == {"empty_caption", "missing_video"}

def test_cli_errors(source, tmp_path):
    r = subprocess.run([sys.executable, "-m", "drf_nb.annotation", "--preset", "tiny", "--backend", "scripted",
                        "--input", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "o")],
                       env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "not found" in r.stderr
    r = subprocess.run([sys.executable, "-m", "drf_nb.annotation", "--preset", "tiny", "--backend", "scripted", "--caption-column", "text",
                        "--input", str(source), "--output", str(tmp_path / "o")], env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no column 'text'" in r.stderr


def test_two_process_sharded_run_equals_one_process(source, tmp_path):
    # the same launcher path a cluster uses (accelerate launch); on CPU, --multi_gpu with no visible GPU gives 2 gloo ranks
    out2 = tmp_path / "two"
    env = {**ENV, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--num_machines", "1", "--multi_gpu",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29733", "-m",
           *_cmd(source, out2, 0.0)[2:]]
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    one = tmp_path / "one"
    r = subprocess.run(_cmd(source, one, 0.0), env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = _records(out2), _records(one)
    key = lambda rec: rec["sample_id"]
    assert len(a) == len(b) == 14 and len({key(x) for x in a}) == 14  # every record once, none duplicated
    assert sorted(a, key=key) == sorted(b, key=key)
