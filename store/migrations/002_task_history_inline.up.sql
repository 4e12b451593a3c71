-- A task's history moves into its own row: appending to the row the
-- scheduler already updates costs no extra b-tree pages per commit, where a
-- task_history row dirtied a table page and an index page.
--
-- history holds one compact JSON object per line, each ending in "\n":
-- {"a":attempt,"s":state,"k":sub_kind,"v":sub_value,"t":at}, oldest first.
-- The submission is not in it: it comes from the job row as before.
ALTER TABLE tasks ADD COLUMN history TEXT NOT NULL DEFAULT '';

UPDATE tasks SET history = h.history
FROM (
    SELECT job_id, idx,
        group_concat(json_object('a', attempt, 's', state, 'k', sub_kind, 'v', sub_value, 't', at) || char(10), ''
            ORDER BY id) AS history
    FROM task_history GROUP BY job_id, idx
) AS h
WHERE tasks.job_id = h.job_id AND tasks.idx = h.idx;

DROP TABLE task_history; -- and its index task_history_task
