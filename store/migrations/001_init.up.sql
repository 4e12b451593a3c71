-- Jobs keep their spec whole as JSON, so template fields added later need no
-- migration; the columns beside it are the ones queries filter or sort on.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT, -- AUTOINCREMENT: never reused
    name         TEXT    NOT NULL,
    spec         TEXT    NOT NULL,
    pool         TEXT    NOT NULL,
    priority     INTEGER NOT NULL,
    task_count   INTEGER NOT NULL,
    -- The state every task was submitted in. Each task's first history row
    -- is derived from these and submitted_at rather than written per task.
    init_state   TEXT    NOT NULL,
    init_kind    TEXT    NOT NULL,
    init_value   TEXT    NOT NULL,
    submitted_at INTEGER NOT NULL, -- Unix nanoseconds, as all times here
    finished_at  INTEGER           -- set while no task is unended
);
CREATE INDEX jobs_unfinished ON jobs (id) WHERE finished_at IS NULL;

CREATE TABLE job_labels (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    key    TEXT    NOT NULL,
    value  TEXT    NOT NULL,
    PRIMARY KEY (job_id, key)
) WITHOUT ROWID;
CREATE INDEX job_labels_key_value ON job_labels (key, value);

CREATE TABLE tasks (
    job_id       INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    state        TEXT    NOT NULL,
    sub_kind     TEXT    NOT NULL DEFAULT '',
    sub_value    TEXT    NOT NULL DEFAULT '',
    attempt      INTEGER NOT NULL DEFAULT 0,
    input        TEXT    NOT NULL DEFAULT '',
    worker       TEXT    NOT NULL DEFAULT '',
    host         TEXT    NOT NULL DEFAULT '',
    pid          INTEGER NOT NULL DEFAULT 0,
    container_id TEXT    NOT NULL DEFAULT '',
    exit_code    INTEGER,
    signal       TEXT    NOT NULL DEFAULT '',
    message      TEXT    NOT NULL DEFAULT '',
    started_at   INTEGER,
    finished_at  INTEGER,
    cpu_ns       INTEGER NOT NULL DEFAULT 0,
    max_rss      INTEGER NOT NULL DEFAULT 0,
    stdout       TEXT    NOT NULL DEFAULT '',
    stderr       TEXT    NOT NULL DEFAULT '',
    recv_stdout  INTEGER NOT NULL DEFAULT 0,
    recv_stderr  INTEGER NOT NULL DEFAULT 0,
    recv_results INTEGER NOT NULL DEFAULT 0,
    size_stdout  INTEGER NOT NULL DEFAULT 0,
    size_stderr  INTEGER NOT NULL DEFAULT 0,
    size_results INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
-- Covers the per-job counts by state (and a plain job's sub-state), and
-- finds an unended task of a job without scanning its ended ones.
CREATE INDEX tasks_job_state ON tasks (job_id, state, sub_kind, sub_value);
-- Holds only tasks with output not yet received: empty at submit, small after.
CREATE INDEX tasks_more_data ON tasks (job_id)
    WHERE size_stdout > recv_stdout OR size_stderr > recv_stderr OR size_results > recv_results;

CREATE TABLE task_history (
    id        INTEGER PRIMARY KEY,
    job_id    INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx       INTEGER NOT NULL,
    attempt   INTEGER NOT NULL,
    state     TEXT    NOT NULL,
    sub_kind  TEXT    NOT NULL,
    sub_value TEXT    NOT NULL,
    at        INTEGER NOT NULL
);
CREATE INDEX task_history_task ON task_history (job_id, idx, id);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
