"""The training code path on 2 CPU processes (gloo DDP of the DiT, FSDP2 of the frozen critic) through `accelerate launch`, as CI can run it.

`accelerate launch --cpu --num_processes 2` starts a single process (its multi-CPU mode wants mpirun), so the
test uses the torchrun launcher (`--multi_gpu`) with no GPU visible: the trainer's Accelerator then forms
one gloo process group on the CPU (DistributedType.MULTI_CPU), which is DDP as on GPUs."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = r'''
import json, os, sys, torch
from torch.distributed.tensor import DTensor
from drf_nb.config import load_config
from drf_nb.critic import load_critic
from drf_nb.reward import build_reward, single_prompt_samples
from drf_nb.training import DRFTrainer, shardable_blocks

out = sys.argv[1]
cfg = load_config("tiny", {"training": {"report_to": "none", "output_dir": out, "max_steps": 2, "checkpoint_every": 2,
                                        "validate_every": 1000, "gradient_accumulation_steps": 2, "learning_rate": 1e-2},
                           "critic": {"gradient_checkpointing": True}})
ref = torch.rand(9, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
samples = [single_prompt_samples(p, cfg, {"Object(s)": p}, reference_video=ref)[0] for p in ("a cat", "a dog", "a bird", "a fish")]
reward = build_reward(cfg, critic=load_critic(cfg.critic))
frames = (torch.rand(1, 9, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1).requires_grad_(True)
def score():  # the reward of fixed frames and its pixel gradient, on every process
    r = reward(frames, samples[:1]).rewards.sum()
    g, = torch.autograd.grad(r, frames)
    return float(r), g
r_full, g_full = score()
nbytes = lambda ps: sum((p.to_local() if isinstance(p, DTensor) else p).nbytes for p in ps)
critic_bytes = nbytes(reward.critic.model.parameters())
blocks_bytes = sum(nbytes(b.parameters()) for b in shardable_blocks(reward.critic.model))
tr = DRFTrainer(cfg, reward_fn=reward, samples=samples)  # shards the critic's blocks (training.shard_critic, 2 processes)
sharded = sum(isinstance(p, DTensor) for p in reward.critic.model.parameters())
r_sh, g_sh = score()
seen = [tr.batch_at(0, m)[0].prompt for m in range(2)]
hist = tr.train(progress=False)
w = torch.cat([p.detach().flatten() for p in tr.generator.transformer.inner.parameters()])
acc = tr.accelerator
json.dump({"rank": acc.process_index, "world": acc.num_processes, "seen": seen, "losses": [r.loss for r in hist],
           "skipped": [r.skipped for r in hist], "wsum": float(w.double().sum()), "wnorm": float(w.double().norm()),
           "sharded_params": sharded, "critic_params": sum(1 for _ in reward.critic.model.parameters()),
           "reward_full": r_full, "reward_sharded": r_sh, "grad_diff": float((g_full - g_sh).abs().max()),
           "grad_norm": float(g_full.norm()), "critic_bytes": critic_bytes, "blocks_bytes": blocks_bytes,
           "local_critic_bytes": nbytes(reward.critic.model.parameters())}, open(os.path.join(out, f"rank{acc.process_index}.json"), "w"))
'''


def test_two_process_ddp_training_with_sharded_critic(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--num_machines", "1", "--multi_gpu",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29731", str(script), str(tmp_path / "run")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = [json.loads((tmp_path / "run" / f"rank{i}.json").read_text()) for i in range(2)]
    assert [x["world"] for x in ranks] == [2, 2]
    assert ranks[0]["losses"] == ranks[1]["losses"]  # the logged reward is averaged over processes
    assert not any(ranks[0]["skipped"]) and len(ranks[0]["losses"]) == 2
    assert ranks[0]["seen"] != ranks[1]["seen"]  # each process draws its own samples
    # DDP kept the replicas identical after two accumulated steps
    assert abs(ranks[0]["wsum"] - ranks[1]["wsum"]) < 1e-6 * max(1, abs(ranks[0]["wsum"]))
    assert abs(ranks[0]["wnorm"] - ranks[1]["wnorm"]) < 1e-9 * ranks[0]["wnorm"] + 1e-9
    # training.shard_critic: the critic's blocks are FSDP2 shards (DTensors), and the reward and its pixel gradient are
    # those of the whole critic (gradient checkpointing on: the recomputation gathers the blocks again)
    for x in ranks:
        assert 0 < x["sharded_params"] < x["critic_params"]  # blocks sharded, embeddings and head replicated
        assert abs(x["reward_sharded"] - x["reward_full"]) <= 1e-5 * abs(x["reward_full"])
        assert x["grad_norm"] > 0 and x["grad_diff"] <= 1e-5 * x["grad_norm"]
        # what drf_nb.memory.sharded_peak assumes of each process: the critic's weights less (1 - 1/N) of its blocks
        # (FSDP2 pads a block's rows to a multiple of N: within 1%)
        want = x["critic_bytes"] - x["blocks_bytes"] / 2
        assert abs(x["local_critic_bytes"] - want) <= 0.01 * x["blocks_bytes"], (x["local_critic_bytes"], want)
    ck = tmp_path / "run" / "checkpoints" / "step_0000002"
    assert (ck / "trainer_state.json").exists() and (ck / "random_states_1.pkl").exists()
