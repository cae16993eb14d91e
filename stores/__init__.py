"""Stores: the files and databases the stages keep between runs, at the edge of the pure packages.

- `sqlite.connect`: the one way a store opens SQLite (write-ahead log, busy timeout, synchronous
  level, foreign keys), used by the transport log, the index, the alert store, the analyzer's
  state, the burst counts and the crawler's seen-store.
- `analysis_state`: the analyzer's events, fingerprints and crawled policies (SQLite and PostgreSQL).
- `bursts`: the burst tracker's counts; `seen`: the crawler's seen-store. Each is an interface with a SQLite
  implementation (embedded) and a PostgreSQL one (scale-out); `state.open_*` picks one by `state` in the
  settings. `postgres.Database` is a store's connection to the state database (a lost server is
  BackendUnavailable, and it reconnects), `postgres.setup` applies `migrations/*.sql`. The alert store
  (`alerts.store`, `alerts.postgres_store`) and the console's accounts (`console.accounts`) have their
  PostgreSQL twins beside them, on the same `Database` and migrations.
- `tables.PrivateTableCache`: derived tables (jieba's dictionary, the sentiment ratios) kept between
  processes in a private directory whose owner is checked.
- `language.load_language`: the segmenter, keyword table and sentiment model, read from the files
  shipped in `analysis/data/` (derived tables through the process's table keeper).

`analysis/` never opens these itself: a worker or a command builds them and hands them in.
"""
