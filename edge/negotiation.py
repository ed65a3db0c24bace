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
    wants_auto = asked is not None and asked.target == "auto"
    if pipeline.kind != "image" or not (wants_auto or (bucket_auto and asked is None)):
        return pipeline, False
    accepted = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    order = ("webp", "avif") if animated_source else ("avif", "webp")
    chosen = next((fmt for fmt in order if f"image/{fmt}" in accepted), None)
    steps = [step for step in pipeline.steps if step.name != "format"]
    if chosen is not None:
        steps.extend(Pipeline.parse(f"image/format,{chosen}").steps)
    return Pipeline.of(steps, pipeline.kind), True
