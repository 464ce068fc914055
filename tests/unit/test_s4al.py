"""S4AL trainer (alseg.trainers.s4al): hand-computed EMA, confidence weighting, unsupervised
weight, ClassMix, head/tail classes, replay buffer; a tiny fit and a stage-level run_train."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from alseg.config import DataConfig, ModelConfig, RegionConfig, TrainConfig
from alseg.stages import labeling, model_stages, prepare, regions
from alseg.train import train_model
from alseg.trainers.base import unlabelled_stream
from alseg.trainers.s4al import (
    ReplayBuffer,
    classmix,
    colour_jitter,
    confidence_weighted_loss,
    draw_classes,
    ema_update,
    half_of_classes,
    head_tail_split,
    unsupervised_weight,
)


def _pair(teacher_value: float, student_value: float) -> tuple[torch.nn.Module, ...]:
    nets = []
    for value in (teacher_value, student_value):
        net = torch.nn.BatchNorm1d(1)
        torch.nn.init.constant_(net.weight, value)
        net.running_mean.fill_(value)
        net.num_batches_tracked.fill_(int(value))
        nets.append(net)
    return tuple(nets)


@pytest.mark.parametrize(("step", "expected"), [(0, 3.0), (9, 0.9 * 1 + 0.1 * 3),
                                                 (1000, 0.99 * 1 + 0.01 * 3)])  # fmt: skip
def test_ema_update_ramps_to_the_momentum(step: int, expected: float) -> None:
    teacher, student = _pair(1.0, 3.0)
    ema_update(teacher, student, step, momentum=0.99)
    assert teacher.weight.item() == pytest.approx(expected)
    assert teacher.running_mean.item() == pytest.approx(expected)  # BN statistics too
    assert teacher.num_batches_tracked.item() == 3  # integer buffers copied
    assert student.weight.item() == 3.0


def test_unsupervised_weight_is_the_confident_share_of_valid_pixels() -> None:
    confidence = torch.tensor([[[0.98, 0.5], [0.97, 0.99]], [[0.1, 0.99], [0.99, 0.2]]])
    valid = torch.tensor([[[1, 1], [1, 1]], [[1, 1], [0, 1]]], dtype=torch.bool)
    assert unsupervised_weight(confidence, valid, 0.97).tolist() == pytest.approx([3 / 4, 1 / 3])


def test_confidence_weighted_loss_hand_computed() -> None:
    logits = torch.zeros(1, 2, 2, 2)  # CE = ln 2 at every pixel
    pseudo = torch.tensor([[[0, 1], [-1, 0]]])  # one pixel without a target
    confidence = torch.tensor([[[1.0, 0.5], [0.99, 0.98]]])
    loss, eta = confidence_weighted_loss(logits, pseudo, confidence, 0.97)
    assert eta.tolist() == pytest.approx([2 / 3])  # 1.0 and 0.98 of the 3 valid pixels
    assert loss.item() == pytest.approx(2 / 3 * math.log(2) * (1.0 + 0.5 + 0.98) / 3)
    plain, _ = confidence_weighted_loss(logits, pseudo, confidence, 0.97, weighting=False)
    assert plain.item() == pytest.approx(2 / 3 * math.log(2))
    none, _ = confidence_weighted_loss(logits, torch.full_like(pseudo, -1), confidence, 0.97)
    assert none.item() == 0.0  # no pixel with a target: 0, not NaN


def test_classmix_pastes_the_masked_pixels_onto_the_next_image() -> None:
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]], [[[5.0, 6.0], [7.0, 8.0]]]])  # (2, 1, 2, 2)
    mask = torch.tensor([[[True, False], [False, True]], [[False, False], [True, False]]])
    mixed = classmix(x, x.roll(-1, 0), mask)
    assert mixed[:, 0].tolist() == [[[1.0, 6.0], [7.0, 4.0]], [[1.0, 2.0], [7.0, 4.0]]]
    labels = torch.tensor([[[0, 1], [2, 3]], [[4, 5], [6, 7]]])
    assert classmix(labels, labels.roll(-1, 0), mask).tolist() == [[[0, 5], [6, 3]],
                                                                   [[0, 1], [6, 3]]]  # fmt: skip


def test_classmix_takes_half_of_the_present_classes_rounded_up() -> None:
    labels = torch.tensor([[0, 2, 2], [5, -1, 0]])
    picked = half_of_classes(labels, torch.Generator().manual_seed(0))
    assert len(picked) == 2 and set(picked.tolist()) <= {0, 2, 5}
    again = half_of_classes(labels, torch.Generator().manual_seed(0))
    assert torch.equal(picked, again)


def test_head_and_tail_classes_from_labelled_counts() -> None:
    head, tail = head_tail_split(np.array([50, 0, 30, 15, 5]), head_mass=0.8)
    assert head.tolist() == [0, 2] and tail.tolist() == [1, 3, 4]  # 50 + 30 = 80% of 100
    head, tail = head_tail_split(np.array([10, 90]), head_mass=0.5)
    assert head.tolist() == [1] and tail.tolist() == [0]


def test_balanced_draws_take_head_and_tail_counts_from_present_classes() -> None:
    head, tail, present = np.array([0, 2]), np.array([1, 3, 4]), np.array([0, 1, 2, 3])
    drawn = draw_classes(present, head, tail, 1, 5, torch.Generator().manual_seed(1))
    assert len(np.intersect1d(drawn, head)) == 1 and set(drawn) >= {1, 3} and 4 not in drawn
    again = draw_classes(present, head, tail, 1, 5, torch.Generator().manual_seed(1))
    assert drawn.tolist() == again.tolist()
    both = draw_classes(present, head, tail, 2, 0, torch.Generator().manual_seed(1))
    assert both.tolist() == [0, 2]


def test_replay_buffer_evicts_down_to_its_size_and_pops_samples() -> None:
    buffer = ReplayBuffer(3, torch.Generator().manual_seed(0))
    buffer.push(np.array([10, 11]))
    assert len(buffer) == 2 and set(buffer.items) == {10, 11}
    buffer.push(np.array([12, 13]))
    assert len(buffer) == 3 and set(buffer.items) < {10, 11, 12, 13}  # one of four evicted
    kept = set(buffer.items)
    popped = buffer.sample(2)
    assert len(popped) == 2 and set(popped) | set(buffer.items) == kept and len(buffer) == 1
    assert len(buffer.sample(5)) == 1 and len(buffer) == 0


def test_colour_jitter_brightness_then_contrast() -> None:
    x = torch.tensor([0.1, 0.3]).view(1, 1, 1, 2).repeat(1, 3, 1, 1)
    same = colour_jitter(x, (0.5, 2.0), 0.0, torch.Generator().manual_seed(0))
    assert torch.equal(same, x)
    out = colour_jitter(x, (2.0, 2.0), 1.0, torch.Generator().manual_seed(0))
    # brightness x2 -> (0.2, 0.6), mean 0.4; contrast x2 -> (0.0, 0.8)
    assert out[0, 0, 0].tolist() == pytest.approx([0.0, 0.8])


def test_whole_image_init_takes_every_region_of_the_drawn_images() -> None:
    image_index = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    rows = labeling.whole_image_rows(image_index, 4, 0.5, seed=0)
    images = np.unique(image_index[rows])
    assert len(images) == 2 and len(rows) == 4  # round(0.5 x 4) images, both cells of each
    assert rows.tolist() == labeling.whole_image_rows(image_index, 4, 0.5, seed=0).tolist()
    assert len(labeling.whole_image_rows(image_index, 4, 0.01, seed=0)) == 2  # at least one


def test_s4al_fit_reports_the_teacher_and_the_unsupervised_weight() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (6, 32, 32, 3), dtype=np.uint8)
    targets = rng.integers(0, 3, (2, 32, 32)).astype(np.uint8)
    targets[1, 16:] = 255  # image 3 partly labelled: it stays in the unlabelled stream
    stream = unlabelled_stream(images, targets, np.array([0, 3]), np.array([1, 0, 0, 0, 0, 0]) > 0)
    cfg = TrainConfig(iterations=4, batch_size=2, trainer="s4al",
                      s4al={"warmup_fraction": 0.25, "balanced_start_fraction": 0.5,
                            "replay_size": 4, "confidence_threshold": 0.3})  # fmt: skip
    runs = [train_model(images, targets, np.array([0, 3]), 3, ModelConfig(), cfg, seed=1,
                        device="cpu", log_every=0, unlabelled=stream)
            for _ in range(2)]  # fmt: skip
    (model, stats), (again, _) = runs
    assert stats["reported_model"] == "teacher" and 0 <= stats["unsup_weight"] <= 1
    assert math.isfinite(stats["final_loss"]) and not model.training
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items(),
                                 strict=True):  # fmt: skip
        assert torch.equal(a, b), name  # same seed, same teacher


def test_run_train_with_s4al_saves_the_reported_model(folder_dataset: Path, tmp_path: Path):
    data = DataConfig(dataset="camvid", root=str(folder_dataset), image_size=(32, 32), workers=1)
    prepare.run(data, tmp_path / "prepared")
    regions.run(RegionConfig(type="grid", size=16), tmp_path / "prepared", tmp_path / "regions")
    params = {
        "seed": 0, "device": "cpu", "label": {"type": "dominant"},
        "model": ModelConfig().model_dump(),
        "budget": {"initial_clicks": 6, "clicks_per_round": 4, "overshoot": False,
                   "initial_images": 0.34},  # 2 of the 6 train images, whole
        "train": TrainConfig(iterations=3, batch_size=2, trainer="s4al",
                             s4al={"warmup_fraction": 0.0}).model_dump(mode="json"),
    }  # fmt: skip
    labeling.run_init(params, tmp_path / "prepared", tmp_path / "regions", tmp_path / "init")
    labeling.run_oracle(params, 0, tmp_path / "init", tmp_path / "prepared", tmp_path / "regions",
                        tmp_path / "init", tmp_path / "labels")  # fmt: skip
    complete = model_stages.fully_labelled_images(tmp_path / "labels", tmp_path / "regions")
    assert complete.sum() == 2 and len(complete) == 6
    summary = model_stages.run_train(params, 0, tmp_path / "prepared", tmp_path / "labels",
                                     tmp_path / "model",
                                     regions_dir=tmp_path / "regions")  # fmt: skip
    sidecar = json.loads((tmp_path / "model" / "model.json").read_text())
    assert summary["reported_model"] == sidecar["reported_model"] == "teacher"
    assert sidecar["train"]["s4al"]["ema_momentum"] == 0.99 and summary["unsup_weight"] >= 0
    with pytest.raises(ValueError, match="needs the regions folder"):
        model_stages.run_train(params, 0, tmp_path / "prepared", tmp_path / "labels",
                               tmp_path / "model2")  # fmt: skip
