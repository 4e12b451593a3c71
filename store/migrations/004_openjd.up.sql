-- Open Job Description jobs: the templates and parameter values as
-- submitted, which the workers that run the steps' tasks read once per
-- session; and the session that ran each task.
CREATE TABLE openjd_submissions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    data       TEXT    NOT NULL, -- job.OpenJDJob as JSON
    created_at INTEGER NOT NULL
);

ALTER TABLE tasks ADD COLUMN session TEXT NOT NULL DEFAULT '';
