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

-- Fences a maintenance write (src/leader.rs, begin_fenced): called first in the write's
-- transaction by leader p_leader_id of epoch p_epoch, it share-locks the lease row until the
-- transaction ends — take_leadership updates that row, so a takeover waits for the write to commit
-- — and raises SQLSTATE KT001 (not leader) when another epoch holds the lease or it was resigned,
-- so that a leader that froze mid-pass, or renewed just before its lease lapsed and was taken
-- over, changes nothing. A lapsed lease that nobody took passes, as renew_leadership renews it: no
-- one else led since, and no one can before this transaction ends. The maintenance functions
-- themselves are not fenced: called without this (psql, pg_cron, `ktrdr checkpoints cleanup`) they
-- run as the operator's manual calls.
CREATE OR REPLACE FUNCTION ktrdr.assert_leadership(p_leader_id text, p_epoch bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_state ktrdr.maintenance_state;
BEGIN
    SELECT * INTO v_state FROM ktrdr.maintenance_state FOR SHARE;
    IF v_state.leader_id IS DISTINCT FROM p_leader_id
       OR v_state.leader_epoch IS DISTINCT FROM p_epoch
       OR v_state.leader_lease_expires_at IS NULL THEN
        RAISE EXCEPTION 'ticker % no longer leads (epoch %): the lease is %, so this maintenance write did nothing',
            p_leader_id, p_epoch,
            CASE WHEN v_state.leader_lease_expires_at IS NULL THEN 'resigned'
                 ELSE format('%s''s in epoch %s', v_state.leader_id, v_state.leader_epoch) END
            USING ERRCODE = 'KT001';
    END IF;
END $$;
