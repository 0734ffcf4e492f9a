-- Leadership of the maintenance ticker as a lease (sql/82_leadership.sql): the leader renews
-- leader_lease_expires_at; once it lapses a follower takes over and increments leader_epoch, which
-- fences the old leader (its renewal with the old epoch fails). leader_id and leader_since, from V2,
-- name the lease's holder.
ALTER TABLE ktrdr.maintenance_state
    ADD COLUMN leader_epoch bigint NOT NULL DEFAULT 0,
    ADD COLUMN leader_lease_expires_at timestamptz;
