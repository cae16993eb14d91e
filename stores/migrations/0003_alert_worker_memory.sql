-- The alert worker's memory (alerts.postgres_memory), saved in one transaction: the rules' memory (JSON text
-- per rule, kept as saved), the burst counts in their order, and per (log, topic, partition) the next offset
-- they include.
CREATE TABLE alert_rule_memory (
    key text PRIMARY KEY, state text NOT NULL, saved_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE alert_burst_memory (
    kind text NOT NULL, id text NOT NULL, position integer NOT NULL, state json NOT NULL,
    PRIMARY KEY (kind, id)
);
-- Offsets belong to one log (the transport's identity): a new log starts at offset 0 again.
CREATE TABLE alert_memory_offsets (
    log text NOT NULL, topic text NOT NULL, partition integer NOT NULL, next_offset bigint NOT NULL,
    PRIMARY KEY (log, topic, partition)
);
