-- bench/results_bytes_packed.sql — one-off rewrite of the byte columns of the rounds that
-- fedpep recorded before the prompt rows travelled at each block's own width (commit 4c2d64f).
-- Until then every travelling row was counted at the stream width (512 on the default model);
-- since then block 0's rows and the input prompt count at d_embed = 256. On the default model
-- (P = 20, 4-byte floats) a client's TRAIN carried 40,960 B (input prompt, now 20,480),
-- 81,920 B (one deep layer: block 0, now 40,960) or 163,840 B (both layers, now 40,960 + 81,920),
-- so the old counts become 1/2, 1/2 and 3/4 of themselves, exactly: the numerics of those runs
-- are the same as the new binary's (tested on a scaled-down protocol), only the count changed.
-- Usage: sqlite3 DB ".param set :before_ms MS" ".read bench/results_bytes_packed.sql", where MS
-- is the epoch millisecond at which the new binary took over (rounds committed before it).
UPDATE rounds
SET bytes_down = bytes_down * f.num / 4,
    bytes_up   = bytes_up * f.num / 4
FROM (SELECT run,
             CASE WHEN max(bytes_down / sampled) >= 163840 THEN 3 ELSE 2 END AS num
      FROM rounds WHERE sampled > 0 GROUP BY run) AS f
WHERE rounds.run = f.run AND rounds.committed_ms < :before_ms;
