package openjd

import (
	"fmt"
	"strings"
	"testing"
)

// checkArg checks a job template (EXPR) whose one action has arg as its
// argument, with parameters X (INT), Name (STRING), F (PATH) and Items
// (LIST[STRING]) and the step's let bindings lets.
func checkArg(arg string, lets ...string) error {
	l := ""
	if len(lets) > 0 {
		l = fmt.Sprintf("\n  let: %q", lets)
		l = strings.ReplaceAll(l, `" "`, `", "`)
	}
	return Check([]byte(fmt.Sprintf(`specificationVersion: jobtemplate-2023-09
extensions: [EXPR]
name: J
parameterDefinitions:
- {name: X, type: INT, default: 5}
- {name: Name, type: STRING, default: a}
- {name: F, type: PATH, default: f}
- {name: B, type: BOOL, default: true}
- {name: Items, type: "LIST[STRING]", default: [a, b]}
steps:
- name: S%s
  script: {actions: {onRun: {command: echo, args: [%q]}}}
`, l, arg)), Options{})
}

// TestTemplateTimeChecks checks that what RFC 0005 makes an error when the
// operands are known when the template is checked (literals, let bindings
// of literals) is refused by Check, naming the field and the expression,
// and that errors that depend on values not known yet are left to the
// job.
func TestTemplateTimeChecks(t *testing.T) {
	t.Parallel()
	const field = "steps[0].script.actions.onRun.args[0]: "
	bad := []struct {
		arg  string
		lets []string
		want string
	}{
		{"{{ nosuch(1) }}", nil, "nosuch(): unknown function"},
		{"{{ Param.Name.nosuch() }}", nil, "nosuch(): unknown function"},
		{"{{ Param.X if Param.B else nosuch() }}", nil, "unknown function"},
		{"{{ len(1) }}", nil, "len(): no version takes (int)"},
		{"{{ len('a', 'b') }}", nil, "no version takes (string, string)"},
		{"{{ Param.X.upper() }}", nil, "upper(): no version takes (int)"},
		{"{{ Param.Items[0] + 1 }}", nil, "cannot use '+' with string and int"},
		{"{{ Param.X + 'a' }}", nil, "cannot use '+' with int and string"},
		{"{{ 1 if 5 else 2 }}", nil, "the condition of 'if' must be a bool, not int"},
		{"{{ 1 if Param.X else 2 }}", nil, "must be a bool, not int"},
		{"{{ not Param.Name }}", nil, "'not' needs a bool"},
		{"{{ [1, null] }}", nil, "a list cannot hold null"},
		{"{{ 1 // 0 }}", nil, "division by zero"},
		{"{{ Param.X + 1 % 0 }}", nil, "division by zero"},
		{"{{ 9223372036854775807 + 1 }}", nil, "overflow"},
		{"{{ int('x') }}", nil, `cannot convert "x" to int`},
		{"{{ int(3.5) }}", nil, "not an integer"},
		{"{{ float('abc') }}", nil, "cannot convert"},
		{"{{ bool('maybe') }}", nil, "cannot convert"},
		{"{{ min([]) }}", nil, "non-empty list"},
		{"{{ 'a,b'.split('') }}", nil, "separator must not be empty"},
		{"{{ 'abc'.index('z') }}", nil, "not found"},
		{"{{ 'abc'.count('') }}", nil, "must not be empty"},
		{"{{ re_search('a', '(') }}", nil, "bad pattern"},
		{"{{ re_search(Param.Name, 'a\\\\z') }}", nil, `\z is not supported`},
		{"{{ path('/a').relative_to('/b') }}", nil, "is not relative to"},
		{"{{ path('a_%040d').with_number(1) }}", nil, "padding wider than 32"},
		{"{{ 'a' * 100000000000 }}", nil, "larger than"},
		{"{{ range_expr('') }}", nil, "empty"},
		{"{{ y }}", []string{"y = 1 / 0"}, "steps[0].let[0]: y = 1 / 0: column 4: division by zero"},
		{"{{ 10 // y }}", []string{"y = 0"}, "division by zero"},
		{"{{ z }}", []string{"y = 'q'", "z = int(y)"}, "cannot convert"},
		{"{{ y + 1 }}", []string{"y = 'a'.upper()"}, "cannot use '+' with string and int"},
		{"{{ Param.Name.split('') }}", nil, "split(): the separator must not be empty"},
		{"{{ Param.Name.replace('', 'x') }}", nil, "the old string must not be empty"},
		{"{{ [x for x in Param.Items if 1] }}", nil, "a list comprehension filter must be a bool, not int"},
		{"{{ [Param.X, null] }}", nil, "a list cannot hold null"},
		// The names of the job and the step are known when they are
		// literal.
		{"{{ int(Step.Name) }}", nil, `cannot convert "S" to int`},
		{"{{ Job.Name.index('x') }}", nil, "not found"},
	}
	for _, tt := range bad {
		err := checkArg(tt.arg, tt.lets...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s (let %v): error %v, want one containing %q", tt.arg, tt.lets, err, tt.want)
			continue
		}
		if tt.lets == nil && !strings.Contains(err.Error(), field+tt.arg) {
			t.Errorf("%s: error %q does not name the field and the expression", tt.arg, err)
		}
	}
	good := []struct {
		arg  string
		lets []string
	}{
		{"{{ Param.X if Param.X > 0 else fail('X must be positive') }}", nil},
		{"{{ Param.Name in ['a', 'b'] or fail('bad name') }}", nil},
		{"{{ Param.B and 10 // Param.X }}", nil},
		{"{{ 10 // Param.X }}", nil},
		{"{{ int(Param.Name) }}", nil},
		{"{{ re_search(Param.Name, 'a(b)') }}", nil},
		{"{{ [x.upper() for x in Param.Items] }}", nil},
		{"{{ [1 // 0 for x in []] }}", nil},
		{"{{ 1 if true else 1 // 0 }}", nil},
		{"{{ false and 1 // 0 }}", nil},
		{"{{ apply_path_mapping(RawParam.F) }}", nil},
		{"{{ y * 2 }}", []string{"y = 21"}},
		{"{{ y.upper() }}", []string{"y = Param.Name + 'x'"}},
		{"{{ 1 if Param.B else 'a' }}", nil},
		{"{{ Job.Name.lower() + Step.Name }}", nil},
	}
	for _, tt := range good {
		if err := checkArg(tt.arg, tt.lets...); err != nil {
			t.Errorf("%s (let %v): %v", tt.arg, tt.lets, err)
		}
	}
}

// TestPathMappingOnlyOnHost checks that apply_path_mapping, which needs
// the session's rules, is refused in fields resolved when the job is
// created (the job name here).
func TestPathMappingOnlyOnHost(t *testing.T) {
	t.Parallel()
	err := Check([]byte(`specificationVersion: jobtemplate-2023-09
extensions: [EXPR]
name: "{{ apply_path_mapping('/a').name }}"
steps:
- name: S
  script: {actions: {onRun: {command: echo}}}
`), Options{})
	if err == nil || !strings.Contains(err.Error(), "name: ") || !strings.Contains(err.Error(), "apply_path_mapping() is only available") {
		t.Fatalf("error %v, want apply_path_mapping refused in the job name", err)
	}
}
