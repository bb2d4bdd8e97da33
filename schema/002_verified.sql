-- ftpmirror state, version 2: when each stored mtime was last confirmed
-- exactly (an MLSD listing, or MDTM).  LIST gives minutes or days only, so
-- a same-size rewrite inside the listed minute is found by asking MDTM, but
-- only for files confirmed too soon after their mtime to rule that out.
ALTER TABLE files ADD COLUMN verified_at TEXT;
ALTER TABLE scan ADD COLUMN verified_at INTEGER;
