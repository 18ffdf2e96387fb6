"""Deployment: export (ONNX with or without NMS, OpenVINO incl. INT8, TorchScript) and the
inference backends that run exported models through the same pre- and post-processing."""
