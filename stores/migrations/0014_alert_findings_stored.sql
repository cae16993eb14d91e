-- The marks of the alert worker's batches whose findings were stored since its memory was last saved
-- (alerts.store.FindingsMark): each batch's next offsets and the groups its findings changed, written in the findings'
-- transaction and deleted by the next save of the memory. A worker killed in between takes those batches again
-- without storing their findings twice.
CREATE TABLE alert_findings_stored (
    seq bigserial PRIMARY KEY, log text NOT NULL, offsets json NOT NULL, groups json NOT NULL
);
