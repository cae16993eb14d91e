"""What analysis reads text with: the segmenter, the keyword table and the sentiment model.

All three are loaded from the shipped files at the edge (`stores.language`; one per process in
`workers.build.shipped_language`) and handed to the analyzer and to whoever else reads text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from analysis.keywords import KeywordTable
from analysis.segment import Segmenter
from analysis.sentiment import SentimentModel
from yuqing.schema import Sentiment


@dataclass(frozen=True)
class Language:
    segmenter: Segmenter
    keywords: KeywordTable
    sentiment: SentimentModel

    def classify_text(self, text: str, targets: Iterable[str] = ()) -> Sentiment:
        """Sentiment of a raw post: segmented (author's words and repost chain), then classified.
        `targets`: names of the departments and policies the post is about, beyond the office's usual names."""
        segmented = self.segmenter.segment_post(text)
        return self.sentiment.classify(segmented.own, segmented.quoted, targets)

    def keywords_of(self, words: Iterable[str], top_k: int = 8) -> list[str]:
        """The best `top_k` keywords of a post's words, in their written form (双随机、一公开)."""
        return self.segmenter.display_forms([word for word, _ in self.keywords.weighted_keywords(list(words), top_k)])
