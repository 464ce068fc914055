"""S4AL trainer (Rangnekar et al., WACV 2023; ALGORITHMS.md 4.3): a student trained with CE on
the labelled pixels plus a confidence-weighted pseudo-label loss on the unlabelled stream against
an EMA teacher, with ClassMix and balanced ClassMix (replay buffer, head/tail classes).

Per step after the labelled-only warm-up (``warmup_fraction`` of the iterations, labelled loss x
``warmup_loss_scale``):

1. weak view of U unlabelled images (random scale + crop + flip, ``alseg.train.augment_batch``);
   the teacher gives pseudo-labels y^ and confidences q = max_c p_c; pixels whose labels were
   already bought keep them with q = 1 (the code's revealed GT);
2. strong view: ClassMix (half of the classes of image i pasted onto image i+1) and colour
   jitter; once ``balanced_start_fraction`` of the iterations has passed, the second half of the
   batch is mixed with replayed images instead, their masks made of ``head_draws`` head and
   ``tail_draws`` tail classes (head: the most frequent labelled classes covering ``head_mass``
   of the labelled pixels). The balanced mixes replace half of the plain ones, so the student
   runs on one extra batch of U images (S4AL adds a second one);
3. L = L_sup + L_unsup (:func:`confidence_weighted_loss`); the teacher is updated by
   :func:`ema_update` after every optimizer step.

The reported model (``model.pt``: evaluation and acquisition) is the teacher unless
``reported_model: student``.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from alseg import IGNORE
from alseg.train import _batches, augment_batch
from alseg.trainers.base import FitJob, Trainer, run_steps
from alseg.trainers.settings import S4ALSettings
from alseg.trainers.supervised import labelled_loss

PAD = -1  # label of pixels the weak view padded in (no image content)


@torch.no_grad()
def ema_update(teacher: torch.nn.Module, student: torch.nn.Module, step: int, momentum: float):
    """theta' <- d * theta' + (1 - d) * theta with d = min(1 - 1 / (step + 1), momentum), over
    parameters and floating buffers (BatchNorm statistics); integer buffers are copied."""
    decay = min(1.0 - 1.0 / (step + 1), momentum)
    student_state = student.state_dict()
    for name, value in teacher.state_dict().items():
        if value.dtype.is_floating_point:
            value.mul_(decay).add_(student_state[name].detach(), alpha=1.0 - decay)
        else:
            value.copy_(student_state[name])
    return decay


def unsupervised_weight(confidence: torch.Tensor, valid: torch.Tensor, threshold: float):
    """eta_i = |{x valid : q(x) >= threshold}| / |{x valid}| per image: (B, H, W) -> (B,)."""
    confident = ((confidence >= threshold) & valid).flatten(1).sum(1).float()
    return confident / valid.flatten(1).sum(1).clamp(min=1).float()


def confidence_weighted_loss(
    logits: torch.Tensor,
    pseudo: torch.Tensor,
    confidence: torch.Tensor,
    threshold: float,
    weighting: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """S4AL's unsupervised loss: l(x) = CE(logits(x), y^(x)) (x q(x) when ``weighting``), then
    mean over the pixels with l > 0 of eta_i * l(x) (eta: :func:`unsupervised_weight`).

    logits (B, C, H, W), pseudo int64 (B, H, W) (< 0 = no target), confidence (B, H, W) ->
    (loss, eta (B,)). No pixel with a loss: 0 (with a graph).
    """
    valid = pseudo >= 0
    eta = unsupervised_weight(confidence, valid, threshold)
    pixel = F.cross_entropy(logits, pseudo.clamp(min=0), reduction="none") * valid
    if weighting:
        pixel = pixel * confidence
    counted = pixel > 0
    if not counted.any():
        return logits.sum() * 0.0, eta
    return (eta.view(-1, 1, 1) * pixel)[counted].mean(), eta


def half_of_classes(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """ClassMix's classes of one pseudo-label map (H, W): ceil(n / 2) of its n classes (>= 0),
    drawn uniformly -> int64 (k,)."""
    present = torch.unique(labels[labels >= 0]).cpu()
    order = torch.randperm(len(present), generator=generator)
    return present[order[: (len(present) + 1) // 2]].to(labels.device)


def classmix(source: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Paste ``source`` onto ``target`` where ``mask``: (B, ...) each, mask (B, H, W) bool; a
    (B, C, H, W) tensor takes the mask on every channel."""
    if source.dim() == 4:
        mask = mask[:, None]
    return torch.where(mask, source, target)


def head_tail_split(counts: np.ndarray, head_mass: float) -> tuple[np.ndarray, np.ndarray]:
    """Head classes: the most frequent (ties: lower id first) until they cover ``head_mass`` of
    the labelled pixels (at least one); tail: the rest, unseen classes included."""
    order = np.argsort(-np.asarray(counts), kind="stable")
    share = np.cumsum(np.asarray(counts, np.float64)[order]) / max(float(np.sum(counts)), 1.0)
    n_head = max(1, int(np.searchsorted(share, head_mass - 1e-12)) + 1)
    return np.sort(order[:n_head]), np.sort(order[n_head:])


def draw_classes(
    present: np.ndarray,
    head: np.ndarray,
    tail: np.ndarray,
    n_head: int,
    n_tail: int,
    generator: torch.Generator,
) -> np.ndarray:
    """Balanced ClassMix's mask classes: ``n_head`` of the head classes and ``n_tail`` of the
    tail classes present in the source map (fewer if fewer are present), each set drawn
    uniformly without replacement (head first, then tail) -> sorted int64."""
    picked = []
    for group, n in ((head, n_head), (tail, n_tail)):
        pool = np.intersect1d(group, present)
        order = torch.randperm(len(pool), generator=generator).numpy()
        picked.append(pool[order[:n]])
    return np.sort(np.concatenate(picked)).astype(np.int64)


class ReplayBuffer:
    """At most ``size`` stream positions: ``push`` appends a batch, shuffles (seeded) and keeps
    the first ``size`` (random eviction); ``sample(k)`` pops the first k."""

    def __init__(self, size: int, generator: torch.Generator) -> None:
        self.size, self.generator = size, generator
        self.items = np.empty(0, np.int64)

    def __len__(self) -> int:
        return len(self.items)

    def push(self, positions: np.ndarray) -> None:
        items = np.concatenate([self.items, np.asarray(positions, np.int64)])
        self.items = items[torch.randperm(len(items), generator=self.generator).numpy()][
            : self.size
        ]

    def sample(self, k: int) -> np.ndarray:
        out, self.items = self.items[:k], self.items[k:]
        return out


def unit_images(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.array(images)).to(device).permute(0, 3, 1, 2).float() / 255.0


def normalise(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    """[0, 1] images -> the model's input ((x - mean) / std, ``model.input_norm``)."""
    mean, std = (torch.tensor(v, device=x.device).view(1, 3, 1, 1) for v in model.input_norm)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def colour_jitter(
    x: torch.Tensor, factors: tuple[float, float], p: float, generator: torch.Generator
) -> torch.Tensor:
    """Per image, each with probability p: brightness x <- b x, then contrast x <- c (x - m) + m
    (m: the image's mean), b, c ~ U(factors); clamped to [0, 1]. x (B, 3, H, W) in [0, 1]."""
    n, (low, high) = x.shape[0], factors
    draws = torch.rand(4, n, generator=generator).to(x.device)
    b = torch.where(draws[0] < p, low + (high - low) * draws[1], torch.ones_like(draws[1]))
    c = torch.where(draws[2] < p, low + (high - low) * draws[3], torch.ones_like(draws[3]))
    x = x * b.view(-1, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * c.view(-1, 1, 1, 1) + mean).clamp(0, 1)


class S4ALTrainer(Trainer):
    needs_unlabelled = True

    def fit(self, model: torch.nn.Module, job: FitJob) -> tuple[torch.nn.Module, dict]:
        labelled, unlabelled, cfg, generator = job.labelled, job.unlabelled, job.cfg, job.generator
        s: S4ALSettings = cfg.settings or S4ALSettings()
        teacher = copy.deepcopy(model).eval().requires_grad_(False)
        run = _S4ALRun(model, teacher, labelled, unlabelled, cfg, s, generator)

        def after_step(step: int) -> None:
            ema_update(teacher, model, step, s.ema_momentum)

        stats = run_steps(model, cfg, run.loss, job.log_every, after_step)
        stats["unsup_weight"] = round(float(np.mean(run.etas)), 4) if run.etas else 0.0
        stats["reported_model"] = s.reported_model
        reported = teacher if s.reported_model == "teacher" else model
        return reported.eval(), stats


class _S4ALRun:
    """The per-step loss of one S4AL fit (state: batch streams, replay buffer, head/tail)."""

    def __init__(self, student, teacher, labelled, unlabelled, cfg, s, generator) -> None:
        self.student, self.teacher, self.labelled, self.cfg, self.s = (
            student, teacher, labelled, cfg, s)  # fmt: skip
        self.generator, self.stream = generator, unlabelled
        self.labelled_batches = labelled.batches(cfg.batch_size, generator)
        self.u = s.unlabelled_batch_size or max(2, cfg.batch_size)  # the paper: 4 + 4
        has_stream = unlabelled is not None and len(unlabelled) > 0
        self.unlabelled_batches = (_batches(len(unlabelled), self.u, generator) if has_stream
                                   else None)  # fmt: skip
        self.buffer = ReplayBuffer(s.replay_size, generator)
        self.head = self.tail = None  # from the labelled class counts, at the first balanced mix
        self.warmup = round(s.warmup_fraction * cfg.iterations)
        self.balanced_from = round(s.balanced_start_fraction * cfg.iterations)
        self.etas: list[float] = []

    def loss(self, step: int) -> torch.Tensor:
        sup = labelled_loss(self.student, self.labelled, next(self.labelled_batches), self.cfg,
                            self.generator)  # fmt: skip
        if step < self.warmup or self.unlabelled_batches is None:
            return sup * (self.s.warmup_loss_scale if step < self.warmup else 1.0)
        picks = next(self.unlabelled_batches)
        x, y, q = self.teacher_view(picks)
        mixed_x, mixed_y, mixed_q = x, y, q
        if self.s.classmix:
            masks = torch.stack([torch.isin(m, half_of_classes(m, self.generator)) for m in y])
            mixed_x, mixed_y, mixed_q = (classmix(t, t.roll(-1, 0), masks) for t in (x, y, q))
        half = self.u // 2
        if self.s.balanced_classmix and step >= self.balanced_from and len(self.buffer) >= half:
            rx, ry, rq = self.teacher_view(self.buffer.sample(self.u - half))
            masks = torch.stack([self.balanced_mask(m) for m in ry])
            mixed_x, mixed_y, mixed_q = (
                torch.cat([m[:half], classmix(r, t[half:], masks)])
                for m, r, t in ((mixed_x, rx, x), (mixed_y, ry, y), (mixed_q, rq, q))
            )  # fmt: skip
        self.buffer.push(picks)
        strong = colour_jitter(mixed_x, self.s.jitter, self.s.jitter_p, self.generator)
        logits = self.student(normalise(strong, self.student))
        unsup, eta = confidence_weighted_loss(logits, mixed_y, mixed_q,
                                              self.s.confidence_threshold,
                                              self.s.confidence_weighting)  # fmt: skip
        self.etas.append(float(eta.mean()))
        return sup + unsup

    @torch.no_grad()
    def teacher_view(self, picks: np.ndarray) -> tuple[torch.Tensor, ...]:
        """Weak view of stream positions ``picks``: images [0, 1] (B, 3, H, W), pseudo-labels
        int64 (B, H, W) (revealed labels kept; padding = PAD), confidences (B, H, W)."""
        device = next(self.teacher.parameters()).device
        x = unit_images(self.stream.images[self.stream.rows[picks]], device)
        revealed = torch.from_numpy(self.stream.revealed(picks).astype(np.int64)).to(device)
        x, revealed = augment_batch(x, revealed, self.cfg, self.generator, pad_value=PAD)
        probs = torch.softmax(self.teacher(normalise(x, self.teacher)).float(), dim=1)
        self.n_classes = probs.shape[1]
        confidence, pseudo = probs.max(1)
        bought = (revealed != IGNORE) & (revealed != PAD)
        pseudo = torch.where(bought, revealed, pseudo)
        pseudo = torch.where(revealed == PAD, torch.full_like(pseudo, PAD), pseudo)
        confidence = torch.where(bought, torch.ones_like(confidence), confidence)
        return x.contiguous(), pseudo, confidence

    def balanced_mask(self, labels: torch.Tensor) -> torch.Tensor:
        """Pixels of ``labels`` (H, W) in the drawn head and tail classes."""
        if self.head is None:
            counts = _labelled_counts(self.labelled.targets, self.n_classes)
            self.head, self.tail = head_tail_split(counts, self.s.head_mass)
        present = torch.unique(labels[labels >= 0]).cpu().numpy()
        classes = draw_classes(present, self.head, self.tail, self.s.head_draws,
                               self.s.tail_draws, self.generator)  # fmt: skip
        return torch.isin(labels, torch.from_numpy(classes).to(labels.device))


def _labelled_counts(targets: np.ndarray, n_classes: int) -> np.ndarray:
    """Labelled pixels per class (255 = unlabelled) -> int64 (n_classes,)."""
    values = np.asarray(targets).ravel()
    return np.bincount(values[values < n_classes], minlength=n_classes)


TRAINER = S4ALTrainer()
