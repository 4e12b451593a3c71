-- When the next attempt of a task requeued after a failed attempt is due
-- (Unix nanoseconds); NULL when none waits. Stored so that the wait
-- survives a restart of the server.
ALTER TABLE tasks ADD COLUMN retry_at INTEGER;
