"""``yolov9 serve``: an HTTP service and a web page for every task and backend (module
:mod:`.app` for the endpoints, :mod:`.batcher` for dynamic batching with a bounded queue,
:mod:`.images` for upload limits). The web framework and server come with the ``serve``
extra (``pip install 'yolov9[serve]'``); nothing here imports them until a service starts."""

from yolov9.serving.images import BadInputError, ImageLimits
from yolov9.serving.server import build_app, serve
from yolov9.serving.service import ServeOptions

__all__ = ["BadInputError", "ImageLimits", "ServeOptions", "build_app", "serve"]
