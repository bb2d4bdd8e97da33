-- ftpmirror state, version 4: files are fetched largest first, so a big
-- file never starts last and leaves the other connections idle at the end.
CREATE INDEX scan_by_size ON scan (job, state, size DESC, id);
