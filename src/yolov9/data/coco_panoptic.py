"""COCO-Stuff and COCO panoptic categories: the authors' 93 stuff channels and how COCO
panoptic merges them into its 53 stuff categories.

The authors' panoptic head (``gelan-c-pan``) predicts, after the 80 COCO things, 93 stuff
channels: the 91 COCO-Stuff classes (ids 92-182), ``other`` (183) and ``unlabeled`` (0). COCO
panoptic keeps 53 stuff categories: some COCO-Stuff classes as they are, several merged into one
(``branch``, ``bush``, ``leaves`` and ``tree`` -> ``tree-merged``), the rest dropped. To score
such a model on COCO panoptic data each channel is mapped to its panoptic category as the
authors' panoptic evaluation maps it (``../shared/parity/pan/semantic_channels.json``); channels
with no category (dropped, ``other``, ``unlabeled``) give void pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

# (COCO-Stuff id, name, COCO panoptic category id or 0 for none), in channel order (channel 80 + i)
COCO_STUFF: tuple[tuple[int, str, int], ...] = (
    (92, "banner", 92),
    (93, "blanket", 93),
    (94, "branch", 184),
    (95, "bridge", 95),
    (96, "building-other", 197),
    (97, "bush", 184),
    (98, "cabinet", 188),
    (99, "cage", 185),
    (100, "cardboard", 100),
    (101, "carpet", 200),
    (102, "ceiling-other", 186),
    (103, "ceiling-tile", 186),
    (104, "cloth", 0),
    (105, "clothes", 0),
    (106, "clouds", 187),
    (107, "counter", 107),
    (108, "cupboard", 188),
    (109, "curtain", 109),
    (110, "desk-stuff", 189),
    (111, "dirt", 194),
    (112, "door-stuff", 112),
    (113, "fence", 185),
    (114, "floor-marble", 190),
    (115, "floor-other", 190),
    (116, "floor-stone", 191),
    (117, "floor-tile", 190),
    (118, "floor-wood", 118),
    (119, "flower", 119),
    (120, "fog", 187),
    (121, "food-other", 196),
    (122, "fruit", 122),
    (123, "furniture-other", 0),
    (124, "grass", 193),
    (125, "gravel", 125),
    (126, "ground-other", 0),
    (127, "hill", 192),
    (128, "house", 128),
    (129, "leaves", 184),
    (130, "light", 130),
    (131, "mat", 200),
    (132, "metal", 0),
    (133, "mirror-stuff", 133),
    (134, "moss", 193),
    (135, "mountain", 192),
    (136, "mud", 194),
    (137, "napkin", 195),
    (138, "net", 138),
    (139, "paper", 195),
    (140, "pavement", 191),
    (141, "pillow", 141),
    (142, "plant-other", 0),
    (143, "plastic", 0),
    (144, "platform", 144),
    (145, "playingfield", 145),
    (146, "railing", 185),
    (147, "railroad", 147),
    (148, "river", 148),
    (149, "road", 149),
    (150, "rock", 198),
    (151, "roof", 151),
    (152, "rug", 200),
    (153, "salad", 196),
    (154, "sand", 154),
    (155, "sea", 155),
    (156, "shelf", 156),
    (157, "sky-other", 187),
    (158, "skyscraper", 197),
    (159, "snow", 159),
    (160, "solid-other", 0),
    (161, "stairs", 161),
    (162, "stone", 198),
    (163, "straw", 193),
    (164, "structural-other", 0),
    (165, "table", 189),
    (166, "tent", 166),
    (167, "textile-other", 0),
    (168, "towel", 168),
    (169, "tree", 184),
    (170, "vegetable", 196),
    (171, "wall-brick", 171),
    (172, "wall-concrete", 199),
    (173, "wall-other", 199),
    (174, "wall-panel", 199),
    (175, "wall-stone", 175),
    (176, "wall-tile", 176),
    (177, "wall-wood", 177),
    (178, "water-other", 178),
    (179, "waterdrops", 0),
    (180, "window-blind", 180),
    (181, "window-other", 181),
    (182, "wood", 0),
    (183, "other", 0),
    (0, "unlabeled", 0),
)

# the 53 COCO panoptic stuff categories: (id, name)
COCO_PANOPTIC_STUFF: tuple[tuple[int, str], ...] = (
    (92, "banner"),
    (93, "blanket"),
    (95, "bridge"),
    (100, "cardboard"),
    (107, "counter"),
    (109, "curtain"),
    (112, "door-stuff"),
    (118, "floor-wood"),
    (119, "flower"),
    (122, "fruit"),
    (125, "gravel"),
    (128, "house"),
    (130, "light"),
    (133, "mirror-stuff"),
    (138, "net"),
    (141, "pillow"),
    (144, "platform"),
    (145, "playingfield"),
    (147, "railroad"),
    (148, "river"),
    (149, "road"),
    (151, "roof"),
    (154, "sand"),
    (155, "sea"),
    (156, "shelf"),
    (159, "snow"),
    (161, "stairs"),
    (166, "tent"),
    (168, "towel"),
    (171, "wall-brick"),
    (175, "wall-stone"),
    (176, "wall-tile"),
    (177, "wall-wood"),
    (178, "water-other"),
    (180, "window-blind"),
    (181, "window-other"),
    (184, "tree-merged"),
    (185, "fence-merged"),
    (186, "ceiling-merged"),
    (187, "sky-other-merged"),
    (188, "cabinet-merged"),
    (189, "table-merged"),
    (190, "floor-other-merged"),
    (191, "pavement-merged"),
    (192, "mountain-merged"),
    (193, "grass-merged"),
    (194, "dirt-merged"),
    (195, "paper-merged"),
    (196, "food-other-merged"),
    (197, "building-other-merged"),
    (198, "rock-merged"),
    (199, "wall-other-merged"),
    (200, "rug-merged"),
)

COCO_STUFF_NAMES: list[str] = [name for _, name, _ in COCO_STUFF]


def default_stuff_names(count: int, given: Sequence[str] | None = None) -> list[str]:
    """The names of ``count`` stuff channels: ``given`` when it has that many (as a checkpoint
    or an export records them), else COCO-Stuff's for the authors' 93-channel layout, else
    ``stuff0``, ``stuff1``, ..."""
    if given is not None and len(given) == count:
        return [str(n) for n in given]
    if count == len(COCO_STUFF_NAMES):
        return list(COCO_STUFF_NAMES)
    return [f"stuff{i}" for i in range(count)]
