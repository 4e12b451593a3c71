package job

import (
	"path"
	"strings"
)

// InputMark is what an input replaces in the command and arguments of the
// tasks of a job submitted with Inputs.
const InputMark = "{}"

// WithInput returns the template of a task whose input is input: InputMark
// in the command and each argument replaced by it. Where the mark lands in
// the script of a shell's -c (sh -c '...', bash -c, also after env or by
// absolute path), the input goes in quoted for where it lands, so that it
// is always literal text and never runs as code: bare, single-quoted (as
// GNU parallel does); inside '...' or "...", escaped for those quotes.
// $BERTH_INPUT holds the raw input.
func (t Template) WithInput(input string) Template {
	t.Command = strings.ReplaceAll(t.Command, InputMark, input)
	script := shellScriptArg(t.Command, t.Args)
	args := make([]string, len(t.Args))
	for i, a := range t.Args {
		if i == script {
			args[i] = intoScript(a, input)
			continue
		}
		args[i] = strings.ReplaceAll(a, InputMark, input)
	}
	if t.Args != nil {
		t.Args = args
	}
	return t
}

// ShellQuote quotes s as one word for a POSIX shell (sh, bash, dash, zsh,
// ksh): in single quotes, each single quote written '\”.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// intoScript replaces InputMark in a POSIX shell script by input, quoted
// for where the mark stands: bare, in '...', in "...". It follows what
// decides that: quotes, backslashes, comments, $(...) and `...`.
func intoScript(script, input string) string {
	type frame struct {
		state    int // unquoted, single or double
		parens   int // open ( within a $(...)
		backtick bool
	}
	const (
		unquoted = iota
		single
		double
	)
	var stack []frame
	cur := frame{}
	var b strings.Builder
	for i := 0; i < len(script); {
		rest := script[i:]
		if strings.HasPrefix(rest, InputMark) {
			var q string
			switch cur.state {
			case unquoted:
				q = ShellQuote(input)
			case single:
				q = strings.ReplaceAll(input, "'", `'\''`)
			case double:
				q = doubleQuoteEscaper.Replace(input)
			}
			// The shell reads `...` once for backslashes before it runs it.
			for _, f := range append(stack, cur) {
				if f.backtick {
					q = backtickEscaper.Replace(q)
				}
			}
			b.WriteString(q)
			i += len(InputMark)
			continue
		}
		c := script[i]
		n := 1
		switch cur.state {
		case single:
			if c == '\'' {
				cur.state = unquoted
			}
		case unquoted, double:
			switch {
			case c == '\\' && i+1 < len(script):
				n = 2
			case strings.HasPrefix(rest, "$("):
				stack, cur = append(stack, cur), frame{}
				n = 2
			case c == '`' && cur.backtick && cur.state == unquoted:
				cur, stack = stack[len(stack)-1], stack[:len(stack)-1]
			case c == '`':
				stack, cur = append(stack, cur), frame{backtick: true}
			case c == '"':
				cur.state = double + unquoted - cur.state // toggles
			case cur.state == double:
			case c == '\'':
				cur.state = single
			case c == '#' && (i == 0 || strings.ContainsRune(" \t\n;&|()", rune(script[i-1]))):
				n = strings.IndexByte(rest, '\n') // a comment, to the end of its line
				if n < 0 {
					n = len(rest)
				}
			case c == '(' && len(stack) > 0:
				cur.parens++
			case c == ')' && len(stack) > 0 && !cur.backtick:
				if cur.parens--; cur.parens < 0 {
					cur, stack = stack[len(stack)-1], stack[:len(stack)-1]
				}
			}
		}
		b.WriteString(rest[:n])
		i += n
	}
	return b.String()
}

// doubleQuoteEscaper escapes what is special inside "...".
var doubleQuoteEscaper = strings.NewReplacer(`\`, `\\`, `$`, `\$`, "`", "\\`", `"`, `\"`)

// backtickEscaper escapes what a backslash escapes inside `...`.
var backtickEscaper = strings.NewReplacer(`\`, `\\`, `$`, `\$`, "`", "\\`")

// shells are the programs whose -c argument is a script in the POSIX
// shell's quoting.
var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "mksh": true, "ash": true}

// shellScriptArg returns the index in args of the script that a shell run
// as command with args would run from its -c, or -1. Through env the
// command is the first argument after env's options and assignments.
func shellScriptArg(command string, args []string) int {
	i := 0
	if path.Base(command) == "env" {
		i = envCommand(args)
		if i >= len(args) {
			return -1
		}
		command, i = args[i], i+1
	}
	if !shells[path.Base(command)] {
		return -1
	}
	dashC := false
	for ; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--" || a == "-":
			i++
		case a == "-o" || a == "+o" || a == "-O" || a == "+O":
			i++ // takes a value
			continue
		case strings.HasPrefix(a, "--"): // bash's long options
			continue
		case len(a) > 1 && (a[0] == '-' || a[0] == '+'):
			if a[0] == '-' && strings.ContainsRune(a[1:], 'c') {
				dashC = true
			}
			continue
		}
		break
	}
	if !dashC || i >= len(args) {
		return -1
	}
	return i
}

// envCommand returns the index in args (the arguments of env) of the
// command env runs.
func envCommand(args []string) int {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return i + 1
		case a == "-u" || a == "-C" || a == "--unset" || a == "--chdir":
			i++ // takes a value
		case strings.HasPrefix(a, "-"):
		case strings.Contains(a, "="):
		default:
			return i
		}
	}
	return len(args)
}
