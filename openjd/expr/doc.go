// Package expr implements the expression language of the Open Job
// Description EXPR extension (RFC 0005, with the function library of
// RFC 0006): the text between {{ and }} of a format string, and the right
// side of a let binding.
//
// [Parse] turns source text into an [Expr]; [Expr.Eval] computes a typed
// [Value] with the values of the names it references supplied by an [Env].
// The language is a Python expression subset: literals, arithmetic,
// comparisons, and/or/not, conditionals, indexing and slicing, calls of a
// fixed function library (also as methods, x.f(...) meaning f(x, ...)),
// list displays and single-clause list comprehensions.
//
// Templates are untrusted input, so parsing bounds nesting depth and
// evaluation bounds the work done and the size of the values built (see
// [Limits]); neither panics on any input.
package expr
