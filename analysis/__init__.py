"""Analysis: pure functions over the schema, wired to the transport by the workers.

- `enrich.Analyzer`: the enrich step (mask, segment once, sentiment, keywords, places, policies,
  departments, reprints, events); its memory across restarts is an `AnalyzerMemory` handed in
  (`stores.analysis_state`); `policies.policy_from_post` for crawled documents.
- `sentiment`: SnowNLP's Bayes retrained on Weibo posts (`tools/sentiment_training.py`), calibrated score.
- `keywords`, `gazetteer`, `policies`, `events`, `bursts`: the single steps.
- `privacy.mask_personal_data`: masking, applied before anything else.
Nothing here reads settings, opens a database or writes a file: state stores, the table cache
(`analysis.tables`) and the data files are built at the edge (`workers.build`, `stores/`) and handed
in. Models and dictionaries ship read-only in `analysis/data/`; nothing is fetched at run time.
"""
