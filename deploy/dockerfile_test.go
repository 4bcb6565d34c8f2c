package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// The rules lintDockerfile enforces on the repository's Dockerfile, besides
// BuildKit's own parser and linter finding nothing to say.
const (
	ruleMultiStage   = "multi-stage"
	ruleBaseTag      = "pinned base"
	ruleFinalBase    = "final base"
	ruleUser         = "non-root user"
	ruleAddURL       = "no ADD of a URL"
	ruleStaticBuild  = "static build"
	ruleEntrypoint   = "exec-form entrypoint"
	ruleFinalNoShell = "no RUN in the final stage"
	ruleExpose       = "expose"
	ruleBuildkitLint = "buildkit lint"
	ruleGoVersion    = "go version"
	ruleCasing       = "instruction casing"
)

// dockerfileProblem is one broken rule.
type dockerfileProblem struct {
	rule string
	line int
	msg  string
}

func (p dockerfileProblem) String() string {
	return fmt.Sprintf("line %d: %s: %s", p.line, p.rule, p.msg)
}

// dockerfileFacts is what the checks of the other files need from the
// Dockerfile.
type dockerfileFacts struct {
	entrypoint []string // of the final stage
	cmd        []string // of the final stage
	expose     []string
	user       string
}

func lineOf(cmd interface{ Location() []parser.Range }) int {
	if loc := cmd.Location(); len(loc) > 0 {
		return loc[0].Start.Line
	}
	return 0
}

// imageTag splits an image reference into its repository, tag and digest.
func imageTag(ref string) (repo, tag, digest string) {
	repo, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	return repo, tag, digest
}

// mapEnv is the environment the build's shell words are expanded with.
type mapEnv map[string]string

func (m mapEnv) Get(k string) (string, bool) { v, ok := m[k]; return v, ok }
func (m mapEnv) Keys() []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// lintDockerfile parses src with BuildKit's Dockerfile parser and
// instruction parser (with BuildKit's linter on) and checks the rules.
// goVersion is go.mod's "go" line (e.g. 1.26.8): the build stage's
// golang image must be of the same minor version.
func lintDockerfile(src []byte, goVersion string) ([]dockerfileProblem, dockerfileFacts, error) {
	var problems []dockerfileProblem
	var facts dockerfileFacts
	add := func(rule string, line int, format string, args ...any) {
		problems = append(problems, dockerfileProblem{rule, line, fmt.Sprintf(format, args...)})
	}
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, facts, err
	}
	for _, w := range res.Warnings {
		line := 0
		if w.Location != nil {
			line = w.Location.Start.Line
		}
		add(ruleBuildkitLint, line, "parser: %s", w.Short)
	}
	// BuildKit runs its other lint rules (JSONArgsRecommended,
	// ConsistentInstructionCasing...) while converting to LLB, which would
	// bring its whole solver in: the exec-form rule below and this casing
	// rule stand for those two.
	for _, n := range res.AST.Children {
		if word, _, _ := strings.Cut(strings.TrimSpace(n.Original), " "); word != strings.ToUpper(word) {
			add(ruleCasing, n.StartLine, "%s: write instructions in upper case", word)
		}
	}
	lint := linter.New(&linter.Config{Warn: func(rule, desc, url, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		add(ruleBuildkitLint, line, "%s: %s", rule, msg)
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return nil, facts, err
	}
	if len(metaArgs) > 0 {
		add(ruleBaseTag, lineOf(&metaArgs[0]), "ARG before FROM: base images must be literal, pinned references")
	}
	if len(stages) < 2 {
		add(ruleMultiStage, 1, "%d stage: want a build stage and a separate final stage, so that the toolchain and sources stay out of the image", len(stages))
		if len(stages) == 0 {
			return problems, facts, nil
		}
	}

	stageNames := map[string]int{}
	lex := shell.NewLex(res.EscapeToken)
	var buildOutputs = map[string]string{} // stage name -> the -o of its static go build
	for i, st := range stages {
		line := 0
		if len(st.Location) > 0 {
			line = st.Location[0].Start.Line
		}
		if _, ok := stageNames[strings.ToLower(st.BaseName)]; !ok {
			repo, tag, digest := imageTag(st.BaseName)
			switch {
			case strings.Contains(st.BaseName, "$"):
				add(ruleBaseTag, line, "FROM %s: a variable in the base image", st.BaseName)
			case st.BaseName == "scratch":
			case tag == "" && digest == "":
				add(ruleBaseTag, line, "FROM %s: no tag or digest (it means latest)", st.BaseName)
			case tag == "latest":
				add(ruleBaseTag, line, "FROM %s: the latest tag changes under you; pin a version (and a digest in production)", st.BaseName)
			}
			if repo == "golang" || strings.HasSuffix(repo, "/golang") {
				if minor := regexp.MustCompile(`^\d+\.\d+`).FindString(goVersion); minor == "" || !strings.HasPrefix(tag, minor) {
					add(ruleGoVersion, line, "FROM %s: go.mod says go %s", st.BaseName, goVersion)
				}
			}
		}
		if st.Name != "" {
			stageNames[strings.ToLower(st.Name)] = i
		}

		env := mapEnv{}
		for _, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.ArgCommand:
				for _, a := range c.Args {
					if a.Value != nil {
						env[a.Key] = *a.Value
					} else {
						env[a.Key] = ""
					}
				}
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					env[kv.Key] = kv.Value
				}
			case *instructions.AddCommand:
				for _, s := range c.SourcePaths {
					if regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://|^git@`).MatchString(s) {
						add(ruleAddURL, lineOf(c), "ADD %s: fetches from the network at build time, unchecked; download in a RUN that verifies a checksum, or COPY", s)
					}
				}
			case *instructions.RunCommand:
				if i == len(stages)-1 {
					add(ruleFinalNoShell, lineOf(c), "RUN in the final stage: the base has no shell; do the work in the build stage")
				}
				for _, cmdLine := range c.CmdLine {
					words, err := lex.ProcessWords(cmdLine, env)
					if err != nil {
						add(ruleStaticBuild, lineOf(c), "RUN: %v", err)
						continue
					}
					for _, seg := range splitShell(words) {
						out, ok, msg := staticGoBuild(seg, env)
						if msg != "" {
							add(ruleStaticBuild, lineOf(c), "%s", msg)
						}
						if ok && st.Name != "" {
							buildOutputs[strings.ToLower(st.Name)] = out
						}
					}
				}
			}
		}
	}
	if len(buildOutputs) == 0 {
		add(ruleStaticBuild, 1, "no stage runs CGO_ENABLED=0 go build -trimpath -o FILE")
	}

	// The final stage.
	final := stages[len(stages)-1]
	finalLine := 0
	if len(final.Location) > 0 {
		finalLine = final.Location[0].Start.Line
	}
	repo, _, _ := imageTag(final.BaseName)
	if final.BaseName != "scratch" && !strings.HasPrefix(repo, "gcr.io/distroless/static") {
		add(ruleFinalBase, finalLine, "FROM %s: the final stage must be gcr.io/distroless/static* or scratch (no libc, no shell, no package manager)", final.BaseName)
	}
	copied := map[string]string{} // destination -> stage it came from
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			if c.From != "" {
				copied[c.DestPath] = strings.ToLower(c.From)
			}
		case *instructions.UserCommand:
			facts.user = c.User
		case *instructions.EntrypointCommand:
			facts.entrypoint = c.CmdLine
			if c.PrependShell {
				add(ruleEntrypoint, lineOf(c), "ENTRYPOINT in shell form: use the exec form [\"/huskyai\", \"serve\"] (there is no shell, and signals must reach the binary)")
			}
		case *instructions.CmdCommand:
			facts.cmd = c.CmdLine
			if c.PrependShell {
				add(ruleEntrypoint, lineOf(c), "CMD in shell form: use the exec form")
			}
		case *instructions.ExposeCommand:
			facts.expose = append(facts.expose, c.Ports...)
		}
	}
	switch uid, gid, _ := strings.Cut(facts.user, ":"); {
	case facts.user == "":
		add(ruleUser, finalLine, "no USER in the final stage: the container would run as the base's user, root for scratch")
	case !isNumber(uid) || (gid != "" && !isNumber(gid)):
		add(ruleUser, finalLine, "USER %s: use a numeric uid[:gid], which Kubernetes' runAsNonRoot can check", facts.user)
	case uid == "0" || strings.Trim(uid, "0") == "":
		add(ruleUser, finalLine, "USER %s is root", facts.user)
	}
	switch {
	case len(facts.entrypoint) == 0:
		add(ruleEntrypoint, finalLine, "no ENTRYPOINT in the final stage")
	case len(facts.entrypoint) < 2 || facts.entrypoint[1] != "serve":
		add(ruleEntrypoint, finalLine, "ENTRYPOINT %q: want the binary and \"serve\"", facts.entrypoint)
	default:
		from, ok := copied[facts.entrypoint[0]]
		if !ok {
			add(ruleStaticBuild, finalLine, "ENTRYPOINT %s: not a file copied from a build stage", facts.entrypoint[0])
		} else if _, ok := buildOutputs[from]; !ok {
			add(ruleStaticBuild, finalLine, "ENTRYPOINT %s comes from stage %q, which has no static go build", facts.entrypoint[0], from)
		}
	}
	if !slices.Contains(facts.expose, "8443") && !slices.Contains(facts.expose, "8443/tcp") {
		add(ruleExpose, finalLine, "EXPOSE %v: want 8443, the port of --addr", facts.expose)
	}
	return problems, facts, nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// splitShell splits shell words into simple commands at &&, ||, ; and |.
func splitShell(words []string) [][]string {
	var segs [][]string
	var cur []string
	for _, w := range words {
		switch w {
		case "&&", "||", ";", "|":
			segs = append(segs, cur)
			cur = nil
		default:
			cur = append(cur, w)
		}
	}
	return append(segs, cur)
}

// staticGoBuild looks at one simple command. For "go build", ok reports a
// static, trimmed build (CGO_ENABLED=0 in the command's assignments or
// the stage's ENV/ARG, -trimpath, -ldflags with -s and -w) writing out;
// msg says what is missing.
func staticGoBuild(words []string, env mapEnv) (out string, ok bool, msg string) {
	cgo := env["CGO_ENABLED"]
	i := 0
	for ; i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-"); i++ {
		if k, v, _ := strings.Cut(words[i], "="); k == "CGO_ENABLED" {
			cgo = v
		}
	}
	if i < len(words) && words[i] == "env" { // env CGO_ENABLED=0 go build
		return staticGoBuild(words[i+1:], env)
	}
	if len(words)-i < 2 || words[i] != "go" || words[i+1] != "build" {
		return "", false, ""
	}
	var missing []string
	if cgo != "0" {
		missing = append(missing, "CGO_ENABLED=0")
	}
	args := words[i+2:]
	trimpath, ldflags := false, ""
	for j := 0; j < len(args); j++ {
		a := strings.TrimPrefix(args[j], "-")
		switch {
		case a == "-trimpath" || a == "trimpath" || a == "trimpath=true":
			trimpath = true
		case strings.HasPrefix(a, "ldflags=") || strings.HasPrefix(a, "-ldflags="):
			_, ldflags, _ = strings.Cut(a, "=")
		case (a == "ldflags" || a == "-ldflags") && j+1 < len(args):
			j++
			ldflags = args[j]
		case (a == "o" || a == "-o") && j+1 < len(args):
			j++
			out = args[j]
		case strings.HasPrefix(a, "o=") || strings.HasPrefix(a, "-o="):
			_, out, _ = strings.Cut(a, "=")
		}
	}
	if !trimpath {
		missing = append(missing, "-trimpath")
	}
	if lf := strings.Fields(ldflags); !slices.Contains(lf, "-s") || !slices.Contains(lf, "-w") {
		missing = append(missing, "-ldflags with -s -w")
	}
	if out == "" {
		missing = append(missing, "-o FILE")
	}
	if len(missing) > 0 {
		return out, false, fmt.Sprintf("go build %s: missing %s", strings.Join(args, " "), strings.Join(missing, ", "))
	}
	return out, true, ""
}

func readRepoFile(t reporter, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// goModVersion is go.mod's "go" directive.
func goModVersion(t reporter) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(readRepoFile(t, "go.mod"))
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

// TestDockerfile lints the repository's Dockerfile: BuildKit's parser and
// linter must have nothing to say, every rule above must hold, and the
// final stage's default arguments must be valid "huskyai serve" flags
// that listen on the exposed port on all interfaces.
func TestDockerfile(t *testing.T) {
	problems, facts, err := lintDockerfile(readRepoFile(t, "Dockerfile"), goModVersion(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("Dockerfile %s", p)
	}
	args := checkServeArgs(t, "Dockerfile CMD", facts.cmd)
	if addr := args.value("addr"); addr != "0.0.0.0:8443" {
		t.Errorf("Dockerfile CMD: --addr %q: want 0.0.0.0:8443 (the default, 127.0.0.1, is unreachable from outside the container)", addr)
	}
	if args.has("audit-log") && args.value("audit-log") != "-" {
		t.Errorf("Dockerfile CMD: --audit-log %q would write into the read-only root file system", args.value("audit-log"))
	}
}

// TestDockerfileRules shows that each rule catches what it is for: each
// case breaks the real Dockerfile in one way.
func TestDockerfileRules(t *testing.T) {
	good := string(readRepoFile(t, "Dockerfile"))
	goVersion := goModVersion(t)
	edit := func(old, new string) string {
		t.Helper()
		if !strings.Contains(good, old) {
			t.Fatalf("the Dockerfile no longer has %q: update this test", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	const (
		buildFrom = "FROM golang:1.26-bookworm AS build"
		finalFrom = "FROM gcr.io/distroless/static-debian12:nonroot"
		user      = "USER 65532:65532"
		entry     = `ENTRYPOINT ["/huskyai", "serve"]`
		expose    = "EXPOSE 8443"
	)
	buildRun := regexp.MustCompile(`(?m)^RUN CGO_ENABLED=0 go build .*$`).FindString(good)
	if buildRun == "" {
		t.Fatal("the Dockerfile has no line RUN CGO_ENABLED=0 go build: update this test")
	}
	for _, tc := range []struct {
		name, src, rule string
	}{
		{"one stage", "FROM gcr.io/distroless/static-debian12:nonroot\nCOPY huskyai /huskyai\nUSER 65532\nEXPOSE 8443\nENTRYPOINT [\"/huskyai\", \"serve\"]\n", ruleMultiStage},
		{"untagged base", edit(buildFrom, "FROM golang AS build"), ruleBaseTag},
		{"latest base", edit(buildFrom, "FROM golang:latest AS build"), ruleBaseTag},
		{"variable base", edit(buildFrom, "ARG GO=golang:1.26-bookworm\nFROM ${GO} AS build"), ruleBaseTag},
		{"other Go", edit(buildFrom, "FROM golang:1.24-bookworm AS build"), ruleGoVersion},
		{"debian final", edit(finalFrom, "FROM debian:bookworm-slim"), ruleFinalBase},
		{"distroless with libc", edit(finalFrom, "FROM gcr.io/distroless/base-debian12:nonroot"), ruleFinalBase},
		{"no user", edit(user+"\n", ""), ruleUser},
		{"named user", edit(user, "USER nonroot"), ruleUser},
		{"root", edit(user, "USER 0:0"), ruleUser},
		{"add url", edit(buildRun, "ADD https://example.com/tool.tgz /tmp/\n"+buildRun), ruleAddURL},
		{"cgo", edit(buildRun, strings.Replace(buildRun, "CGO_ENABLED=0 ", "", 1)), ruleStaticBuild},
		{"cgo on", edit(buildRun, strings.Replace(buildRun, "CGO_ENABLED=0 ", "CGO_ENABLED=1 ", 1)), ruleStaticBuild},
		{"no trimpath", edit(buildRun, strings.Replace(buildRun, "-trimpath ", "", 1)), ruleStaticBuild},
		{"shell entrypoint", edit(entry, "ENTRYPOINT /huskyai serve"), ruleEntrypoint},
		{"no serve", edit(entry, `ENTRYPOINT ["/huskyai"]`), ruleEntrypoint},
		{"binary not built", edit(entry, `ENTRYPOINT ["/bin/other", "serve"]`), ruleStaticBuild},
		{"run in final", edit(user, "RUN [\"/huskyai\", \"version\"]\n"+user), ruleFinalNoShell},
		{"no expose", edit(expose+"\n", ""), ruleExpose},
		{"lowercase instruction", edit(expose, "expose 8443"), ruleCasing},
		{"lowercase as", edit(buildFrom, "FROM golang:1.26-bookworm as build"), ruleBuildkitLint},
		{"empty continuation", edit(user, "ENV A=1 \\\n\n    B=2\n"+user), ruleBuildkitLint},
	} {
		problems, _, err := lintDockerfile([]byte(tc.src), goVersion)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.ContainsFunc(problems, func(p dockerfileProblem) bool { return p.rule == tc.rule }) {
			t.Errorf("%s: the %q rule did not fire; problems: %v", tc.name, tc.rule, problems)
		}
		t.Logf("%s: %v", tc.name, problems)
	}
}
