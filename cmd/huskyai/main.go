// Command huskyai answers "is this a husky?" for images, from the command
// line (huskyai predict) and, in later versions, as a web service.
//
// Usage:
//
//	huskyai predict [--model PATH] IMAGE...
//	huskyai serve [flags]
//	huskyai cert --out-cert FILE --out-key FILE
//	huskyai version
//
// Run "huskyai help" or "huskyai COMMAND --help" for the flags.
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
	if err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "huskyai:", err)
		}
		os.Exit(1)
	}
}

// errReported is returned when the failure has already been written to
// stderr, so main only sets the exit status.
var errReported = errors.New("errors reported")

// usage is the top-level help.
const usage = `huskyai: is this a husky?

Usage:
  huskyai predict [--model PATH] IMAGE...   classify images, one JSON line each
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
		return errors.New("no command given")
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "predict":
		return runPredict(ctx, rest, getenv, stdout, stderr)
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
		return fmt.Errorf("unknown command %q", cmd)
	}
}
