-- The alert worker's quiet burst subjects wait in the store, not in its memory (analysis.bursts.BurstArchive):
-- each row's last bucket and whether it is quiet (no post ids kept) find them without reading their JSON, and
-- `position` is now the tracker's own (the order subjects were made in), written with every row.
ALTER TABLE alert_burst_memory ADD COLUMN last_bucket bigint, ADD COLUMN quiet boolean NOT NULL DEFAULT false;
UPDATE alert_burst_memory SET
    last_bucket = CASE WHEN state -> 'counts' IS NOT NULL THEN (state -> 'counts' ->> -3)::bigint
                       ELSE (SELECT max(bucket::bigint) FROM json_object_keys(state -> 'buckets') AS bucket) END,
    quiet = COALESCE(json_array_length(state -> 'recent'), 0) = 0;
CREATE INDEX alert_burst_memory_by_last ON alert_burst_memory (last_bucket);
