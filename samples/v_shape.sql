-- V shape: a price that falls for one or more ticks, then rises for one or more ticks,
-- per symbol, within 10 minutes (the same pattern as samples/v_shape.json).
SELECT *
FROM stocks
MATCH_RECOGNIZE (
    PARTITION BY symbol
    ORDER BY ts
    MEASURES
        FIRST(A.price) AS start_price,
        LAST(B.price) AS bottom,
        LAST(C.price) AS end_price
    ONE ROW PER MATCH
    AFTER MATCH SKIP PAST LAST ROW
    PATTERN (A B+ C+) WITHIN INTERVAL '10' MINUTE
    DEFINE
        B AS price < PREV(price),
        C AS price > PREV(price)
)
