"""Analysis: pure functions over the schema, wired to the transport by the workers.

- `enrich.Analyzer`: the enrich step (mask, segment once, sentiment, keywords, places, policies,
  departments, reprints, events); its memory across restarts is an `AnalyzerMemory` handed in
  (`stores.analysis_state`); `policies.policy_from_post` for crawled documents.
- `language.Language`: what text is read with: the `segment.Segmenter` (jieba), the
  `keywords.KeywordTable` and the `sentiment.SentimentModel` (SnowNLP's Bayes retrained on Weibo
  posts plus two regressions, `tools/sentiment_training.py`).
- `gazetteer`, `policies`, `events`, `bursts`: the single steps.
- `privacy.mask_personal_data`: masking, applied before anything else.
Nothing here reads settings, opens a file or a database: the state stores, the table cache and
the language resources are built at the edge (`workers.build`, `stores/`) and handed in. Models
and dictionaries ship read-only in `analysis/data/`, read by `stores.language`; nothing is
fetched at run time.
"""
