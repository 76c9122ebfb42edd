"""DRFTrainer on the tiny preset (CPU): what trains and what stays frozen, exact resume, the non-finite guard, config errors."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import pytest
import torch

from drf_nb.config import ConfigError, load_config
from drf_nb.reward import RewardOutput, RewardSample
from drf_nb.reward import single_prompt_samples
from drf_nb.training import DRFTrainer, main


def brightness(frames, batch):
    r = frames.float().mean(dim=(1, 2, 3, 4)) * 10
    return RewardOutput(r, {"TA": r.detach()}, [[] for _ in batch])


def cfg_for(out, **training):
    return load_config("tiny", {"training": {"report_to": "none", "output_dir": str(out), "checkpoint_every": 1000,
                                             "validate_every": 1000, "learning_rate": 1e-2, **training}})


def snapshot(module):
    return {n: p.detach().clone() for n, p in module.state_dict().items()}


def changed(before, module):
    after = module.state_dict()
    return {n for n, v in before.items() if not torch.equal(v, after[n])}


def test_lora_trains_only_the_adapter(tmp_path):
    tr = DRFTrainer(cfg_for(tmp_path, finetune="lora", max_steps=2), reward_fn=brightness, samples=[RewardSample("a cat")], device="cpu")
    dit = tr.peft_model
    before, vae = snapshot(dit), snapshot(tr.generator.vae)
    tr.train(progress=False)
    diff = changed(before, dit)
    assert diff and all("lora_" in n for n in diff), sorted(diff)[:5]
    assert any("lora_A" in n for n in diff) and any("lora_B" in n for n in diff)
    assert not changed(vae, tr.generator.vae)
    assert all(p.requires_grad == ("lora_" in n) for n, p in dit.named_parameters())
    ck = tr.latest_checkpoint()
    assert (ck / "lora_adapter" / "adapter_config.json").exists()
    assert not (ck / "model.safetensors").exists()  # the frozen base is not re-saved


def test_full_finetune_with_diffusion_drf_keeps_vae_text_encoder_and_critic_frozen(tmp_path):
    cfg = cfg_for(tmp_path, max_steps=1, single_prompt="a red apple in a pink bowl")
    tr = DRFTrainer(cfg, device="cpu")
    critic = tr.reward_fn.critic
    dit, vae, te, cr = (snapshot(m) for m in (tr.generator.transformer.inner, tr.generator.vae, tr.generator.text_encoder, critic))
    res = tr.train(progress=False)
    assert torch.isfinite(torch.tensor(res[0].reward)) and set(res[0].per_dimension) == {"TA", "Phy", "VQ"}
    assert len(changed(dit, tr.generator.transformer.inner)) > 10
    assert not changed(vae, tr.generator.vae) and not changed(te, tr.generator.text_encoder) and not changed(cr, critic)
    assert not any(p.requires_grad for p in critic.parameters()) and not critic.training


def test_exact_resume(tmp_path):
    samples = [RewardSample("a cat"), RewardSample("a dog"), RewardSample("a bird")]
    ref = DRFTrainer(cfg_for(tmp_path / "a", max_steps=4, checkpoint_every=2), reward_fn=brightness, samples=samples, device="cpu")
    full = ref.train(progress=False)
    first = DRFTrainer(cfg_for(tmp_path / "b", max_steps=4, checkpoint_every=2), reward_fn=brightness, samples=samples, device="cpu")
    part1 = first.train(progress=False, stop_after=2)
    assert first.latest_checkpoint().name == "step_0000002"
    second = DRFTrainer(cfg_for(tmp_path / "b", max_steps=4, checkpoint_every=2), reward_fn=brightness, samples=samples, device="cpu")
    part2 = second.train(resume=True, progress=False)
    assert [r.step for r in part1 + part2] == [1, 2, 3, 4]
    for a, b in zip(full, part1 + part2):
        assert abs(a.loss - b.loss) < 1e-6 * max(1.0, abs(a.loss)), (a, b)
    w = dict(second.generator.transformer.inner.named_parameters())
    for n, p in ref.generator.transformer.inner.named_parameters(): torch.testing.assert_close(p, w[n], rtol=1e-6, atol=1e-7)


def test_non_finite_reward_is_skipped_and_logged(tmp_path, capsys):
    calls = {"n": 0}

    def flaky(frames, batch):
        calls["n"] += 1
        out = brightness(frames, batch)
        if calls["n"] == 2: out.rewards = out.rewards * float("nan")
        return out

    tr = DRFTrainer(cfg_for(tmp_path, max_steps=3), reward_fn=flaky, samples=[RewardSample("a cat")], device="cpu")
    dit = tr.generator.transformer.inner
    hist = []
    for _ in range(3):
        before = snapshot(dit)
        hist.append(tr.training_step())
        moved = bool(changed(before, dit))
        assert moved == (not hist[-1].skipped)
    assert [r.skipped for r in hist] == [False, True, False]
    assert hist[1].reason == "reward is not finite"
    assert all(torch.isfinite(p).all() for p in dit.parameters())
    assert all(torch.isfinite(torch.tensor(r.loss)) for r in (hist[0], hist[2]))


def test_config_errors_name_the_field(capsys):
    assert main(["--preset", "tiny", "--set", "training.learning_rate=-1"]) == 2
    assert "training.learning_rate" in capsys.readouterr().err
    assert main(["--preset", "tiny", "--set", "training.finetune=qlora"]) == 2
    assert "training.finetune='qlora': allowed values are full, lora" in capsys.readouterr().err
    assert main(["--preset", "tiny"]) == 2  # neither a dataset nor a single prompt
    assert "training.dataset_path" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="training.mixed_precision"):
        load_config("tiny", {"training": {"mixed_precision": "fp8"}})


def test_single_prompt_samples():
    cfg = load_config("tiny")
    (s,) = single_prompt_samples("a cat on a mat", cfg, {"Object(s)": "a cat", "Environment": "a mat", "Lighting": "Not explicitly stated."})
    assert [q.facet for q in s.queries] == ["Object(s)", "Environment"] and all('"Yes"' in q.answer for q in s.queries)
    cfg = load_config("tiny", {"reward": {"use_reference_frames": False}})
    (s,) = single_prompt_samples("a cat", cfg)
    assert [q.dimension for q in s.queries] == ["TA", "Phy", "VQ"]
    with pytest.raises(ValueError, match="empty"): single_prompt_samples("  ", cfg)


def _drf_trainer(out, kind, lr, steps):
    # the real tiny critic and reward; only the training hyper-parameters are chosen for a CPU test
    # (full fine-tuning, lr 1e-2, K=2 of T=4: the tiny preset's sampler)
    cfg = load_config("tiny", {"reward": {"kind": kind},
                               "training": {"report_to": "none", "output_dir": str(out), "checkpoint_every": 1000, "validate_every": 1000,
                                            "learning_rate": lr, "max_steps": steps, "single_prompt": "A red tomato in a pink bowl on a wooden table"}})
    facets = {"Object(s)": "a red tomato in a pink bowl", "Environment": "a wooden table"}
    return DRFTrainer(cfg, samples=single_prompt_samples(cfg.training.single_prompt, cfg, facets), device="cpu")


EVAL_SEEDS = (1000, 1001, 1002)


@pytest.mark.parametrize("kind", ["diffusion_drf"])
def test_training_raises_the_reward_at_fixed_noise(tmp_path, kind):
    # per-step rewards draw fresh noise each step and are not comparable; the reward at fixed evaluation noise is
    tr = _drf_trainer(tmp_path / "t", kind, 1e-2, 16)
    b = [float(tr.evaluate_reward(s).rewards[0]) for s in EVAL_SEEDS]
    tr.train(progress=False)
    a = [float(tr.evaluate_reward(s).rewards[0]) for s in EVAL_SEEDS]
    # the control starts from the same seeded weights, so its reward at fixed noise must stay at `b` exactly
    control = _drf_trainer(tmp_path / "c", kind, 1e-30, 1)  # lr must be > 0; 1e-30 moves no float32 weight
    control.train(progress=False)
    c = [float(control.evaluate_reward(s).rewards[0]) for s in EVAL_SEEDS]
    gains = [y - x for x, y in zip(b, a)]
    print(kind, "before", b, "after", a, "gains", gains, "control", [y - x for x, y in zip(b, c)])
    assert max(abs(y - x) for x, y in zip(b, c)) < 1e-4  # lr~0: the reward at fixed noise does not move
    # measured (2 TA facets, lr 1e-2, 16 steps, seeds 1000-1002): gains 0.036-0.047 (mean 0.041), spread across seeds
    # before training 0.015, lr~0 change exactly 0; the margin 0.02 sits above the seed spread and below the gain
    assert sum(gains) / len(gains) > 0.02 and all(g > 0 for g in gains), gains
    assert min(a) > max(b), (b, a)  # the rise is larger than the spread across evaluation noises
