"""DRFTrainer with the scalar-reward baselines (VideoReward, PickScore) on the tiny preset: the DiT trains, the reward model
stays frozen; `drf-nb train --set reward.kind=...` runs them; a VideoReward folder without its head file is one clear error."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch

from drf_nb.config import load_config
from drf_nb.reward import RewardSample
from drf_nb.scalar_rewards import HEAD_FILE, PickScore, VideoReward, tiny_videoreward
from drf_nb.training import DRFTrainer, main


def cfg_for(out, kind, **training):
    return load_config("tiny", {"reward": {"kind": kind},
                                "training": {"report_to": "none", "output_dir": str(out), "checkpoint_every": 1000,
                                             "validate_every": 1000, "learning_rate": 1e-2, **training}})


def snapshot(module):
    return {n: p.detach().clone() for n, p in module.state_dict().items()}


def changed(before, module):
    after = module.state_dict()
    return {n for n, v in before.items() if not torch.equal(v, after[n])}


def test_videoalign_full_finetune_moves_the_dit_not_the_reward_model(tmp_path):
    tr = DRFTrainer(cfg_for(tmp_path, "videoalign", max_steps=2), samples=[RewardSample("a red ball on grass")], device="cpu")
    assert isinstance(tr.reward_fn, VideoReward)
    rm, dit = tr.reward_fn.model, tr.generator.transformer.inner
    before_rm, before_dit = snapshot(rm), snapshot(dit)
    res = tr.train(progress=False)
    assert [r.step for r in res] == [1, 2] and all(not r.skipped for r in res)
    assert all(torch.isfinite(torch.tensor(r.reward)) for r in res)
    assert set(res[0].per_dimension) == {"VQ", "MQ", "TA"}  # overall = VQ + MQ + TA, logged per dimension
    assert len(changed(before_dit, dit)) > 10
    assert not changed(before_rm, rm)
    assert not any(p.requires_grad for p in rm.parameters()) and not rm.training


def test_pickscore_lora_trains_only_the_adapter(tmp_path):
    tr = DRFTrainer(cfg_for(tmp_path, "pickscore", max_steps=2, finetune="lora"), samples=[RewardSample("a red ball")], device="cpu")
    assert isinstance(tr.reward_fn, PickScore)
    clip, dit = tr.reward_fn.model, tr.peft_model
    before_clip, before_dit = snapshot(clip), snapshot(dit)
    res = tr.train(progress=False)
    assert all(not r.skipped for r in res) and set(res[0].per_dimension) == {"PickScore"}
    diff = changed(before_dit, dit)
    assert diff and all("lora_" in n for n in diff), sorted(diff)[:5]
    assert not changed(before_clip, clip)
    assert not any(p.requires_grad for p in clip.parameters()) and not clip.training


def test_cli_trains_with_a_scalar_reward_and_names_a_missing_head_file(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--preset", "tiny", "--set", "reward.kind=pickscore", "--set", "training.single_prompt=a red ball",
            "--set", f"training.output_dir={out}", "--set", "training.report_to=none", "--max-steps", "1"]
    assert main(argv) == 0, capsys.readouterr().err
    assert "trained to step 1" in capsys.readouterr().out
    folder = tmp_path / "videoreward"
    tiny_videoreward().save_pretrained(folder)
    (folder / HEAD_FILE).unlink()
    argv = ["--preset", "tiny", "--set", "reward.kind=videoalign", "--set", f"reward.videoalign_model_id={folder}",
            "--set", "training.single_prompt=a red ball", "--set", f"training.output_dir={tmp_path / 'run2'}",
            "--set", "training.report_to=none", "--max-steps", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.startswith("drf-nb train:")]  # progress bars of the loads come before it
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"the head file {HEAD_FILE} is missing" in lines[0] and str(folder) in lines[0], lines
