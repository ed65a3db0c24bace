"""The photo upscale/restore API of seed 002, `POST /tasks/visual/scale` (docs/upscale.md).

Server side: `api` (routes), `order` (the request body), `fetch` and `addresses` (the
SSRF-safe image_url download), `qps`, `tasks`, `links`, `answers`. Worker side: the
`upscale` job in `enhance`, with `restore`, `faces` and `onnx_model`.
"""

from edge.upscale.api import add_routes

__all__ = ["add_routes"]
