-- The alert worker's quiet burst subjects wait in the store, not in its memory (analysis.bursts.BurstArchive):
-- each row's last bucket and whether it is quiet (no post ids kept) find them without reading their JSON. The
-- tracker keeps each subject's position (the order subjects were made in) in its JSON: the saved ones get theirs.
ALTER TABLE alert_burst_memory ADD COLUMN last_bucket bigint, ADD COLUMN quiet boolean NOT NULL DEFAULT false;
UPDATE alert_burst_memory SET
    state = (state::jsonb || jsonb_build_object('position', position))::json,
    last_bucket = CASE WHEN state -> 'counts' IS NOT NULL THEN (state -> 'counts' ->> -3)::bigint
                       ELSE (SELECT max(bucket::bigint) FROM json_object_keys(state -> 'buckets') AS bucket) END,
    quiet = COALESCE(json_array_length(state -> 'recent'), 0) = 0;
CREATE INDEX alert_burst_memory_by_last ON alert_burst_memory (last_bucket);
