"""Analysis: pure functions over the schema, wired to the transport by the workers.

- `pipeline.Analyzer`: the enrich step (mask, segment once, sentiment, keywords, places, policies,
  departments, reprints, events) with state in SQLite; `policies.policy_from_post` for crawled documents.
- `sentiment`: SnowNLP's Bayes retrained on Weibo posts (`sentiment_training`), calibrated score.
- `keywords`, `gazetteer`, `policies`, `events`, `bursts`: the single steps.
- `privacy.mask_personal_data`: masking, applied before anything else.
Models and dictionaries ship in `analysis/data/`; nothing is fetched at run time.
"""
