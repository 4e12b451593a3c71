// Package openjd is berth's model of Open Job Description (OpenJD) templates,
// specification revision 2023-09: job templates (jobtemplate-2023-09) and
// environment templates (environment-2023-09).
//
// Parsing a template checks it completely: every field, every limit of the
// 2023-09 Template Schemas, the format-string scoping rules (which value
// references may appear where) and the rules of the extensions berth
// implements (TASK_CHUNKING, REDACTED_ENV_VARS, FEATURE_BUNDLE_1, EXPR,
// WRAP_ACTIONS). All the
// problems found are returned together as [Errors], each naming the path of
// the offending field inside the template, for example
// steps[1].parameterSpace.taskParameterDefinitions[0].range.
//
// A step's parameter space is evaluated lazily: [ParameterSpace] computes the
// number of tasks and the task at any index from the ranges and the
// combination expression, so a space of millions of tasks is walked without
// being materialised.
//
// Format strings are parsed into a small expression tree ([Expr]). Without
// extensions the only expression is a dotted value reference such as
// Param.Frame; with EXPR, interpolations are expressions of package
// openjd/expr, steps, scripts and environment scripts may hold let bindings
// ([Let], evaluated with [BindLets]), and job parameters may be BOOL,
// RANGE_EXPR and LIST types (list values are kept as JSON text).
//
// With WRAP_ACTIONS (RFC 0008, which needs EXPR) an environment may define
// the wrap hooks onWrapEnvEnter, onWrapTaskRun and onWrapEnvExit, all
// three or none ([Environment.Wraps]). Only the hooks see the wrapped
// action (WrappedAction.*, WrappedEnv.Name in the environment hooks,
// WrappedStep.Name in the task hook); the script's let bindings and
// embedded files, shared with onEnter and onExit, do not. [CreateJob]
// refuses a job whose sessions would hold two wrapping environments.
//
// [CreateJob] instantiates a job template with parameter values: the
// parameter definitions of the job template and of the applied environment
// templates are merged, the values checked, and what depends on them (the
// job name, ranges, chunks, host requirements, FEATURE_BUNDLE_1 timeouts)
// resolved and checked.
//
// Package openjd/session runs jobs on a host (environments, actions, the
// openjd_* stdout protocol, cancelation, path mapping), and package
// openjd/localrun drives one local session over a job's steps, as
// `berth openjd run` does.
package openjd
