"""scripts/train_toy_world.py: the critic's pairs made of the generator's judged videos state the judge's verdict."""
import json
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import train_toy_world as ttw  # noqa: E402
from drf_nb.config import RewardConfig  # noqa: E402
from drf_nb.prompts import answer_decision  # noqa: E402
from drf_nb.world import corrupt, render, world_scenes  # noqa: E402


def pool_of(tmp_path, videos, specs):
    stored, verdicts = ttw.judged_records(videos, specs)
    path = tmp_path / "pool.pt"
    torch.save(dict(videos=stored, specs=specs, verdicts=verdicts, generator="test"), path)
    return ttw.Pool(path)


def test_generated_pairs_state_the_judges_verdict(tmp_path):
    specs = world_scenes(4, 11, objects=(1, 1))
    # 0, 1: true renders; 2: one object recoloured; 3: heavy noise (a VQ defect)
    videos = torch.cat([render(specs[:2]), corrupt([specs[2]], "wrong colour", 0), corrupt([specs[3]], "noise", 0)])
    pool = pool_of(tmp_path, videos, specs)
    assert len(pool.train) == 4 and pool.held == []  # every 10th sample is held out
    assert torch.allclose(pool.video(2), videos[2], atol=1 / 127.5)
    rcfg = RewardConfig(num_frames=9, num_reference_frames=9)
    colour = ttw.generated_pair(pool, 2, "TA", random.Random(0), rcfg, ("Color Requirement",), False, 0.0, 0.0)
    gen, true = colour
    assert (gen.kind, gen.decision, answer_decision("TA", gen.answer)) == ("generated fail", "No", "No")
    assert gen.spec is None and true.spec == specs[2]  # no auxiliary targets for a video whose content the spec does not describe
    assert true.decision == "Yes" and true.question == gen.question and "Color Requirement" in gen.question
    shown = pool.verdicts[2]["measures"]["objects"][0]["color"]
    assert shown != specs[2].objects[0].color and shown in json.loads(gen.answer)["explanation"]  # names what the judge saw
    for i in (0, 1):
        for facet in ttw.TA_FACETS:
            pair = ttw.generated_pair(pool, i, "TA", random.Random(i), rcfg, (facet,), False, 0.0, 0.0)
            if pair: assert pair[0].decision == "Yes" and pair[0].kind == "generated pass"
    vq = ttw.generated_pair(pool, 3, "VQ", random.Random(0), rcfg, ttw.TA_FACETS, False, 0.0, 0.0)[0]
    assert (vq.decision, answer_decision("VQ", vq.answer), vq.reference.shape) == ("Yes", "Yes", videos[3].shape)
    assert "grain" in vq.answer
    phy = ttw.generated_pair(pool, 0, "Phy", random.Random(0), rcfg, ttw.TA_FACETS, False, 0.0, 0.0)
    assert [r.decision for r in phy] == ["No", "No"] and answer_decision("Phy", phy[0].answer) == "No"


def test_phy_defects_name_their_aspect(tmp_path):
    specs = world_scenes(6, 12, objects=(1, 1))
    pool = pool_of(tmp_path, torch.cat([corrupt([s], "teleport", i) for i, s in enumerate(specs)]), specs)
    rcfg = RewardConfig(num_frames=9, num_reference_frames=9)
    broken = [i for i in range(len(specs)) if not pool.verdicts[i]["phy: continuous motion"]]
    assert broken  # the judge sees the jumps
    row = ttw.generated_pair(pool, broken[0], "Phy", random.Random(0), rcfg, ttw.TA_FACETS, False, 0.0, 0.0)[0]
    assert row.decision == "Yes" and json.loads(row.answer)["abnormal motion"] == "Yes"


def test_quality_targets_follow_the_defect(tmp_path):
    "The quality read-outs' targets: a VQ pair's defect (blur, noise) on the defective video, none on the true one and on Phy videos."
    rcfg = RewardConfig(num_frames=9, num_reference_frames=9)
    seen = {}
    for seed in range(12):
        for dim in ("VQ", "Phy"):
            pair = ttw.ref_pair(dim, seed, rcfg, 48, 9, objects=(1, 1), p_mild=0.0)
            if pair is None: continue
            good, bad = pair
            assert good.quality == 0 and good.kind == "true"
            assert bad.quality == (ttw.QUALITY.index(bad.kind) if dim == "VQ" else 0), (dim, bad.kind, bad.quality)
            seen[bad.kind] = bad.quality
    assert seen.get("blur") == 1 and seen.get("noise") == 2  # both defects drawn in 12 seeds
    # generated videos carry the judge's quality verdict, on every dimension's row; their true render is clean
    specs = world_scenes(2, 11, objects=(1, 1))
    pool = pool_of(tmp_path, torch.cat([render(specs[:1]), corrupt([specs[1]], "noise", 0)]), specs)
    for dim in ("TA", "Phy", "VQ"):
        for i, want in ((0, 0), (1, ttw.QUALITY.index("noise"))):
            pair = ttw.generated_pair(pool, i, dim, random.Random(i), rcfg, ttw.TA_FACETS, False, 0.0, 0.0)
            if pair: assert (pair[0].quality, pair[1].quality) == (want, 0), (dim, i, pair[0].quality)
