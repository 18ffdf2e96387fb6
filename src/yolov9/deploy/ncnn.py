"""NCNN export through pnnx: a folder with ``<name>.param``, ``<name>.bin`` and ``<name>.json``.

pnnx traces the inference graph (TorchScript), rewrites it and writes the NCNN files; the
network keeps the decoding (boxes in input pixels, class probabilities), so the outputs are
those of every other export, read in :data:`yolov9.inference.exported.OUTPUTS` order (with
``coefficients`` and ``prototypes`` for segmentation models). NCNN files carry no metadata:
the class names, input size and task are in the ``.json`` next to them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from yolov9.deploy.capture import output_to
from yolov9.deploy.graph import ExportGraph, ExportOptions
from yolov9.errors import ConfigError
from yolov9.models import YOLOv9


def export_ncnn(model: YOLOv9, folder: Path, opts: ExportOptions, meta: dict[str, Any]) -> Path:
    """Write ``folder/<folder name>.param``/``.bin``/``.json``; return the ``.param`` path.
    ``opts.half`` stores the weights as fp16 (NCNN computes in fp32 on x86, in fp16 where the
    CPU has it)."""
    import warnings

    import pnnx

    graph = ExportGraph(model).eval()
    example = torch.rand(1, 3, opts.imgsz, opts.imgsz)
    name = folder.name.removesuffix("_ncnn") or "model"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="yolov9-pnnx-") as tmp:
        work = Path(tmp)
        log = work / "pnnx.log"
        try:
            with output_to(log), torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pnnx.export(
                    graph,
                    str(work / "model.pt"),
                    (example,),
                    check_trace=False,
                    fp16=opts.half,
                    ncnnparam=str(work / "model.param"),
                    ncnnbin=str(work / "model.bin"),
                )
        except Exception as e:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ConfigError(f"pnnx could not convert the model: {e}\n{tail}") from e
        if not (work / "model.param").is_file():
            tail = log.read_text(errors="replace")[-2000:]
            raise ConfigError(f"pnnx wrote no NCNN model; its log ends:\n{tail}")
        param = folder / f"{name}.param"
        shutil.move(work / "model.bin", folder / f"{name}.bin")
        shutil.move(work / "model.param", param)
    outputs = list(graph.output_names)
    (folder / f"{name}.json").write_text(json.dumps({**meta, "outputs": outputs}, indent=1))
    return param
