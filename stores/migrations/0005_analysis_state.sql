-- The analyzer's memory (stores.analysis_state.PostgresAnalysisState): events, recent posts' fingerprints and
-- reprint links, crawled policies. Times are timestamptz (compared as instants); a 64-bit fingerprint is kept as
-- its two's complement in a bigint, as in the SQLite file; events and policies are JSON text, kept as written.
CREATE TABLE analysis_events (id text PRIMARY KEY, last_seen timestamptz NOT NULL, state text NOT NULL);
CREATE INDEX analysis_events_last_seen ON analysis_events (last_seen);
CREATE TABLE analysis_posts (
    id text PRIMARY KEY, at timestamptz NOT NULL, event_id text, reprint_of text,
    fingerprint bigint, original text, lead bigint
);
CREATE INDEX analysis_posts_at ON analysis_posts (at);
CREATE TABLE analysis_policies (id text PRIMARY KEY, policy text NOT NULL);
