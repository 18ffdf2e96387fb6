"""The categories of a panoptic model's segments and which semantic channel gives which.

A panoptic model's semantic head has one channel per thing class (the detector's classes, in
their order) and then one per stuff class. A model trained on a user's panoptic data has one
channel per category, so its segments' categories are its channels. The authors' COCO model
(``gelan-c-pan``, 93 stuff channels in COCO-Stuff's layout) predicts stuff classes COCO
panoptic merges or drops: its stuff channels map onto the 53 COCO panoptic stuff categories as
the authors' evaluation maps them (:mod:`yolov9.data.coco_panoptic`), and unmapped channels
(``other``, ``unlabeled``, dropped classes) give void.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from yolov9.data.coco80 import COCO80_NAMES, COCO80_TO_91, is_coco80
from yolov9.data.coco_panoptic import COCO_PANOPTIC_STUFF, COCO_STUFF, COCO_STUFF_NAMES

VOID = -1  # a channel that gives no category


@dataclass(frozen=True)
class PanopticLabels:
    """The categories a panoptic model's segments take.

    Attributes:
        names: category names, the things (the model's classes) first, then the stuff.
        num_things: how many of ``names`` are things.
        channel_category: (channels,) int64, the category index of each semantic channel,
            ``VOID`` (-1) for a channel that gives none.
        category_ids: the id each category is written with in COCO panoptic files (COCO's
            own ids for the COCO layout; 1, 2, ... otherwise).
    """

    names: tuple[str, ...]
    num_things: int
    channel_category: np.ndarray
    category_ids: tuple[int, ...]

    @classmethod
    def for_model(cls, thing_names: Sequence[str], stuff_names: Sequence[str]) -> PanopticLabels:
        """The label space of a model with these thing and stuff channels."""
        things, stuff = list(thing_names), list(stuff_names)
        if is_coco80(things) and stuff == COCO_STUFF_NAMES:
            return cls.coco()
        names = tuple(things + stuff)
        return cls(
            names=names,
            num_things=len(things),
            channel_category=np.arange(len(names), dtype=np.int64),
            category_ids=tuple(range(1, len(names) + 1)),
        )

    @classmethod
    def coco(cls) -> PanopticLabels:
        """The authors' COCO layout (80 things + 93 COCO-Stuff channels) onto the 133 COCO
        panoptic categories."""
        stuff_index = {pid: 80 + i for i, (pid, _) in enumerate(COCO_PANOPTIC_STUFF)}
        channel = [*range(80)] + [stuff_index.get(pid, VOID) for _, _, pid in COCO_STUFF]
        return cls(
            names=tuple(COCO80_NAMES) + tuple(name for _, name in COCO_PANOPTIC_STUFF),
            num_things=80,
            channel_category=np.array(channel, dtype=np.int64),
            category_ids=tuple(COCO80_TO_91) + tuple(pid for pid, _ in COCO_PANOPTIC_STUFF),
        )

    def isthing(self, category: int) -> bool:
        return 0 <= category < self.num_things

    def coco_categories(self) -> list[dict[str, object]]:
        """The ``categories`` list of a COCO panoptic JSON for these labels."""
        return [
            {"id": cid, "name": name, "isthing": int(self.isthing(i)), "supercategory": ""}
            for i, (cid, name) in enumerate(zip(self.category_ids, self.names, strict=True))
        ]
