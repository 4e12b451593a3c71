-- An array's tasks not yet addressed have no row of their own: their
-- indexes are kept as ranges, and their state, shared by all of them, on
-- the job row (as Slurm keeps a pending array as one record). A task gets
-- its row when the scheduler first records a change of it (its start, a
-- hold or stop of that one task); its index then leaves its range.
-- Jobs recorded before this migration have a row per task and no ranges.
CREATE TABLE task_ranges (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    lo     INTEGER NOT NULL, -- first index
    hi     INTEGER NOT NULL, -- last index, lo + k*step
    step   INTEGER NOT NULL,
    PRIMARY KEY (job_id, lo)
) WITHOUT ROWID;

-- The state of the indexes in the job's ranges ('' when it has none), and
-- when they entered it (Unix nanoseconds).
ALTER TABLE jobs ADD COLUMN pend_state TEXT    NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN pend_kind  TEXT    NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN pend_value TEXT    NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN pend_at    INTEGER NOT NULL DEFAULT 0;
