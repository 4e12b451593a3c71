-- A container task's host name and published ports (JSON list of
-- job.PublishedPort; '' for none), as the engine bound them.
ALTER TABLE tasks ADD COLUMN hostname TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN ports TEXT NOT NULL DEFAULT '';
