-- Where a series' bars came from: one row per distinct source imported into it — a file (its name
-- and SHA-256) or the synthetic generator (its seed). `ktrdr data import|synth` refuse to mix real
-- and synthetic bars in one series unless asked to replace them (sql/75_bars.sql).
CREATE TABLE ktrdr.bar_sources (
    symbol      text NOT NULL,
    timeframe   text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('file', 'synth')),
    -- The file's SHA-256 (hex) or the generator's seed (decimal): what tells two sources apart.
    identity    text NOT NULL,
    file_name   text,
    bars        bigint NOT NULL CHECK (bars >= 0),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, timeframe, kind, identity),
    CHECK (kind <> 'file' OR (identity ~ '^[0-9a-f]{64}$' AND file_name IS NOT NULL)),
    CHECK (kind <> 'synth' OR (identity ~ '^[0-9]+$' AND file_name IS NULL))
);
