"""edge: an image-processing CDN origin that speaks Alibaba OSS `x-oss-process`."""

__version__ = "0.1.0"
