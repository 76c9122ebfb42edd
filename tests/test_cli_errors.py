"""`drf-nb` as a user meets it: every mistake a user can make is one line on stderr with a documented exit code
(2: bad argument, config, file or input; 3: a model that is not here; 4: a device that is not here), never a traceback;
and a training run never silently loses or restarts work."""
import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
ENV.pop("DRF_NB_DEBUG", None)


def drf_nb(*args, cwd):
    "Run the console entry point the way a shell does; (exit code, stdout, stderr)."
    p = subprocess.run([sys.executable, "-m", "drf_nb.cli", *map(str, args)], cwd=cwd, env=ENV, capture_output=True,
                       text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def one_line(err: str) -> str:
    "The stderr of an expected failure: exactly one non-empty line, no traceback (progress bars aside)."
    lines = [l for l in err.splitlines() if l.strip() and "it/s]" not in l and "s/it]" not in l]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    return lines[0]


TINY_PROMPT = ["--set", "training.single_prompt=a red ball", "--set", "training.report_to=none"]


def test_missing_weights_name_every_model_and_the_hf_command(tmp_path):
    rc, _, err = drf_nb("train", "--preset", "paper", *TINY_PROMPT, cwd=tmp_path)
    line = one_line(err)
    assert rc == 3, err
    assert line.startswith("drf-nb train: could not load 'Wan-AI/Wan2.1-T2V-1.3B-Diffusers'"), line
    # the exact command of the pinned huggingface_hub, for every model the job needs, never cut mid-word
    assert "`hf download Wan-AI/Wan2.1-T2V-1.3B-Diffusers && hf download Qwen/Qwen2.5-VL-7B-Instruct`" in line, line
    assert "huggingface-cli" not in line and line.endswith("or use --preset tiny"), line


def test_every_command_defaults_to_the_paper_preset_and_says_so(tmp_path):
    rc, _, err = drf_nb("generate", "--prompt", "a cat", cwd=tmp_path)
    assert rc == 3 and "hf download Wan-AI/Wan2.1-T2V-1.3B-Diffusers`" in one_line(err), err
    from drf_nb.cli import build_parser
    subparsers = next(a for a in build_parser()._actions if a.dest == "command").choices
    for cmd in ("generate", "train", "annotate"):
        out = " ".join(subparsers[cmd].format_help().split())
        assert "default: paper" in out, (cmd, out)
        assert re.search(r"[Ee]xit (codes|status)", out) and re.search(r"2 =? ?bad argument", out), (cmd, out)


def test_bad_input_is_one_line_with_exit_code_2(tmp_path):
    rc, _, err = drf_nb("generate", "--preset", "tiny", "--prompt", "", cwd=tmp_path)
    assert rc == 2 and "drf-nb generate: --prompt is empty" in one_line(err), err
    bad = tmp_path / "run.yaml"
    bad.write_text("preset: tiny\ntraining:\n  learning_rate: [1e-5\n")
    rc, _, err = drf_nb("train", "--config", bad, cwd=tmp_path)
    line = one_line(err)
    assert rc == 2 and f"config file {str(bad)!r}: not valid YAML at line" in line, line
    # single-prompt training asked for Phy and VQ only, without a real reference video: nothing can be scored
    rc, _, err = drf_nb("train", "--preset", "tiny", *TINY_PROMPT, "--set", "reward.dimensions=[Phy, VQ]", cwd=tmp_path)
    line = one_line(err)
    assert rc == 2 and "training.single_prompt_reference" in line and "reward.dimensions=['Phy', 'VQ']" in line, line


def test_a_device_this_machine_lacks_is_exit_code_4(tmp_path):
    rc, _, err = drf_nb("generate", "--preset", "tiny", "--prompt", "a cat", "--device", "cuda:99", cwd=tmp_path)
    assert rc == 4 and "drf-nb generate: device 'cuda:99'" in one_line(err), err


def _losses(folder: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in map(json.loads, (folder / "train_log.jsonl").read_text().splitlines())]


def test_max_steps_saves_and_resume_continues_exactly(tmp_path):
    common = ["train", "--preset", "tiny", *TINY_PROMPT, "--set", "training.max_steps=4", "--set", "training.checkpoint_every=100"]
    # an explicit resume with nothing to resume fails, naming the folder it looked in
    rc, _, err = drf_nb(*common, "--set", "training.output_dir=split", "--resume", cwd=tmp_path)
    assert rc == 2 and "nothing to resume" in one_line(err) and str(Path("split") / "checkpoints") in err, err
    # stop at --max-steps: the final state is saved (checkpoint_every is far away) and the message says where
    rc, out, err = drf_nb(*common, "--set", "training.output_dir=split", "--max-steps", "2", cwd=tmp_path)
    assert rc == 0, err
    ck = tmp_path / "split" / "checkpoints" / "step_0000002"
    assert (ck / "trainer_state.json").exists() and f"saved step 2 to {Path('split') / 'checkpoints' / 'step_0000002'}" in out, out
    # starting again from step 0 over those checkpoints is refused unless asked for
    rc, _, err = drf_nb(*common, "--set", "training.output_dir=split", cwd=tmp_path)
    assert rc == 2 and "already holds checkpoints up to step_0000002" in one_line(err), err
    rc, _, err = drf_nb(*common, "--set", "training.output_dir=split", "--resume", cwd=tmp_path)
    assert rc == 0, err
    rc, _, err = drf_nb(*common, "--set", "training.output_dir=whole", cwd=tmp_path)
    assert rc == 0, err
    split, whole = _losses(tmp_path / "split"), _losses(tmp_path / "whole")
    assert [s for s, _ in split] == [1, 2, 3, 4] == [s for s, _ in whole], (split, whole)
    for (_, a), (_, b) in zip(split, whole): assert a == pytest.approx(b, rel=1e-6, abs=1e-6), (split, whole)
    # --overwrite is the deliberate fresh start: old checkpoints and log go, the new run starts at step 1
    rc, _, err = drf_nb(*common, "--set", "training.output_dir=split", "--overwrite", "--max-steps", "1", cwd=tmp_path)
    assert rc == 0, err
    assert [s for s, _ in _losses(tmp_path / "split")] == [1]
    assert sorted(p.name for p in (tmp_path / "split" / "checkpoints").iterdir()) == ["step_0000001"]
