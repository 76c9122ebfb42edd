"""The baselines of drf_nb.alignment as a user runs them: `drf-nb train --set training.method=...` trains, saves, and a
`--resume` continues the per-step losses of an uninterrupted run exactly; `drf-nb generate --nrg-model` writes a
reward-guided video, and a wrong objective name is one line with exit code 2."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
ENV.pop("DRF_NB_DEBUG", None)


def drf_nb(*args, cwd):
    p = subprocess.run([sys.executable, "-m", "drf_nb.cli", *map(str, args)], cwd=cwd, env=ENV, capture_output=True,
                       text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def _log(folder: Path) -> list[dict]:
    return [json.loads(l) for l in (folder / "train_log.jsonl").read_text().splitlines() if l.strip()]


@pytest.mark.parametrize("method", ["flow_grpo", "flow_dpo", "flow_rwr"])
def test_train_saves_and_resume_continues_exactly(tmp_path, method):
    common = ["train", "--preset", "tiny", "--set", "training.single_prompt=a red ball", "--set", "training.report_to=none",
              "--set", f"training.method={method}", "--set", "training.finetune=lora", "--set", "training.max_steps=2",
              "--set", "training.checkpoint_every=100"]
    rc, out, err = drf_nb(*common, "--set", "training.output_dir=split", "--max-steps", "1", cwd=tmp_path)
    assert rc == 0, err
    assert (tmp_path / "split" / "checkpoints" / "step_0000001" / "trainer_state.json").exists(), out
    state = json.loads((tmp_path / "split" / "checkpoints" / "step_0000001" / "trainer_state.json").read_text())
    assert state["config"]["training"]["method"] == method
    rc, out, err = drf_nb(*common, "--set", "training.output_dir=split", "--resume", cwd=tmp_path)
    assert rc == 0, err
    rc, out, err = drf_nb(*common, "--set", "training.output_dir=whole", cwd=tmp_path)
    assert rc == 0, err
    assert "saved step 2 to" in out, out
    split, whole = _log(tmp_path / "split"), _log(tmp_path / "whole")
    assert [r["step"] for r in split] == [1, 2] == [r["step"] for r in whole], (split, whole)
    for a, b in zip(split, whole):
        assert not a["skipped"] and a["loss"] == pytest.approx(b["loss"], rel=1e-6, abs=1e-6), (split, whole)
        assert a["reward"] == pytest.approx(b["reward"], rel=1e-6, abs=1e-6), (split, whole)
    if method == "flow_dpo":  # LoRA starts as the reference (B = 0): the first Flow-DPO loss is log 2
        assert whole[0]["loss"] == pytest.approx(0.693147, abs=1e-5), whole


def test_generate_with_reward_guidance(tmp_path):
    from drf_nb.alignment import LatentRewardModel
    from drf_nb.config import load_config
    from drf_nb.sampling import load_generator
    gen = load_generator(load_config("tiny").generator)
    LatentRewardModel.from_generator(gen, 1, ["TA", "VQ"]).save(tmp_path / "nrg")
    rc, out, err = drf_nb("generate", "--preset", "tiny", "--prompt", "a red ball", "--out", "videos", "--format", "gif",
                          "--nrg-model", "nrg", "--nrg-weight", "TA=2", "--nrg-weight", "VQ=0.5", cwd=tmp_path)
    assert rc == 0, err
    files = list((tmp_path / "videos").glob("*-nrg.gif"))
    assert len(files) == 1 and files[0].stat().st_size > 0, out
    rc, _, err = drf_nb("generate", "--preset", "tiny", "--prompt", "a red ball", "--nrg-model", "nrg", "--nrg-weight", "MQ=1",
                        cwd=tmp_path)
    lines = [l for l in err.splitlines() if l.strip() and "it/s" not in l and "s/it" not in l]
    assert rc == 2 and "Traceback" not in err and len(lines) == 1, err
    assert "reward guidance weight 'MQ'" in lines[0] and "TA, VQ" in lines[0], lines
    rc, _, err = drf_nb("generate", "--preset", "tiny", "--prompt", "a red ball", "--nrg-weight", "TA=1", cwd=tmp_path)
    assert rc == 2 and "--nrg-weight needs --nrg-model" in err, err
