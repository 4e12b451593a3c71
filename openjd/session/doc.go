// Package session runs Open Job Description work on one host: a Session
// (How Jobs Are Run) has a temporary working directory, enters
// environments, runs tasks inside them and exits the environments in
// reverse order.
//
// Every action (an environment's onEnter or onExit, a step's onRun) is one
// command, started from an argv (never through a shell) by the session's
// Runner: by default a subprocess in its own process group; with
// worker/sessionbox's, an exec in the session's container. Its stdout and
// stderr are merged into one stream that is read line by line. Lines of
// the stdout protocol are acted on:
//
//   - openjd_progress: <0-100> and openjd_status: <text> report progress;
//   - openjd_fail: <text> gives the reason for a failure;
//   - openjd_env: NAME=value (or the JSON-quoted "NAME=value") and
//     openjd_unset_env: NAME, in an onEnter, change the environment of
//     every later action until the environment is exited;
//   - openjd_redacted_env: NAME=value sets a variable like openjd_env
//     (with the REDACTED_ENV_VARS extension) and, in any case, replaces the
//     value by ******** in all later output of the session.
//
// An action is canceled with its cancelation method: TERMINATE sends
// SIGKILL to its process group; NOTIFY_THEN_TERMINATE writes
// cancel_info.json to the working directory, sends SIGTERM to the command
// and, if it is still running at the end of the notify period, SIGKILL to
// its process group (Process.Stop). A timeout cancels the action the same
// way and fails it.
//
// A failure or a cancelation ends the session's useful life: it then only
// exits environments. Every environment whose enter was attempted is
// exited, the one whose enter failed included.
//
// With WRAP_ACTIONS, while an environment that defines the wrap hooks is
// on the stack, the onEnter and onExit of the environments entered inside
// it and every task's onRun are resolved but not run: the matching hook
// runs in their place, given the resolved action as WrappedAction.*
// (command, args, timeout, cancelation) and the variables the session
// defined as WrappedAction.Environment — the environments' variables and
// openjd_env assignments, including those printed by tasks and onExit
// actions, which set nothing otherwise. A hook is the action it replaces:
// its openjd_env, its result and its failure are that action's. An
// environment with nothing to replace (no onEnter or onExit) runs no hook.
//
// PATH job and task parameters are mapped through the session's path
// mapping rules (pathmapping-1.0) in Param.<name> and Task.Param.<name>;
// the rules are also written to a file named by
// {{Session.PathMappingRulesFile}}.
//
// The API is the one a worker uses to run submitted tasks:
//
//	s, err := session.New(session.Config{Parameters: job.Parameters, Log: logLine})
//	defer s.Close()
//	s.EnterEnvironment(ctx, &env, template.Extensions)
//	s.RunTask(ctx, step, params)
//	s.ExitEnvironments(ctx, 0)
package session
