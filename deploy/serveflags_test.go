package deploy

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveFlags are the flags of "huskyai serve", read from its --help:
// name -> whether it takes a value (false for a boolean flag).
var serveFlags struct {
	once  sync.Once
	flags map[string]bool
	err   error
}

// helpFlagLine is a flag's first line in Go's flag.PrintDefaults output:
// "  -name" for a boolean, "  -name TYPE" otherwise.
var helpFlagLine = regexp.MustCompile(`^  -([a-z0-9][a-z0-9-]*)(?: (\S+))?$`)

func huskyaiServeFlags(t reporter) map[string]bool {
	t.Helper()
	bin := huskyaiBinary(t)
	serveFlags.once.Do(func() {
		out, err := exec.Command(bin, "serve", "--help").CombinedOutput()
		if err != nil {
			serveFlags.err = fmt.Errorf("huskyai serve --help: %v\n%s", err, out)
			return
		}
		serveFlags.flags = make(map[string]bool)
		for line := range strings.SplitSeq(string(out), "\n") {
			if m := helpFlagLine.FindStringSubmatch(line); m != nil {
				serveFlags.flags[m[1]] = m[2] != ""
			}
		}
		if len(serveFlags.flags) < 20 || !serveFlags.flags["model"] || serveFlags.flags["watch"] {
			serveFlags.err = fmt.Errorf("huskyai serve --help: could not read the flags (%d found):\n%s", len(serveFlags.flags), out)
		}
	})
	if serveFlags.err != nil {
		t.Fatal(serveFlags.err)
	}
	return serveFlags.flags
}

// parsedArgs are container arguments of "huskyai serve": flag name -> the
// values given (a boolean given alone has the value "true").
type parsedArgs map[string][]string

func (a parsedArgs) has(name string) bool { return len(a[name]) > 0 }

// value is the last value given for name ("" if none), as flag.Parse
// keeps the last one.
func (a parsedArgs) value(name string) string {
	if v := a[name]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// checkServeArgs checks args as the arguments of "huskyai serve" and
// returns them by flag:
//   - each is "--name=value", or "--name" alone for a boolean flag (a
//     value in the next argument is refused: it makes the list's meaning
//     depend on the flag's type, and a YAML edit can silently shift it);
//   - each name is a flag of "huskyai serve", read from the built
//     binary's --help;
//   - the binary's own flag parser accepts the whole list with its values
//     ("huskyai serve ARGS... --help" exits 0 only if every flag before
//     --help is defined and its value parses; it then prints the help and
//     serves nothing).
func checkServeArgs(t reporter, where string, args []string) parsedArgs {
	t.Helper()
	flags := huskyaiServeFlags(t)
	parsed := make(parsedArgs)
	selfContained := true
	for _, arg := range args {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-"), "=")
		takesValue, known := flags[name]
		switch {
		case !strings.HasPrefix(arg, "-") || name == "":
			t.Errorf("%s: argument %q is not a flag (huskyai serve takes none)", where, arg)
			selfContained = false
		case !known:
			t.Errorf("%s: %q is not a flag of huskyai serve", where, arg)
			selfContained = false
		case takesValue && !hasValue:
			t.Errorf("%s: %q: write --%s=VALUE, in one argument", where, arg, name)
			selfContained = false
		case !hasValue:
			parsed[name] = append(parsed[name], "true")
		default:
			parsed[name] = append(parsed[name], value)
		}
	}
	if !selfContained {
		return parsed // "--help" could be taken as a value: do not run it
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmdArgs := append(append([]string{"serve"}, args...), "--help")
	out, err := exec.CommandContext(ctx, huskyaiBinary(t), cmdArgs...).CombinedOutput()
	if err != nil {
		t.Errorf("%s: huskyai serve's flag parser refuses the arguments %q: %v\n%s", where, args, err, firstLines(out, 3))
	}
	return parsed
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// TestCheckServeArgs shows that checkServeArgs refuses what it should, on
// a recording T.
func TestCheckServeArgs(t *testing.T) {
	huskyaiServeFlags(t)
	for _, tc := range []struct {
		args []string
		want string // in the error; "" for none
	}{
		{[]string{"--addr=0.0.0.0:8443", "--watch", "--model=/m.h5", "-require-signature"}, ""},
		{[]string{"--modle=/m.h5"}, "not a flag of huskyai serve"},
		{[]string{"--model", "/m.h5"}, "in one argument"},
		{[]string{"serve"}, "is not a flag"},
		{[]string{"--max-pending=eight"}, "flag parser refuses"},
		{[]string{"--watch=maybe"}, "flag parser refuses"},
		{[]string{"--trusted-proxy=10.244.0.0/33"}, "flag parser refuses"},
	} {
		rt := &recordingT{}
		rt.run(func() { checkServeArgs(rt, "test", tc.args) })
		got := strings.Join(rt.errors, "\n")
		switch {
		case tc.want == "" && got != "":
			t.Errorf("%q: unexpected errors:\n%s", tc.args, got)
		case tc.want != "" && !strings.Contains(got, tc.want):
			t.Errorf("%q: want an error with %q, got:\n%s", tc.args, tc.want, got)
		}
	}
}

// reporter is the part of testing.TB the checks use, so that a test can
// run them on a recordingT to show that they fail when they should.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Failed() bool
}

// recordingT is a reporter that records the errors. Fatal ends run's
// function, as testing.T's ends the test.
type recordingT struct{ errors []string }

type fatalStop struct{}

func (r *recordingT) Helper() {}
func (r *recordingT) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recordingT) Fatal(args ...any) {
	r.errors = append(r.errors, fmt.Sprint(args...))
	panic(fatalStop{})
}

func (r *recordingT) Fatalf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
	panic(fatalStop{})
}
func (r *recordingT) Failed() bool { return len(r.errors) > 0 }

func (r *recordingT) run(f func()) {
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(fatalStop); !ok {
				panic(v)
			}
		}
	}()
	f()
}
