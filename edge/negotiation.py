"""Automatic output format: `format,auto` (or a bucket's `auto_format`) resolved from the Accept header.

The choice is made before the canonical string is computed, so the cache key
and the ETag name the concrete format, and the answer says `Vary: Accept`.
"""

from __future__ import annotations

from edge.pipeline import Pipeline


def negotiate(pipeline: Pipeline, accept: str, bucket_auto: bool, animated_source: bool) -> tuple[Pipeline, bool]:
    """The pipeline with `format,auto` replaced by avif, webp or the source's format, and whether
    the answer depends on Accept. An animated source prefers webp, which keeps its frames."""
    asked = pipeline.setting("format")
    wants_auto = asked is not None and asked.is_negotiated()
    if pipeline.medium != "image" or not (wants_auto or (bucket_auto and asked is None)):
        return pipeline, False
    weights = accepted(accept)
    order = ("webp", "avif") if animated_source else ("avif", "webp")
    # The highest weight wins, ties go by `order`; a type named with q=0 is refused (RFC 9110 12.5.1).
    # Wildcards do not count: browsers that decode AVIF or WebP name them.
    offered = [(weights.get(f"image/{fmt}", 0.0), -rank, fmt) for rank, fmt in enumerate(order)]
    weight, _, best = max(offered)
    chosen = best if weight > 0 else None
    steps = [step for step in pipeline.steps if step.name != "format"]
    if chosen is not None:
        steps.extend(Pipeline.parse(f"image/format,{chosen}").steps)
    return Pipeline.of(steps, pipeline.medium), True


def accepted(accept: str) -> dict[str, float]:
    """Media type (lower case) -> its weight (q, 0..1; 1 when absent) in an Accept header.
    A part whose q is not a number is left out, as if the client had not sent it."""
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if not media:
            continue
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    weight = -1.0
        if weight >= 0:
            weights[media.lower()] = max(weight, weights.get(media.lower(), 0.0))
    return weights
