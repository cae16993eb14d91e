-- The next burst subject's position (MAX(position) + 1, asked at every checkpoint of the alert worker) and the
-- subjects in position order are read from an index, not from every row of a city's 15 days of subjects.
CREATE INDEX alert_burst_memory_by_position ON alert_burst_memory (position);
