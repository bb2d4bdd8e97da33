-- ftpmirror state, version 4: the run's work queue is kept in memory (see
-- state_scan_claim), so scan no longer needs an index by state, and each
-- state change no longer pays for keeping one.
DROP INDEX scan_work;
