-- The crawler's seen-store (stores.seen): pages fetched, content published, silent runs, first-sight notes.
-- Times are epoch seconds, as the SQLite store keeps them.
CREATE TABLE seen_pages (
    source text NOT NULL, url text NOT NULL,
    first_seen double precision NOT NULL, last_fetched double precision NOT NULL,
    PRIMARY KEY (source, url)
);
CREATE TABLE seen_contents (
    source text NOT NULL, post_id text NOT NULL, content_hash text NOT NULL,
    published double precision NOT NULL, text_hash text NOT NULL DEFAULT '',
    PRIMARY KEY (source, post_id)
);
CREATE INDEX seen_contents_text ON seen_contents (source, text_hash);
CREATE TABLE seen_runs (
    source text PRIMARY KEY, silent_runs integer NOT NULL, last_run double precision NOT NULL
);
CREATE TABLE seen_notes (
    source text NOT NULL, key text NOT NULL, value text NOT NULL,
    PRIMARY KEY (source, key)
);
