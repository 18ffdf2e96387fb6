"""Captions of the generated panoptic world (:mod:`.synthetic_world`): five per scene from
varied templates that say which things there are and how many (``disc``, ``box``,
``triangle``, listed left to right), where the first two stand relative to each other (left
of, right of, above, below), and which stuff they stand in (the ground, ``grass`` or
``sand``; ``water`` and a ``wall`` when present). Every word follows from the label map and
the thing polygons, so a model can learn them all; the all-task demo and benchmark's."""

from __future__ import annotations

import numpy as np

_NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four"}


def _plural(name: str) -> str:
    return f"{name}es" if name.endswith("x") else f"{name}s"


def _listing(names: list[str]) -> str:
    """``a disc, two boxes and a triangle``: counts per kind, in order of first appearance."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    parts = [f"a {k}" if n == 1 else f"{_NUMBERS[n]} {_plural(k)}" for k, n in counts.items()]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _relation(a: np.ndarray, b: np.ndarray) -> str:
    """Where centre ``a`` is relative to centre ``b``: the larger offset decides."""
    dx, dy = a[0] - b[0], a[1] - b[1]
    if abs(dx) >= abs(dy):
        return "left of" if dx < 0 else "right of"
    return "above" if dy < 0 else "below"


def world_captions(
    label: np.ndarray,
    things: list[tuple[int, np.ndarray]],
    names: tuple[str, ...],
    rng: np.random.Generator,
) -> list[str]:
    """Five captions of a scene: its label map (category index per pixel), its thing
    polygons ``(category, (K, 2) pixels)`` and the category ``names``."""
    present = {names[int(c)] for c in np.unique(label) if int(c) < len(names)}
    ground = "sand" if "sand" in present else "grass"
    extras = [s for s in ("water", "wall") if s in present]
    centres = [p.astype(np.float64).mean(0) for _, p in things]
    order = sorted(range(len(things)), key=lambda k: centres[k][0])  # left to right
    kinds = [names[things[k][0]] for k in order]
    listing = _listing(kinds)
    n = len(kinds)
    noun = "thing" if n == 1 else "things"
    setting = ground + "".join(f" by the {s}" if s == "water" else f" near a {s}" for s in extras)
    captions = [
        f"{listing} on {ground}",
        f"{_NUMBERS[n]} {noun} on {setting}",
        f"a {ground} scene with {listing}",
    ]
    if n >= 2:
        a, b = order[0], order[1]
        first, second = names[things[a][0]], names[things[b][0]]
        captions.append(f"a {first} {_relation(centres[a], centres[b])} a {second}")
    else:
        captions.append(f"a single {kinds[0]} under the sky")
    if extras:
        captions.append(f"{listing} and {' and '.join(extras)} on {ground}")
    else:
        captions.append(f"{listing} under the sky on {ground}")
    order_out = rng.permutation(len(captions))
    return [captions[i] for i in order_out]
