-- What market data is loaded, for `ktrdr data list` and dashboards.
CREATE OR REPLACE VIEW ktrdr.bar_series AS
SELECT symbol, timeframe, count(*) AS bars, min(ts) AS first_ts, max(ts) AS last_ts
FROM ktrdr.bars
GROUP BY symbol, timeframe;
