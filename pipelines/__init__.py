"""Item pipelines of the crawl: validate, normalise, mask, de-duplicate, publish (see `items`)."""

from pipelines.items import (
    ITEM_PIPELINES,
    DedupePipeline,
    MaskPipeline,
    NormalisePipeline,
    PublishPipeline,
    ValidatePipeline,
    content_hash,
    mask_post,
    normalise_post,
)
from pipelines.publish import SPOOL_FILE, Publisher, open_publisher

__all__ = [
    "ITEM_PIPELINES", "SPOOL_FILE", "DedupePipeline", "MaskPipeline", "NormalisePipeline", "Publisher",
    "PublishPipeline", "ValidatePipeline", "content_hash", "mask_post", "normalise_post", "open_publisher",
]
