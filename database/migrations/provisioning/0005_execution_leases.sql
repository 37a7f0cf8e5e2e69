-- Every unfinished attempt has an owner (an executor replica) and a lease
-- that owner renews by heartbeat. Another replica takes an attempt over
-- only once its lease expired, by a conditional update, so no attempt runs
-- on two replicas and none is abandoned when its replica dies.
ALTER TABLE executions ADD COLUMN owner VARCHAR(64);
ALTER TABLE executions ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
CREATE INDEX executions_lease ON executions (status, lease_until);
-- The heartbeat renews (and lists) one owner's unfinished attempts.
CREATE INDEX executions_owner ON executions (owner, status);
