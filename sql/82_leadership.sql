-- Leadership of the maintenance ticker (src/leader.rs): a lease in the ktrdr.maintenance_state row,
-- held by leader_id until leader_lease_expires_at and numbered by leader_epoch. Nothing depends on a
-- session: a leader that freezes (SIGSTOP, a partition) keeps no lock, its lease lapses and a
-- follower takes over. Each function is one UPDATE of the single row, so concurrent callers
-- serialise on its row lock and the second re-checks the condition against the first's result.

-- Takes leadership for p_lease_seconds when there is no leader or its lease has lapsed (or was
-- resigned), incrementing the epoch; when p_ticker_id already holds a live lease, only renews it and
-- keeps the epoch. Returns the epoch of the caller's leadership, or NULL when another leads.
CREATE OR REPLACE FUNCTION ktrdr.take_leadership(p_ticker_id text, p_lease_seconds double precision)
RETURNS bigint LANGUAGE sql AS $$
    UPDATE ktrdr.maintenance_state
    SET leader_epoch = CASE WHEN leader_id = p_ticker_id AND leader_lease_expires_at > now()
                            THEN leader_epoch ELSE leader_epoch + 1 END,
        leader_since = CASE WHEN leader_id = p_ticker_id AND leader_lease_expires_at > now()
                            THEN leader_since ELSE now() END,
        leader_id = p_ticker_id,
        leader_lease_expires_at = now() + ktrdr.lease_interval(p_lease_seconds)
    WHERE leader_lease_expires_at IS NULL
       OR leader_lease_expires_at <= now()
       OR leader_id = p_ticker_id
    RETURNING leader_epoch;
$$;

-- Renews the lease of leader p_ticker_id in epoch p_epoch for p_lease_seconds from now. False when
-- another took over since (a new epoch) or the lease was resigned: the caller must stop leading at
-- once. A lapsed lease that nobody took is renewed: no one else led in between, or the epoch would
-- have changed.
CREATE OR REPLACE FUNCTION ktrdr.renew_leadership(
    p_ticker_id text, p_epoch bigint, p_lease_seconds double precision)
RETURNS boolean LANGUAGE sql AS $$
    WITH renewed AS (
        UPDATE ktrdr.maintenance_state
        SET leader_lease_expires_at = now() + ktrdr.lease_interval(p_lease_seconds)
        WHERE leader_id = p_ticker_id AND leader_epoch = p_epoch
          AND leader_lease_expires_at IS NOT NULL
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM renewed);
$$;

-- Ends the lease of leader p_ticker_id in epoch p_epoch (a clean shutdown), so that the next follower
-- to try takes over at once. leader_id stays, naming the last leader. Does nothing to another's lease.
CREATE OR REPLACE FUNCTION ktrdr.resign_leadership(p_ticker_id text, p_epoch bigint)
RETURNS void LANGUAGE sql AS $$
    UPDATE ktrdr.maintenance_state
    SET leader_lease_expires_at = NULL
    WHERE leader_id = p_ticker_id AND leader_epoch = p_epoch;
$$;
