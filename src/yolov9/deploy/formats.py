"""Names of the export formats and benchmark rows (no heavy imports: the CLI's parser reads
them, and ``yolov9 --help`` must not load torch)."""

FORMATS = ("onnx", "openvino", "torchscript", "ncnn", "tflite", "coreml")
# what each option applies to (checked before any work)
NMS_FORMATS = ("onnx", "openvino", "coreml")
INT8_FORMATS = ("openvino", "tflite")
DYNAMIC_FORMATS = ("onnx", "openvino")

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
    "ncnn",
    "litert",
    "litert-fp16",
    "litert-int8",
    "cuda",
)
