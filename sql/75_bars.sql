-- What market data is loaded, for `ktrdr data list` and dashboards: each series with its sources
-- (oldest first; empty for series loaded before sources were recorded).
CREATE OR REPLACE VIEW ktrdr.bar_series AS
SELECT b.symbol, b.timeframe, count(*) AS bars, min(b.ts) AS first_ts, max(b.ts) AS last_ts,
       coalesce((SELECT jsonb_agg(jsonb_build_object(
                            'kind', s.kind, 'identity', s.identity, 'file_name', s.file_name,
                            'bars', s.bars, 'recorded_at', s.recorded_at)
                        ORDER BY s.recorded_at, s.identity)
                 FROM ktrdr.bar_sources s
                 WHERE s.symbol = b.symbol AND s.timeframe = b.timeframe), '[]'::jsonb) AS sources
FROM ktrdr.bars b
GROUP BY b.symbol, b.timeframe;

-- Records that `p_bars` bars of `p_symbol` `p_timeframe` came from a source (a file's SHA-256 or a
-- synthetic seed). Called in the transaction that stored them; refuses a source of the other kind
-- than the series already has, so real and synthetic bars never mix silently.
CREATE OR REPLACE FUNCTION ktrdr.record_bar_source(
    p_symbol text, p_timeframe text, p_kind text, p_identity text, p_file_name text, p_bars bigint)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_other text;
BEGIN
    -- Two imports of one series at once take turns here, so the second sees the first's source.
    PERFORM pg_advisory_xact_lock(hashtext('ktrdr.bar_sources'), hashtext(p_symbol || '/' || p_timeframe));
    SELECT kind INTO v_other FROM ktrdr.bar_sources
    WHERE symbol = p_symbol AND timeframe = p_timeframe AND kind <> p_kind
    LIMIT 1;
    IF v_other IS NOT NULL THEN
        RAISE EXCEPTION '% % already holds % bars; a % source cannot be added to them',
            p_symbol, p_timeframe, v_other, p_kind
            USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO ktrdr.bar_sources (symbol, timeframe, kind, identity, file_name, bars)
    VALUES (p_symbol, p_timeframe, p_kind, p_identity, p_file_name, p_bars)
    ON CONFLICT (symbol, timeframe, kind, identity) DO UPDATE
    SET file_name = excluded.file_name, bars = excluded.bars, recorded_at = now();
END
$$;

-- Deletes a series' bars and sources; returns how many bars there were (0: nothing to delete).
CREATE OR REPLACE FUNCTION ktrdr.delete_bar_series(p_symbol text, p_timeframe text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_deleted bigint;
BEGIN
    DELETE FROM ktrdr.bars WHERE symbol = p_symbol AND timeframe = p_timeframe;
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    DELETE FROM ktrdr.bar_sources WHERE symbol = p_symbol AND timeframe = p_timeframe;
    RETURN v_deleted;
END
$$;
