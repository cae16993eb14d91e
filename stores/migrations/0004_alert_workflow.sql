-- The alert workflow (alerts.postgres_store), the embedded alert store's tables in the shared database: alerts
-- with a version for compare-and-set (one open alert per group), their audit log, the outbox of notifications
-- (drained with FOR UPDATE SKIP LOCKED), and the one writer of the alert worker's memory (migration 0003).
-- Times are epoch seconds, as the SQLite store keeps them; documents and details are JSON text, kept as written.
CREATE TABLE alerts (
    id text PRIMARY KEY, group_key text NOT NULL, is_open boolean NOT NULL, status text NOT NULL,
    fired_at double precision NOT NULL, updated_at double precision NOT NULL, version integer NOT NULL,
    doc text NOT NULL
);
CREATE UNIQUE INDEX alerts_one_open_per_group ON alerts (group_key) WHERE is_open;
CREATE INDEX alerts_by_group ON alerts (group_key, fired_at);
CREATE INDEX alerts_by_time ON alerts (fired_at);
CREATE TABLE alert_audit (
    seq bigserial PRIMARY KEY, alert_id text NOT NULL, at double precision NOT NULL, actor text NOT NULL,
    action text NOT NULL, from_status text, to_status text NOT NULL, details text NOT NULL
);
CREATE INDEX alert_audit_by_alert ON alert_audit (alert_id, seq);
CREATE TABLE alert_outbox (
    id bigserial PRIMARY KEY, alert_id text NOT NULL, channel text NOT NULL, message text NOT NULL,
    created_at double precision NOT NULL, attempts integer NOT NULL DEFAULT 0,
    next_attempt_at double precision NOT NULL, sent_at double precision, last_error text
);
CREATE INDEX alert_outbox_due ON alert_outbox (channel, next_attempt_at) WHERE sent_at IS NULL;
CREATE INDEX alert_outbox_sent ON alert_outbox (channel, sent_at);
CREATE INDEX alert_outbox_by_alert ON alert_outbox (alert_id, channel);
CREATE TABLE alert_memory_writer (
    id integer PRIMARY KEY CHECK (id = 1), host text NOT NULL, pid integer NOT NULL, token text NOT NULL,
    expires double precision NOT NULL
);
