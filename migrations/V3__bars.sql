-- OHLCV market data, one row per bar. Written by `ktrdr data import|synth`, read by training and
-- backtesting operations.
CREATE TABLE ktrdr.bars (
    symbol    text NOT NULL CHECK (symbol ~ '^[A-Za-z0-9._-]+$'),
    timeframe text NOT NULL CHECK (timeframe IN ('1m', '5m', '15m', '30m', '1h', '4h', '1d')),
    ts        timestamptz NOT NULL,
    open      double precision NOT NULL,
    high      double precision NOT NULL,
    low       double precision NOT NULL,
    close     double precision NOT NULL,
    volume    double precision NOT NULL CHECK (volume >= 0),
    PRIMARY KEY (symbol, timeframe, ts),
    CHECK (high >= greatest(open, close, low) AND low <= least(open, close))
);
