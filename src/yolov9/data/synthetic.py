"""Synthetic scenes: coloured shapes on textured backgrounds, with exact boxes, and (in
segmentation mode) exact polygon masks on procedural photographic backgrounds.

Used by the demo and the test-suite (no downloads). Each class is a shape; colours, sizes,
positions and backgrounds vary, so a detector has to learn shape, not colour.

Detection (:func:`make_scene`, ``write_dataset(...)``): anti-aliased shapes on a gradient
texture, boxes only. Segmentation (:func:`make_segment_scene`, ``write_dataset(...,
masks=True)``): every object is a polygon with whole-pixel vertices, painted without
anti-aliasing on exactly the pixels COCO's rasteriser gives its polygon (the ground truth
of mask AP, :func:`coco_polygon_mask`); objects never overlap or touch; backgrounds are
crops of :func:`make_photo` images.
"""

from __future__ import annotations

import colorsys
import json
import math
from pathlib import Path

import cv2
import numpy as np
import yaml

SHAPES = ("circle", "square", "triangle", "star")
# farthest vertex from the centre, in radii (see ``_polygon``)
_REACH = {"circle": 1.0, "square": math.sqrt(2), "triangle": 1.15, "star": 1.2}
PHOTO_COUNT = 8
"""Procedural photos generated per segmentation dataset when ``photos`` is not given."""


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth colour gradient + blurred noise + a few thin lines."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    t = (x * rng.uniform(-1, 1) + y * rng.uniform(-1, 1)) / (h + w) + 0.5
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    noise = cv2.GaussianBlur(rng.normal(0, 25, (h, w, 3)).astype(np.float32), (0, 0), 3)
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(2, 6)):
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        cv2.line(img, p1, p2, colour, int(rng.integers(1, 3)), cv2.LINE_AA)
    return img


def _fractal(
    rng: np.random.Generator, h: int, w: int, channels: int = 1, finest: int = 128
) -> np.ndarray:
    """(h, w, channels) float32 multi-scale (1/f-like) smooth noise, zero mean, unit std:
    clouds, terrain, texture. Built coarse to fine (each octave upsampled 2x and detailed),
    finest detail ``max(h, w) / finest`` px."""
    beta = float(rng.uniform(0.5, 1.1))  # larger: smoother
    ch, cw = max(2, round(2 * h / max(h, w))), max(2, round(2 * w / max(h, w)))
    out: np.ndarray = rng.standard_normal((ch, cw, channels), dtype=np.float32)
    cells = 2
    while cells < min(finest, max(h, w) // 2):
        cells, ch, cw = cells * 2, ch * 2, cw * 2
        out = cv2.resize(out, (cw, ch), interpolation=cv2.INTER_CUBIC).reshape(ch, cw, channels)
        out += rng.standard_normal((ch, cw, channels), dtype=np.float32) * (cells / 2) ** -beta
    out = cv2.resize(out, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, channels)
    return (out - out.mean()) / (out.std() + 1e-6)


def _natural_colour(rng: np.random.Generator, hue: float) -> np.ndarray:
    """An RGB colour (float32, 0-255) near ``hue`` (0-1), mostly muted, as in photographs."""
    h = (hue + rng.normal(0, 0.08)) % 1.0
    s, v = float(rng.beta(1.5, 2.5)), float(rng.uniform(0.12, 0.95))
    return np.array(colorsys.hsv_to_rgb(h, s, v), np.float32) * 255


def make_photo(rng: np.random.Generator, size: tuple[int, int] = (512, 512)) -> np.ndarray:
    """A procedural "photograph": an (H, W, 3) uint8 RGB image of natural-looking clutter.

    Layers, in colours around two or three hues (as a scene's palette): a lit gradient with
    multi-scale cloud noise; regions bounded by thresholded fractal noise (soft or sharp
    natural outlines, each with its own texture); soft-edged blobs; straight edges where the
    brightness changes; blurred wires and branch-like curves; then lens blur, vignetting and
    sensor noise. No sharp regular shapes, so crops of it are backgrounds, not extra objects.
    About 0.1 s for 512 x 512 on one core.
    """
    h, w = size
    scale = max(h, w)
    hues = rng.uniform(0, 1, int(rng.integers(2, 4)))

    def colour() -> np.ndarray:
        return _natural_colour(rng, float(rng.choice(hues)))

    # planar (3, H, W) float32 while compositing: per-pixel weights broadcast fast
    y, x = np.mgrid[0:h, 0:w].astype(np.float32) / scale

    def plane(v: np.ndarray) -> np.ndarray:
        return v.reshape(-1, 1, 1)

    # base: two-colour gradient + luminance and colour clouds
    t = x * rng.uniform(-1, 1) + y * rng.uniform(-1, 1)
    t = (t - t.min()) / (np.ptp(t) + 1e-6)
    c0, c1 = colour(), colour()
    img = plane(c0) + t * plane(c1 - c0)
    img += _fractal(rng, h, w)[..., 0] * rng.uniform(10, 30)
    img += _fractal(rng, h, w, 3, finest=32).transpose(2, 0, 1) * rng.uniform(3, 10)
    # regions with natural outlines (fields, foliage, rocks, sky), each textured
    for _ in range(int(rng.integers(2, 6))):
        field = _fractal(rng, h, w, finest=int(rng.choice([16, 32, 64])))[..., 0]
        edge = float(rng.uniform(0.02, 0.4))  # transition width, in std of the field
        alpha = np.clip((field - rng.uniform(-0.3, 1.2)) / edge, 0, 1)
        texture = _fractal(rng, h, w, finest=int(rng.choice([64, 128, 256])))[..., 0]
        texture *= rng.uniform(5, 30)
        img += alpha * (plane(colour()) + texture - img)
    # soft blobs, drawn at a quarter of the resolution and scaled up (soft edges for free)
    sh, sw = max(h // 4, 2), max(w // 4, 2)
    for _ in range(int(rng.integers(2, 7))):
        blob: np.ndarray = np.zeros((sh, sw), np.float32)
        axes = (int(rng.uniform(2, sw / 3)), int(rng.uniform(2, sh / 3)))
        centre = (int(rng.integers(0, sw)), int(rng.integers(0, sh)))
        cv2.ellipse(blob, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        blob = cv2.GaussianBlur(blob, (0, 0), float(rng.uniform(0.5, 4)))
        soft = cv2.resize(blob, (w, h), interpolation=cv2.INTER_LINEAR)
        img += soft * rng.uniform(0.3, 0.9) * (plane(colour()) - img)
    # straight edges: brightness steps across a line (walls, horizons, shadows)
    for _ in range(int(rng.integers(0, 3))):
        angle = rng.uniform(0, 2 * math.pi)
        d = (x - rng.uniform(0, w / scale)) * math.cos(angle)
        d += (y - rng.uniform(0, h / scale)) * math.sin(angle)
        step = np.clip(d * scale / rng.uniform(0.5, 3) + 0.5, 0, 1)
        img *= 1 + step * rng.uniform(-0.35, 0.35)
    r2 = (x - 0.5 * w / scale) ** 2 + (y - 0.5 * h / scale) ** 2
    img *= 1 - rng.uniform(0, 0.6) * r2  # vignetting
    # wires (long straight lines) and branches (curves that turn gradually)
    hwc: np.ndarray = np.ascontiguousarray(img.transpose(1, 2, 0))
    for _ in range(int(rng.integers(2, 10))):
        n = 2 if rng.random() < 0.3 else int(rng.integers(8, 20))
        heading = rng.uniform(0, 2 * math.pi) + rng.normal(0, 0.15, n - 1).cumsum()
        length = rng.uniform(0.3, 1.2) * scale / (n - 1)
        steps = np.stack((np.cos(heading), np.sin(heading)), 1) * length
        start = rng.uniform(0, 1, 2) * (w, h)
        points = np.round(start + np.vstack(([0, 0], steps.cumsum(0)))).astype(np.int32)
        shade = tuple(float(v) for v in colour() * rng.uniform(0.2, 1.0))
        thickness = int(rng.integers(1, max(2, scale // 128)))
        cv2.polylines(hwc, [points], False, shade, thickness, cv2.LINE_AA)
    # optics and sensor
    blurred = np.asarray(cv2.GaussianBlur(hwc, (0, 0), float(rng.uniform(0.4, 1.2))), np.float32)
    grain = rng.standard_normal((h, w, 3), dtype=np.float32) * rng.uniform(0.5, 2)
    luma = np.asarray(
        cv2.merge([rng.standard_normal((h, w), dtype=np.float32) * rng.uniform(1, 5)] * 3),
        np.float32,
    )
    return np.clip(blurred + grain + luma, 0, 255).astype(np.uint8)


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    if shape == "square":
        k, radii = 4, [r * math.sqrt(2)] * 4
        angle += math.pi / 4
    elif shape == "triangle":
        k, radii = 3, [r * 1.15] * 3
    else:  # star
        k, radii = 10, [r * 1.2 if i % 2 == 0 else r * 0.5 for i in range(10)]
    pts = [
        (
            cx + rad * math.cos(angle + 2 * math.pi * i / k),
            cy + rad * math.sin(angle + 2 * math.pi * i / k),
        )
        for i, rad in enumerate(radii)
    ]
    return np.array(pts, dtype=np.float32)


def make_scene(
    rng: np.random.Generator,
    size: tuple[int, int] = (256, 256),
    *,
    max_objects: int = 6,
    num_classes: int = len(SHAPES),
    min_radius: float = 8.0,
    max_radius: float | None = None,
    max_overlap: float = 0.25,
    photo: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One RGB scene with 1 ... ``max_objects`` shapes (none if ``max_objects`` is 0).

    Objects overlap each other by at most ``max_overlap`` of the smaller one's box. With a
    ``photo`` (RGB), the background is a random crop of it instead of a generated texture.

    Returns:
        image: (H, W, 3) uint8 RGB.
        boxes: (N, 4) float32 xyxy boxes in whole pixels, tight around each shape, clipped.
        labels: (N,) int64 class ids in [0, num_classes).
    """
    h, w = size
    img = _background(rng, h, w) if photo is None else _photo_crop(rng, photo, h, w)
    max_r = max_radius or min(h, w) / 5
    boxes: list[np.ndarray] = []
    labels: list[int] = []
    count = int(rng.integers(1, max_objects + 1)) if max_objects > 0 else 0
    for _ in range(count):
        label = int(rng.integers(0, num_classes))
        for _attempt in range(20):  # keep objects mostly unoccluded
            r = float(rng.uniform(min_radius, max_r))
            cx, cy = float(rng.uniform(r, w - r)), float(rng.uniform(r, h - r))
            around = np.array([cx - 1.2 * r, cy - 1.2 * r, cx + 1.2 * r, cy + 1.2 * r])
            if all(_overlap(around, b) < max_overlap for b in boxes):
                break
        else:
            continue
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        shape = SHAPES[label % len(SHAPES)]
        if shape == "circle":
            cv2.circle(img, (round(cx), round(cy)), round(r), colour, -1, cv2.LINE_AA)
            extent = np.array([cx - r, cy - r, cx + r, cy + r])
        else:
            pts = _polygon(shape, cx, cy, r, float(rng.uniform(0, 2 * math.pi)))
            cv2.fillPoly(img, [np.round(pts).astype(np.int32)], colour, cv2.LINE_AA)
            extent = np.concatenate((pts.min(0), pts.max(0)))
        # whole pixels: every label format stores them exactly
        boxes.append(np.clip(np.round(extent), 0, [w, h, w, h]))
        labels.append(label)
    return img, np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64)


def _outline(shape: str, cx: float, cy: float, r: float, angle: float, sides: int) -> np.ndarray:
    """The shape's (K, 2) float32 polygon; a circle is a regular ``sides``-gon."""
    if shape != "circle":
        return _polygon(shape, cx, cy, r, angle)
    a = angle + 2 * math.pi * np.arange(sides) / sides
    return np.stack((cx + r * np.cos(a), cy + r * np.sin(a)), 1).astype(np.float32)


def _pixel_polygon(points: np.ndarray, w: int, h: int) -> np.ndarray:
    """``points`` rounded to whole pixels inside the image, without repeated vertices."""
    pts = np.clip(np.round(points), 0, [w - 1, h - 1]).astype(np.float32)
    keep = np.any(pts != np.roll(pts, 1, axis=0), axis=1)
    return pts[keep] if keep.any() else pts[:1]


def _apart(a: np.ndarray, b: np.ndarray, gap: int) -> bool:
    """Whether xyxy pixel extents (inclusive) ``a`` and ``b`` are more than ``gap`` px apart."""
    return bool(a[0] > b[2] + gap or b[0] > a[2] + gap or a[1] > b[3] + gap or b[1] > a[3] + gap)


def make_segment_scene(
    rng: np.random.Generator,
    size: tuple[int, int] = (256, 256),
    *,
    max_objects: int = 6,
    num_classes: int = len(SHAPES),
    min_radius: float = 8.0,
    max_radius: float | None = None,
    photo: np.ndarray | None = None,
    circle_sides: tuple[int, int] = (48, 64),
    gap: int = 2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """One RGB instance-segmentation scene with 1 ... ``max_objects`` shapes (none if 0).

    Every object is a polygon with whole-pixel vertices inside the image (a circle a regular
    polygon of ``circle_sides`` [low, high] sides), painted in one flat colour, without
    anti-aliasing, on exactly the pixels of its COCO rasterisation
    (:func:`coco_polygon_mask`, what mask AP scores against). Objects never overlap:
    their extents stay more than ``gap`` px apart (``max_overlap`` = 0), so every mask is
    wholly visible. The colour differs from the mean of the background under the object by
    at least 64 in some channel. The background is a random crop of ``photo`` (RGB), randomly
    flipped, or a fresh :func:`make_photo` image when there is none.

    Returns:
        image: (H, W, 3) uint8 RGB.
        boxes: (N, 4) float32 xyxy boxes: the polygons' bounds (whole pixels).
        labels: (N,) int64 class ids in [0, num_classes).
        polygons: N (K, 2) float32 polygons, x, y in whole pixels.
    """
    from yolov9.data.labels import polygon_area, self_intersecting  # imports torch: lazily

    h, w = size
    img = make_photo(rng, size) if photo is None else _photo_crop(rng, photo, h, w)
    if photo is not None:
        flip = int(rng.integers(-1, 3))  # 2: none, else cv2.flip's code
        img = img if flip == 2 else np.ascontiguousarray(cv2.flip(img, flip))
    max_r = max_radius or min(h, w) / 5
    boxes: list[np.ndarray] = []
    labels: list[int] = []
    polygons: list[np.ndarray] = []
    count = int(rng.integers(1, max_objects + 1)) if max_objects > 0 else 0
    for _ in range(count):
        label = int(rng.integers(0, num_classes))
        shape = SHAPES[label % len(SHAPES)]
        for _attempt in range(30):
            reach = float(rng.uniform(min_radius, max_r)) * _REACH[shape]
            reach = min(reach, (min(h, w) - 1) / 2)
            cx, cy = (
                float(rng.uniform(reach, w - 1 - reach)),
                float(rng.uniform(reach, h - 1 - reach)),
            )
            sides = int(rng.integers(circle_sides[0], circle_sides[1] + 1))
            outline = _outline(
                shape, cx, cy, reach / _REACH[shape], float(rng.uniform(0, 2 * math.pi)), sides
            )
            pts = _pixel_polygon(outline, w, h)
            box = np.concatenate((pts.min(0), pts.max(0)))
            if (
                len(pts) >= 3
                and polygon_area(pts) > 0
                and not self_intersecting(pts)
                and all(_apart(box, b, gap) for b in boxes)
            ):
                break
        else:
            continue
        x1, y1, x2, y2 = box.astype(int).tolist()
        under = img[y1 : y2 + 1, x1 : x2 + 1].reshape(-1, 3).mean(0)
        for _attempt in range(20):
            colour = rng.integers(0, 256, 3)
            if np.abs(colour - under).max() >= 64:
                break
        else:
            colour = np.where(under < 128, 255, 0)
        img[coco_polygon_mask(pts, h, w)] = colour
        boxes.append(box)
        labels.append(label)
        polygons.append(pts)
    return img, np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64), polygons


def coco_polygon_mask(polygon: np.ndarray, h: int, w: int) -> np.ndarray:
    """(h, w) bool: the pixels COCO's polygon rasteriser (which scores masks) gives
    ``polygon``; the segmentation scenes paint exactly these, so a model that finds every
    object's pixels scores mask AP 1."""
    from faster_coco_eval.core import mask as coco_mask

    rle = coco_mask.frPyObjects([polygon.astype(np.float64).ravel().tolist()], h, w)
    return coco_mask.decode(rle)[..., 0].astype(bool)


def _photo_crop(rng: np.random.Generator, photo: np.ndarray, h: int, w: int) -> np.ndarray:
    """A random crop of ``photo`` (30-100 % of its shorter side), resized to (h, w)."""
    ph, pw = photo.shape[:2]
    side = int(min(ph, pw) * rng.uniform(0.3, 1.0))
    ch, cw = min(ph, int(side * h / max(h, w) * 1.0) or 1), min(pw, int(side * w / max(h, w)) or 1)
    y, x = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    crop = photo[y : y + ch, x : x + cw]
    return np.ascontiguousarray(cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA))


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box's area."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(iw * ih / smaller)


def _yolo_lines(boxes: np.ndarray, labels: np.ndarray, w: int, h: int) -> str:
    rows = []
    for (x1, y1, x2, y2), c in zip(boxes.tolist(), labels.tolist(), strict=True):
        rows.append(
            f"{c} {(x1 + x2) / 2 / w!r} {(y1 + y2) / 2 / h!r} {(x2 - x1) / w!r} {(y2 - y1) / h!r}"
        )
    return "\n".join(rows)


def _normalised(values: np.ndarray, size: int) -> list[str]:
    """Whole-pixel coordinates divided by ``size``, as text that reads back to the pixel or a
    float32 step above it, both in float64 and as the float32 product ``float32(text) *
    float32(size)`` that YOLO loaders compute, so truncation to int32 (mask rasterisation)
    gives back the whole pixel: the shortest decimal of the quotient where that holds
    already, else the float32 quotient rounded up, written exactly (``x / w`` alone reads
    back as ``x - 1e-6`` for some x and w, e.g. 13 / 22)."""
    v = np.asarray(values, np.float64).ravel()
    q = v / size
    f = q.astype(np.float32)
    exact = (q * size >= v) & (f * np.float32(size) >= v)
    up = f.copy()
    low = up.astype(np.float64) * size < v
    up[low] = np.nextafter(up[low], np.float32(np.inf))
    return [
        repr(a) if ok else repr(b)
        for a, b, ok in zip(q.tolist(), up.astype(np.float64).tolist(), exact.tolist(), strict=True)
    ]


def _yolo_polygon_lines(polygons: list[np.ndarray], labels: np.ndarray, w: int, h: int) -> str:
    rows = []
    for pts, c in zip(polygons, labels.tolist(), strict=True):
        xs, ys = _normalised(pts[:, 0], w), _normalised(pts[:, 1], h)
        rows.append(" ".join([str(c), *(t for xy in zip(xs, ys, strict=True) for t in xy)]))
    return "\n".join(rows)


def _coco_polygon_annotations(
    polygons: list[np.ndarray], labels: np.ndarray, image_id: int, first_id: int
) -> list[dict]:
    from yolov9.data.labels import polygon_area

    out = []
    for k, (pts, c) in enumerate(zip(polygons, labels.tolist(), strict=True)):
        (x1, y1), (x2, y2) = pts.min(0).astype(int).tolist(), pts.max(0).astype(int).tolist()
        out.append(
            {
                "id": first_id + k,
                "image_id": image_id,
                "category_id": int(c) + 1,
                "segmentation": [pts.astype(int).ravel().tolist()],
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": polygon_area(pts),
                "iscrowd": 0,
            }
        )
    return out


def _voc_xml(name: str, boxes: np.ndarray, labels: np.ndarray, w: int, h: int) -> str:
    objects = "".join(
        f"<object><name>{SHAPES[c]}</name><difficult>0</difficult><bndbox><xmin>{int(b[0]) + 1}"
        f"</xmin><ymin>{int(b[1]) + 1}</ymin><xmax>{int(b[2])}</xmax><ymax>{int(b[3])}</ymax>"
        "</bndbox></object>"
        for b, c in zip(boxes, labels, strict=True)
    )
    return (
        f"<annotation><filename>{name}</filename><size><width>{w}</width><height>{h}"
        f"</height><depth>3</depth></size>{objects}</annotation>"
    )


def write_dataset(
    root: str | Path,
    *,
    splits: dict[str, int] | None = None,
    size: tuple[int, int] = (256, 256),
    seed: int = 0,
    formats: tuple[str, ...] = ("yolo",),
    max_objects: int = 6,
    background_every: int = 0,
    photos: list[str | Path] | None = None,
    masks: bool = False,
    radius: tuple[float, float | None] = (8.0, None),
) -> dict[str, Path]:
    """Write a shapes dataset (same images, same boxes) in any of the formats ``yolo``,
    ``coco`` and ``voc``; return each format's description file.

    Layout: ``images/<split>/*.png``; YOLO ``labels/<split>/*.txt``; COCO
    ``annotations/instances_<split>.json``; VOC ``voc/<split>/*.xml``. With
    ``background_every=k`` every k-th image has no objects. ``photos``: image files whose
    random crops serve as backgrounds (real photographic clutter instead of textures).

    ``masks=True`` writes an instance-segmentation dataset (:func:`make_segment_scene`):
    exact polygons with whole-pixel vertices, drawn without anti-aliasing so the pixels are
    the masks, objects never overlapping (``max_overlap`` = 0). YOLO labels are polygon lines
    ``class x1 y1 x2 y2 ...`` (normalised so that readers recover the whole pixels, see
    :func:`_normalised`), COCO annotations carry ``segmentation`` [[x1, y1, ...]], ``area``
    (the polygon's) and ``bbox`` (its bounds); VOC stays boxes only. Without ``photos`` the
    backgrounds are crops of :data:`PHOTO_COUNT` :func:`make_photo` images generated at
    twice the image size (at most 1024 px). Same seed, same dataset; detection datasets are
    unchanged by this mode's existence. ``radius``: the detection shapes' (min, max) radius in
    pixels (None: a fifth of the shorter side), e.g. (4, 12) for 8-24 px objects.
    """
    root = Path(root)
    splits = splits or {"train": 64, "val": 16}
    rng = np.random.default_rng(seed)
    h, w = size
    categories = [{"id": k + 1, "name": n} for k, n in enumerate(SHAPES)]
    generated: list[np.ndarray] = []
    if masks and not photos:
        f = min(2.0, 1024 / max(h, w))
        generated = [make_photo(rng, (round(h * f), round(w * f))) for _ in range(PHOTO_COUNT)]
    for split, count in splits.items():
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        images: list[dict] = []
        annotations: list[dict] = []
        for i in range(count):
            empty = background_every > 0 and i % background_every == background_every - 1
            photo = None
            if photos:
                from yolov9.data.images import read_image

                photo = read_image(photos[int(rng.integers(len(photos)))])
            polygons: list[np.ndarray] | None = None
            if masks:
                photo = photo if photo is not None else generated[rng.integers(len(generated))]
                image, boxes, labels, polygons = make_segment_scene(
                    rng, size, max_objects=0 if empty else max_objects, photo=photo
                )
            else:
                image, boxes, labels = make_scene(
                    rng,
                    size,
                    max_objects=0 if empty else max_objects,
                    photo=photo,
                    min_radius=radius[0],
                    max_radius=radius[1],
                )
            name = f"{split}_{i:05d}.png"
            cv2.imwrite(str(root / "images" / split / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            if "yolo" in formats:
                (root / "labels" / split).mkdir(parents=True, exist_ok=True)
                (root / "labels" / split / name).with_suffix(".txt").write_text(
                    _yolo_lines(boxes, labels, w, h)
                    if polygons is None
                    else _yolo_polygon_lines(polygons, labels, w, h)
                )
            if "voc" in formats:
                (root / "voc" / split).mkdir(parents=True, exist_ok=True)
                (root / "voc" / split / name).with_suffix(".xml").write_text(
                    _voc_xml(name, boxes, labels, w, h)
                )
            images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
            if polygons is not None:
                annotations += _coco_polygon_annotations(
                    polygons, labels, i + 1, first_id=len(annotations) + 1
                )
                continue
            for (x1, y1, x2, y2), c in zip(boxes.tolist(), labels.tolist(), strict=True):
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": i + 1,
                        "category_id": int(c) + 1,
                        "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "area": (x2 - x1) * (y2 - y1),
                        "iscrowd": 0,
                    }
                )
        if "coco" in formats:
            (root / "annotations").mkdir(exist_ok=True)
            coco = {"images": images, "annotations": annotations, "categories": categories}
            (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(coco))
    descriptions = {
        "yolo": ("data.yaml", {"names": list(SHAPES), **{s: f"images/{s}" for s in splits}}),
        "coco": (
            "data_coco.yaml",
            {
                s: {"images": f"images/{s}", "annotations": f"annotations/instances_{s}.json"}
                for s in splits
            },
        ),
        "voc": (
            "data_voc.yaml",
            {
                "format": "voc",
                "names": list(SHAPES),
                **{s: {"images": f"images/{s}", "annotations": f"voc/{s}"} for s in splits},
            },
        ),
    }
    out = {}
    for fmt in formats:
        filename, desc = descriptions[fmt]
        out[fmt] = root / filename
        out[fmt].write_text(
            yaml.safe_dump({"path": str(Path(root).resolve()), **desc}, sort_keys=False)
        )
    return out
