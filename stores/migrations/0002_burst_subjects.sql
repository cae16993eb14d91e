-- The burst tracker's counts (stores.bursts): one row per subject, its buckets as JSON (kept as saved),
-- replaced whole. `position` keeps the subjects' order: the tracker reports its signals in that order.
CREATE TABLE burst_subjects (
    kind text NOT NULL, id text NOT NULL, position integer NOT NULL, state json NOT NULL,
    PRIMARY KEY (kind, id)
);
