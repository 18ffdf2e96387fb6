"""Names of the export formats and benchmark rows (no heavy imports: the CLI's parser reads
them, and ``yolov9 --help`` must not load torch)."""

FORMATS = ("onnx", "openvino", "torchscript")

BENCHMARK_BACKENDS = (
    "torch",
    "torch-bf16",
    "onnxruntime",
    "openvino",
    "openvino-bf16",
    "openvino-int8",
    "openvino-int8-mixed",
    "onnxruntime-plain",
    "openvino-plain",
    "cuda",
)
