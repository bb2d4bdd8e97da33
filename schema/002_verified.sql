-- ftpmirror state, version 2: when each stored mtime was last confirmed
-- exactly (an MLSD listing, or MDTM).  LIST gives minutes or days only, so
-- a same-size rewrite inside the listed minute is found by asking MDTM, but
-- only for files confirmed too soon after their mtime to rule that out, and
-- for a bounded share of the tree each run.
ALTER TABLE files ADD COLUMN verified_at TEXT;
-- Set on the files least recently confirmed, a few each run: their next
-- listing is checked with MDTM even when LIST shows nothing new, so a
-- rewrite that kept an old mtime inside the listed day is found too.
ALTER TABLE files ADD COLUMN recheck INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scan ADD COLUMN verified_at INTEGER;
