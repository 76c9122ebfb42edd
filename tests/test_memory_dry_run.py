"""The dry run's count is the real count: on a small configuration that runs on the CPU, the peak of live tensor bytes of
every phase of two training steps (the second is the steady state, with AdamW's moments) is the same, to the byte, for fake
tensors and for real ones, under each checkpointing mode of the sampler, and with the light decoder (a random one, built where the trainer looks it up)."""
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from drf_nb.config import load_config
from drf_nb.memory import trace_step


def small_config(checkpointing: str, decoder: str = "vae"):
    return load_config("tiny", {"generator": {"num_frames": 5}, "sampling": {"checkpointing": checkpointing, "train_steps": 3, "backprop_steps": 2},
                                "decoding": {"decoder": decoder, **({"light_decoder_path": "(traced)"} if decoder == "light" else {})},
                                "reward": {"dimensions": ["VQ"], "num_frames": 2, "num_reference_frames": 2},
                                "training": {"report_to": "none", "output_dir": "/tmp/drf_nb_memory_test", "checkpoint_every": 10 ** 6,
                                             "validate_every": 10 ** 6}})


@pytest.mark.parametrize("checkpointing,decoder", [("none", "vae"), ("step", "vae"), ("block", "vae"), ("block", "light")])
def test_fake_equals_real(checkpointing, decoder):
    cfg = small_config(checkpointing, decoder)
    fake, real = trace_step(cfg, "tiny", fake=True, steps=2), trace_step(cfg, "tiny", fake=False, steps=2)
    assert fake.static_bytes == real.static_bytes > 0
    assert fake.step_peaks == real.step_peaks
    for f, r in zip(fake.phases, real.phases):
        assert list(f) == list(r)
        for phase in r:
            assert (f[phase]["start"], f[phase]["peak"]) == (r[phase]["start"], r[phase]["peak"]), (checkpointing, phase)
            assert f[phase]["flops"] == r[phase]["flops"], (checkpointing, phase)
    assert real.phases[-1]["backward"]["peak"] > real.phases[-1]["critic"]["start"]  # the trace saw the step's work
    assert real.phases[-1]["sample (grad)"]["flops"] > 0
