-- The alert worker's burst counts by day (alerts.postgres_store): a checkpoint writes the days of a subject that
-- changed, not the 15 days of a city's busy places. The counts saved in the subjects' JSON move here, a row per day
-- (day: bucket / 288, a bucket being 5 minutes since the epoch); subjects saved before the counts were kept flat
-- keep theirs (the worker writes them by day when it next saves them).
CREATE TABLE alert_burst_days (
    kind text NOT NULL, id text NOT NULL, day integer NOT NULL, counts json NOT NULL,
    PRIMARY KEY (kind, id, day)
);
INSERT INTO alert_burst_days (kind, id, day, counts)
SELECT kind, id, day, json_agg(number ORDER BY n)
FROM (SELECT m.kind, m.id, e.n, e.number,
             ((m.state -> 'counts') ->> (3 * ((e.n - 1) / 3))::integer)::bigint / 288 AS day
      FROM alert_burst_memory m, json_array_elements(m.state -> 'counts') WITH ORDINALITY AS e(number, n)
      WHERE m.state -> 'counts' IS NOT NULL) AS flat
GROUP BY kind, id, day;
UPDATE alert_burst_memory SET state = (state::jsonb - 'counts')::json WHERE state -> 'counts' IS NOT NULL;
