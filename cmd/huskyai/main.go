// Command huskyai answers "is this a husky?" for images, from the command
// line (huskyai predict) and, in later versions, as a web service.
//
// Usage:
//
//	huskyai predict [--model PATH] [--format jsonl|csv|table] IMAGE|DIR|-...
//	huskyai eval [flags] DIR
//	huskyai serve [flags]
//	huskyai cert --out-cert FILE --out-key FILE
//	huskyai version
//
// Run "huskyai help" or "huskyai COMMAND --help" for the flags. The exit
// status is 0 on success, 1 on failure (for predict: some image could not
// be classified) and 2 for a bad command line.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode reports err on stderr unless it was already reported, and
// returns the exit status: 0 for success, 2 for a bad command line
// (*usageError), 1 for any other failure, such as images that could not
// be classified.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if !errors.Is(err, errReported) {
		fmt.Fprintln(stderr, "huskyai:", err)
	}
	if _, ok := errors.AsType[*usageError](err); ok {
		return 2
	}
	return 1
}

// errReported is returned when the failure has already been written to
// stderr, so main only sets the exit status.
var errReported = errors.New("errors reported")

// usage is the top-level help.
const usage = `huskyai: is this a husky?

Usage:
  huskyai predict [--model M] IMAGE|DIR|-   classify images: JSON lines, CSV or a table
  huskyai eval [--probes] DIR               measure a model on DIR/husky/**, DIR/other/**
  huskyai serve [--addr HOST:PORT] ...      serve the upload page and JSON API over HTTPS
  huskyai cert --out-cert F --out-key F     write a self-signed certificate for serve
  huskyai keygen --out NAME                 write a model-signing key pair NAME.key, NAME.pub
  huskyai sign --key KEY MODEL              write the detached signature MODEL.sig
  huskyai verify --pub PUB_OR_DIR MODEL     check MODEL against MODEL.sig and trusted keys
  huskyai audit verify LOG                  check an audit log's hash chain (- for stdin)
  huskyai version                           print the version
  huskyai help                              print this help

Run "huskyai COMMAND --help" for a command's flags.
`

// version is set at link time with -ldflags "-X main.version=...".
var version = "dev"

// run is the whole program: main only supplies the process's arguments,
// environment and standard streams, which tests replace.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return usageErrorf("no command given")
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "predict":
		return runPredict(ctx, rest, getenv, stdin, stdout, stderr)
	case "eval":
		return runEval(ctx, rest, getenv, stdout, stderr)
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "cert":
		return runCert(rest, stdout, stderr)
	case "keygen":
		return runKeygen(rest, stdout, stderr)
	case "sign":
		return runSign(rest, stdout, stderr)
	case "verify":
		return runVerify(rest, stdout, stderr)
	case "audit":
		return runAudit(rest, stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "huskyai", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageErrorf("unknown command %q", cmd)
	}
}
