-- An Open Job Description job is one job with no tasks of its own, the
-- parent of the jobs of its steps. Its finished_at is set once all its
-- steps' jobs have ended.
ALTER TABLE jobs ADD COLUMN parent INTEGER REFERENCES jobs (id);

CREATE INDEX jobs_parent ON jobs (parent) WHERE parent IS NOT NULL;
