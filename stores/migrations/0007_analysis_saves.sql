-- How many times the analysis state was saved, and by which process: a standby events worker that finds another
-- count than the one it last saw reads the state again before it carries on (analysis.enrich.Analyzer.catch_up).
CREATE TABLE analysis_saves (
    id integer PRIMARY KEY CHECK (id = 1), count bigint NOT NULL, host text NOT NULL, pid integer NOT NULL
);
