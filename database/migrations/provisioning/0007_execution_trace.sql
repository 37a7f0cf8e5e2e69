-- The W3C trace context of the request an attempt came from, so its
-- worker (on any replica, also after a takeover) continues that trace.
ALTER TABLE executions ADD COLUMN traceparent VARCHAR(64) NOT NULL DEFAULT '';
