-- Market data must be finite: NaN compares greater than every number in PostgreSQL, so the OHLC
-- checks of V3 alone let a NaN volume (or a NaN high with finite others) through.
ALTER TABLE ktrdr.bars ADD CONSTRAINT bars_finite CHECK (
    abs(open) < 'Infinity' AND abs(high) < 'Infinity' AND abs(low) < 'Infinity'
    AND abs(close) < 'Infinity' AND abs(volume) < 'Infinity'
);
