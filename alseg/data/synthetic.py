"""Embedded default dataset: deterministic synthetic road scenes (numpy + cv2 drawing only).

A scene is a layered composition, painted back to front:
sky (above a random horizon) -> grass (below it) -> buildings -> vegetation (trees, bushes)
-> sidewalk trapezoid -> road trapezoid (+ dashed lane marks, still ``road``) -> fence (thin
lines) -> poles (1-3 px wide) -> signs on poles -> cars -> persons -> rare bicycles -> small void
blobs (label ``VOID_ID`` = 12).

Every class has a base colour and a class-specific texture (``flat``, ``gradient``, ``stripes``,
``checks``, ``windows`` or ``blotch``) with a class-specific frequency (cycles per pixel, the same
at every image size) and orientation. Each instance gets a colour jitter, the whole image a
brightness and colour-cast jitter. Several classes share colours on purpose (road / sidewalk / pole,
grass / vegetation, building / fence), so texture and context matter: a small CNN can learn the
scenes, a per-pixel colour classifier cannot. Pixel shares form a long tail (road, sky and
buildings are large; poles, signs and bicycles are tiny), and poles, signs, fences and persons
put several classes inside one 32x32 block.

Scenes are generated in memory by the ``synthetic`` layout (``alseg.data.layouts``): scene i of
a split is ``generate_scene(i, seed, height, width)`` (val scenes offset by 1,000,000).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "SYNTHETIC_CLASSES",
    "VOID_ID",
    "MIN_HEIGHT",
    "MIN_WIDTH",
    "generate_scene",
]

SYNTHETIC_CLASSES: tuple[str, ...] = (
    "sky",
    "building",
    "road",
    "sidewalk",
    "vegetation",
    "grass",
    "car",
    "person",
    "pole",
    "sign",
    "fence",
    "bicycle",
)
VOID_ID: int = len(SYNTHETIC_CLASSES)  # 12, the dataset's ignore_index
MIN_HEIGHT: int = 48
MIN_WIDTH: int = 64

SKY, BUILDING, ROAD, SIDEWALK, VEGETATION, GRASS = 0, 1, 2, 3, 4, 5
CAR, PERSON, POLE, SIGN, FENCE, BICYCLE = 6, 7, 8, 9, 10, 11


@dataclass(frozen=True)
class _Look:
    """Appearance of one class: colour palette (one drawn per instance) and texture.

    Pixel colour = palette colour + N(0, jitter) per instance + amplitude * pattern(y, x)
    + N(0, noise) luminance noise + N(0, noise / 3) per-channel noise.
    """

    palette: tuple[tuple[int, int, int], ...]
    pattern: str  # flat | gradient | stripes | checks | windows | blotch
    freq: float = 0.1  # cycles per pixel
    angle_deg: float = 0.0
    amplitude: float = 0.0
    noise: float = 4.0
    jitter: float = 10.0


_GREY_ROAD = (108, 108, 112)
_LOOKS: dict[int, _Look] = {
    SKY: _Look(((140, 180, 225), (170, 190, 210)), "gradient", amplitude=22.0, noise=2.5),
    BUILDING: _Look(
        ((142, 116, 96), (160, 150, 140), (120, 100, 90)),
        "windows",
        freq=0.09,
        amplitude=38.0,
        noise=6.0,
    ),
    ROAD: _Look((_GREY_ROAD,), "flat", noise=11.0, jitter=6.0),
    SIDEWALK: _Look(((118, 115, 112),), "checks", freq=0.12, amplitude=16.0, noise=5.0),
    VEGETATION: _Look(((62, 112, 46),), "blotch", freq=0.12, amplitude=34.0, noise=12.0),
    GRASS: _Look(((78, 122, 52),), "stripes", freq=0.33, angle_deg=0.0, amplitude=14.0),
    CAR: _Look(
        ((180, 30, 35), _GREY_ROAD, (205, 205, 210), (40, 60, 140), (30, 30, 32)),
        "stripes",
        freq=0.07,
        angle_deg=90.0,
        amplitude=22.0,
        noise=4.0,
        jitter=14.0,
    ),
    PERSON: _Look(
        ((60, 50, 45), (142, 116, 96), (40, 60, 110), (150, 40, 60)),
        "stripes",
        freq=0.25,
        angle_deg=0.0,
        amplitude=14.0,
        noise=6.0,
        jitter=16.0,
    ),
    POLE: _Look(((114, 114, 120),), "flat", noise=3.0, jitter=8.0),
    SIGN: _Look(((200, 40, 40), (60, 100, 205), (230, 200, 40)), "flat", noise=3.0),
    FENCE: _Look(((142, 116, 96),), "stripes", freq=0.3, angle_deg=45.0, amplitude=25.0),
    BICYCLE: _Look(((38, 38, 40), (150, 30, 30)), "flat", noise=5.0),
    VOID_ID: _Look(((0, 0, 0), (255, 0, 255), (90, 70, 20)), "flat", noise=20.0, jitter=40.0),
}


def _ensure_size(height: int, width: int) -> None:
    """Raise ValueError unless height >= MIN_HEIGHT and width >= MIN_WIDTH."""
    if height < MIN_HEIGHT or width < MIN_WIDTH:
        raise ValueError(
            f"synthetic scenes need height >= {MIN_HEIGHT} and width >= {MIN_WIDTH}, "
            f"got {height}x{width}; pass a larger size"
        )


def _pattern(
    look: _Look,
    ys: np.ndarray,
    xs: np.ndarray,
    shape: tuple[int, int],
    rng: np.random.Generator,
) -> np.ndarray:
    """Texture value in [-1, 1] at pixels (ys, xs), shape (n,).

    Rotated coordinates u = x cos(a) + y sin(a), v = -x sin(a) + y cos(a), a = class angle + jitter;
    stripes = sin(2 pi f u + phase); checks = sign(sin(2 pi f u) sin(2 pi f v));
    windows = -1 inside the lower-left 45% x 55% of each 1/f cell, else 0.4;
    gradient = 2 y / H - 1; blotch = bilinear-upsampled N(0, 1) noise on a grid of pitch 1/f.
    """
    height, width = shape
    angle = np.deg2rad(look.angle_deg + rng.uniform(-8.0, 8.0))
    phase = rng.uniform(0.0, 2.0 * np.pi)
    x = xs.astype(np.float32)
    y = ys.astype(np.float32)
    u = x * np.cos(angle) + y * np.sin(angle)
    v = -x * np.sin(angle) + y * np.cos(angle)
    f = look.freq
    if look.pattern == "stripes":
        return np.sin(2.0 * np.pi * f * u + phase)
    if look.pattern == "checks":
        return np.sign(np.sin(2.0 * np.pi * f * u + phase) * np.sin(2.0 * np.pi * f * v + phase))
    if look.pattern == "windows":
        cu = np.mod(f * u + phase, 1.0)
        cv = np.mod(f * v + phase, 1.0)
        return np.where((cu < 0.45) & (cv < 0.55), -1.0, 0.4).astype(np.float32)
    if look.pattern == "gradient":
        return 2.0 * y / float(height) - 1.0
    if look.pattern == "blotch":
        small_h = max(2, int(round(height * f)))
        small_w = max(2, int(round(width * f)))
        small = rng.standard_normal((small_h, small_w)).astype(np.float32)
        field = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
        return np.clip(field[ys, xs], -1.0, 1.0)
    return np.zeros(ys.shape, dtype=np.float32)


def _paint(
    image: np.ndarray,
    label: np.ndarray,
    instances: np.ndarray,
    class_id: int,
    rng: np.random.Generator,
) -> None:
    """Paint every instance of one class (instances (H, W) uint8, 0 = none, k = instance k).

    Writes label[mask] = class_id and image[mask] = textured colour (float32, 0..255 scale).
    """
    n_instances = int(instances.max())
    if n_instances == 0:
        return
    look = _LOOKS[class_id]
    palette = np.asarray(look.palette, dtype=np.float32)
    choice = rng.integers(0, len(palette), size=n_instances)
    colours = palette[choice] + rng.normal(0.0, look.jitter, size=(n_instances, 3))
    ys, xs = np.nonzero(instances)
    pattern = _pattern(look, ys, xs, label.shape, rng)
    lum_noise = rng.normal(0.0, look.noise, size=(ys.size, 1))
    chroma_noise = rng.normal(0.0, look.noise / 3.0, size=(ys.size, 3))
    pixel = (
        colours[instances[ys, xs].astype(np.int64) - 1]
        + look.amplitude * pattern[:, None]
        + lum_noise
        + chroma_noise
    )
    image[ys, xs] = pixel.astype(np.float32)
    label[ys, xs] = class_id


def _pts(points: list[tuple[float, float]]) -> np.ndarray:
    """(x, y) float pairs -> int32 polygon array (1, n, 2) for cv2.fillPoly."""
    return np.round(np.asarray(points, dtype=np.float64)).astype(np.int32)[None]


def _road_edges(
    y: float, horizon: float, height: int, top: tuple[float, float], bottom: tuple[float, float]
) -> tuple[float, float]:
    """Left/right x of a trapezoid (top edge at the horizon, bottom edge at y = height) at row y."""
    t = (y - horizon) / max(height - horizon, 1.0)
    return top[0] + t * (bottom[0] - top[0]), top[1] + t * (bottom[1] - top[1])


def generate_scene(index: int, seed: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic road scene, deterministic from ``np.random.default_rng((seed, index))``.

    Returns ``image`` uint8 (H, W, 3) RGB and ``label`` uint8 (H, W) with class ids
    0..11 (``SYNTHETIC_CLASSES``) and 12 = void. All geometry is relative to (H, W), so any
    size >= 48x64 works; poles stay 1-3 px wide and textures keep their frequency in pixels.
    """
    _ensure_size(height, width)
    if index < 0 or seed < 0:
        raise ValueError(
            f"index and seed must be >= 0 (numpy SeedSequence), got index={index}, seed={seed}; "
            "pass non-negative integers"
        )
    rng = np.random.default_rng((seed, index))
    h, w = height, width
    scale = min(h / 360.0, w / 480.0)
    image = np.zeros((h, w, 3), dtype=np.float32)
    label = np.zeros((h, w), dtype=np.uint8)

    def layer() -> np.ndarray:
        return np.zeros((h, w), dtype=np.uint8)

    horizon = h * rng.uniform(0.34, 0.48)
    hz = int(round(horizon))
    vanish_x = w * rng.uniform(0.35, 0.65)

    # sky and grass: one instance each
    sky = layer()
    sky[:hz] = 1
    _paint(image, label, sky, SKY, rng)
    grass = layer()
    grass[hz:] = 1
    _paint(image, label, grass, GRASS, rng)

    # buildings: 2-6 rectangles standing on the horizon
    buildings = layer()
    for k in range(int(rng.integers(2, 7))):
        x0 = w * rng.uniform(-0.1, 0.9)
        x1 = x0 + w * rng.uniform(0.1, 0.35)
        top = horizon - h * rng.uniform(0.08, 0.35)
        bottom = horizon + h * rng.uniform(0.0, 0.05)
        cv2.fillPoly(buildings, _pts([(x0, top), (x1, top), (x1, bottom), (x0, bottom)]), k + 1)
    _paint(image, label, buildings, BUILDING, rng)

    # vegetation: tree canopies around the horizon and bushes in the lower corners
    vegetation = layer()
    n_trees = int(rng.integers(1, 5))
    for k in range(n_trees):
        cx = w * rng.uniform(0.0, 1.0)
        cy = horizon - h * rng.uniform(0.02, 0.2)
        axes = (max(2, int(w * rng.uniform(0.04, 0.12))), max(2, int(h * rng.uniform(0.05, 0.14))))
        cv2.ellipse(vegetation, (int(cx), int(cy)), axes, 0.0, 0.0, 360.0, k + 1, -1)
        trunk = max(1, int(round(4 * scale)))
        cv2.rectangle(
            vegetation, (int(cx) - trunk // 2, int(cy)), (int(cx) + trunk // 2, hz), k + 1, -1
        )
    for k in range(int(rng.integers(0, 3))):
        cx = w * (rng.uniform(0.0, 0.15) if rng.random() < 0.5 else rng.uniform(0.85, 1.0))
        cy = horizon + (h - horizon) * rng.uniform(0.1, 0.7)
        axes = (max(2, int(w * rng.uniform(0.05, 0.12))), max(2, int(h * rng.uniform(0.04, 0.1))))
        cv2.ellipse(vegetation, (int(cx), int(cy)), axes, 0.0, 0.0, 360.0, n_trees + k + 1, -1)
    _paint(image, label, vegetation, VEGETATION, rng)

    # sidewalk then road: trapezoids from the horizon down to the bottom edge
    road_half_top = w * rng.uniform(0.01, 0.04)
    road_top = (vanish_x - road_half_top, vanish_x + road_half_top)
    road_bottom = (w * rng.uniform(0.0, 0.2), w * rng.uniform(0.8, 1.0))
    walk_top = (
        road_top[0] - w * rng.uniform(0.01, 0.04),
        road_top[1] + w * rng.uniform(0.01, 0.04),
    )
    walk_bottom = (
        road_bottom[0] - w * rng.uniform(0.1, 0.3),
        road_bottom[1] + w * rng.uniform(0.1, 0.3),
    )
    sidewalk = layer()
    cv2.fillPoly(
        sidewalk,
        _pts([(walk_top[0], hz), (walk_top[1], hz), (walk_bottom[1], h), (walk_bottom[0], h)]),
        1,
    )
    _paint(image, label, sidewalk, SIDEWALK, rng)
    road = layer()
    cv2.fillPoly(
        road,
        _pts([(road_top[0], hz), (road_top[1], hz), (road_bottom[1], h), (road_bottom[0], h)]),
        1,
    )
    _paint(image, label, road, ROAD, rng)

    def ground(depth: float) -> tuple[float, tuple[float, float], tuple[float, float]]:
        """Row y = horizon + (H - horizon) x depth and the road's and sidewalk's (left, right)
        x at that row."""
        y = horizon + (h - horizon) * depth
        road_x = _road_edges(y, horizon, h, road_top, road_bottom)
        return y, road_x, _road_edges(y, horizon, h, walk_top, walk_bottom)

    # dashed lane mark: changes the image only, the pixels stay road
    marks = layer()
    centre_bottom = 0.5 * (road_bottom[0] + road_bottom[1])
    thickness = max(1, int(round(4 * scale)))
    cv2.line(marks, (int(vanish_x), hz), (int(centre_bottom), h - 1), 1, thickness)
    dash = max(4.0, 24.0 * scale)
    rows = np.arange(h)[:, None]
    on_dash = (np.floor((rows - hz) / dash) % 2 == 0) & (rows > hz + 2)
    mark_mask = (marks > 0) & on_dash & (label == ROAD)
    image[mark_mask] = np.float32(222.0) + rng.normal(0.0, 6.0, size=(int(mark_mask.sum()), 3))

    # fence on one side: rails, posts and diagonal mesh, 1 px lines
    fence = layer()
    if rng.random() < 0.7:
        left_side = rng.random() < 0.5
        x0 = w * (rng.uniform(0.0, 0.1) if left_side else rng.uniform(0.6, 0.75))
        x1 = x0 + w * rng.uniform(0.15, 0.3)
        y0 = horizon - h * rng.uniform(0.02, 0.08)
        y1 = horizon + h * rng.uniform(0.03, 0.08)
        xi0, xi1, yi0, yi1 = int(x0), int(x1), int(y0), int(y1)
        for yr in np.linspace(yi0, yi1, 3).astype(int):
            cv2.line(fence, (xi0, int(yr)), (xi1, int(yr)), 1, 1)
        pitch = max(3, int(round(14 * scale)))
        for xp in range(xi0, xi1 + 1, pitch):
            cv2.line(fence, (xp, yi0), (xp, yi1), 1, 1)
            cv2.line(fence, (xp, yi0), (xp + pitch, yi1), 1, 1)
    _paint(image, label, fence, FENCE, rng)

    # poles (1-3 px wide, standing on the sidewalk) and signs near their tops
    poles = layer()
    signs = layer()
    n_signs = 0
    for k in range(int(rng.integers(1, 5))):
        y_base, (left, right), (walk_l, walk_r) = ground(rng.uniform(0.05, 0.6))
        on_left = rng.random() < 0.5
        x = rng.uniform(walk_l, left) if on_left else rng.uniform(right, walk_r)
        x = float(np.clip(x, 1, w - 4))
        pole_width = int(rng.integers(1, 4))
        y_top = max(0.0, y_base - h * rng.uniform(0.3, 0.55) * (0.4 + (y_base - horizon) / h))
        xi = int(x)
        cv2.rectangle(poles, (xi, int(y_top)), (xi + pole_width - 1, int(y_base)), k + 1, -1)
        if rng.random() < 0.75:
            n_signs += 1
            half = max(2, int(round(w * rng.uniform(0.01, 0.022))))
            cy = int(y_top) + half
            cx = xi + pole_width // 2
            shape = int(rng.integers(0, 3))
            if shape == 0:
                cv2.rectangle(signs, (cx - half, cy - half), (cx + half, cy + half), n_signs, -1)
            elif shape == 1:
                cv2.circle(signs, (cx, cy), half, n_signs, -1)
            else:
                tri = _pts([(cx - half, cy + half), (cx + half, cy + half), (cx, cy - half)])
                cv2.fillPoly(signs, tri, n_signs)
    _paint(image, label, poles, POLE, rng)
    _paint(image, label, signs, SIGN, rng)

    # cars on the road, sized by depth d = (y - horizon) / (H - horizon)
    cars = layer()
    for k in range(int(rng.integers(0, 5))):
        y_bottom, (left, right), _ = ground(rng.uniform(0.08, 0.7))
        car_w = max(4.0, (right - left) * rng.uniform(0.25, 0.4))
        car_h = car_w * rng.uniform(0.45, 0.65)
        x0 = rng.uniform(left, max(left + 1.0, right - car_w))
        x1 = x0 + car_w
        y_mid = y_bottom - car_h * 0.55
        y_top = y_bottom - car_h
        inset = car_w * 0.18
        body = _pts(
            [
                (x0, y_bottom),
                (x0, y_mid),
                (x0 + inset, y_top),
                (x1 - inset, y_top),
                (x1, y_mid),
                (x1, y_bottom),
            ]
        )
        cv2.fillPoly(cars, body, k + 1)
    _paint(image, label, cars, CAR, rng)

    # persons on the sidewalk: body, head, legs
    persons = layer()
    for k in range(int(rng.integers(0, 5))):
        depth = rng.uniform(0.1, 0.8)
        y_feet, (left, right), (walk_l, walk_r) = ground(depth)
        cx = rng.uniform(walk_l, left) if rng.random() < 0.5 else rng.uniform(right, walk_r)
        cx = float(np.clip(cx, 2, w - 3))
        tall = max(6.0, h * rng.uniform(0.15, 0.3) * (0.3 + depth))
        half_w = max(1.0, tall * 0.13)
        hip = y_feet - tall * 0.45
        shoulder = y_feet - tall * 0.82
        head_r = max(1, int(round(tall * 0.09)))
        cv2.rectangle(
            persons, (int(cx - half_w), int(shoulder)), (int(cx + half_w), int(hip)), k + 1, -1
        )
        cv2.circle(persons, (int(cx), int(shoulder) - head_r), head_r, k + 1, -1)
        leg = max(1, int(round(half_w * 0.6)))
        cv2.line(persons, (int(cx), int(hip)), (int(cx - half_w), int(y_feet)), k + 1, leg)
        cv2.line(persons, (int(cx), int(hip)), (int(cx + half_w), int(y_feet)), k + 1, leg)
    _paint(image, label, persons, PERSON, rng)

    # rare bicycle: two wheel rings and a frame, 1 px lines
    bicycles = layer()
    if rng.random() < 0.35:
        depth = rng.uniform(0.2, 0.8)
        y_ground, (left, right), (walk_l, walk_r) = ground(depth)
        cx = rng.uniform(walk_l, left) if rng.random() < 0.5 else rng.uniform(right, walk_r)
        radius = max(2, int(round(h * 0.04 * (0.4 + depth))))
        cx = int(np.clip(cx, 2 * radius + 1, w - 2 * radius - 2))
        cy = int(y_ground) - radius
        back, front = (cx - radius - 1, cy), (cx + radius + 1, cy)
        saddle = (cx - radius // 2, cy - radius)
        cv2.circle(bicycles, back, radius, 1, 1)
        cv2.circle(bicycles, front, radius, 1, 1)
        cv2.line(bicycles, back, saddle, 1, 1)
        cv2.line(bicycles, saddle, front, 1, 1)
        cv2.line(bicycles, back, (cx, cy), 1, 1)
        cv2.line(bicycles, (cx, cy), saddle, 1, 1)
    _paint(image, label, bicycles, BICYCLE, rng)

    # a few small void blobs anywhere
    void = layer()
    for k in range(int(rng.integers(1, 4))):
        centre = (int(w * rng.uniform(0.0, 1.0)), int(h * rng.uniform(0.0, 1.0)))
        axes = (
            max(1, int(w * rng.uniform(0.008, 0.03))),
            max(1, int(h * rng.uniform(0.008, 0.03))),
        )
        cv2.ellipse(void, centre, axes, float(rng.uniform(0, 180)), 0.0, 360.0, k + 1, -1)
    _paint(image, label, void, VOID_ID, rng)

    # global brightness and colour cast
    image *= np.float32(rng.uniform(0.75, 1.2))
    image *= rng.uniform(0.94, 1.06, size=3).astype(np.float32)
    return np.clip(np.round(image), 0, 255).astype(np.uint8), label
