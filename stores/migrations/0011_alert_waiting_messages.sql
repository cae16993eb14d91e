-- The unanswered-board rules' waiting messages (alerts.rules.unanswered_complaints): a month of a city's boards,
-- out of the alert worker's memory, saved in the transaction of its rules' memory and offsets. `since` as the rule
-- held it (ISO 8601 with its offset), `since_us` the same moment in microseconds since the epoch, to find a stretch
-- of time by; `arrival` the order the rule took them in.
CREATE TABLE alert_waiting_messages (
    rule text NOT NULL, post_id text NOT NULL, kind text NOT NULL, subject_id text NOT NULL,
    since_us bigint NOT NULL, since text NOT NULL, arrival bigint NOT NULL,
    PRIMARY KEY (rule, post_id)
);
CREATE INDEX alert_waiting_messages_by_since ON alert_waiting_messages (rule, since_us);
-- A subject's messages in the order its finding names them, read from the index alone (a month of them, at every
-- finding).
CREATE INDEX alert_waiting_messages_by_subject ON alert_waiting_messages (rule, kind, subject_id, since_us, arrival)
    INCLUDE (post_id);
