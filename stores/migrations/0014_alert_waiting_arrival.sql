-- A subject's first waiting message by arrival (its finding comes in that order), read from an index alone: a finding
-- names its subject's newest messages, not a month of them, so the first arrival is no longer among those read.
CREATE INDEX alert_waiting_messages_by_arrival ON alert_waiting_messages (rule, kind, subject_id, arrival)
    INCLUDE (since_us, post_id);
