package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/huskyai/huskyai/audit"
)

const auditUsage = `Usage: huskyai audit verify LOG...

Checks the hash chain of huskyai audit logs, JSON lines chained by SHA-256
(LOG "-" reads standard input). Several LOGs are the files of one log in
order, oldest first, as rotation left them (audit.log.1, then audit.log):
each must carry on the chain of the one before. For each it prints
"OK N records (seq A..B), last hash H" and, for a file that starts after a
rotation, which record it continues; it exits 0. It prints the first bad
line and why (a line edited, deleted, inserted or moved; lines cut from
the start of a file that does not say it continues a rotated one) and
exits 1. Keep the last hash elsewhere: the chain cannot show that lines
were cut from the end.
`

// runAudit runs the "huskyai audit" subcommands: only "verify" for now.
func runAudit(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(stdout, auditUsage)
		return nil
	}
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(stderr, auditUsage)
		if len(args) == 0 {
			return errors.New("audit: no subcommand given (want \"verify\")")
		}
		return fmt.Errorf("audit: unknown subcommand %q (want \"verify\")", args[0])
	}
	return runAuditVerify(args[1:], stdin, stdout, stderr)
}

// runAuditVerify checks the chain of one audit log, or of the files a
// rotated log was split into, in order.
func runAuditVerify(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("huskyai audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), auditUsage) }
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("audit verify: a LOG (or - for standard input) is required")
	}
	var prev *audit.Summary
	prevName := ""
	for _, name := range fs.Args() {
		sum, err := verifyOne(name, stdin)
		if err != nil {
			return err
		}
		label := name
		if name == "-" {
			label = "standard input"
		}
		if prev != nil && sum.Records > 0 && (!sum.Continues || sum.Prev != prev.LastHash || sum.FirstSeq != prev.LastSeq+1) {
			return fmt.Errorf("audit verify: FAILED: %s does not carry on %s: its first record is seq %d with prev %s; %s ends with seq %d, hash %s",
				label, prevName, sum.FirstSeq, sum.Prev, prevName, prev.LastSeq, prev.LastHash)
		}
		fmt.Fprintf(stdout, "OK %s: %d records", label, sum.Records)
		if sum.Records > 0 {
			fmt.Fprintf(stdout, " (seq %d..%d)", sum.FirstSeq, sum.LastSeq)
		}
		fmt.Fprintf(stdout, ", last hash %s\n", sum.LastHash)
		if sum.Continues && prev == nil {
			fmt.Fprintf(stdout, "   it continues a rotated log whose record %d has hash %s: verify them together to check the link\n",
				sum.FirstSeq-1, sum.Prev)
		}
		prev, prevName = &sum, label
	}
	return nil
}

// verifyOne verifies one file of a log ("-": stdin).
func verifyOne(name string, stdin io.Reader) (audit.Summary, error) {
	r := stdin
	label := name
	if name == "-" {
		label = "standard input"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return audit.Summary{}, fmt.Errorf("audit verify: %w", err)
		}
		defer f.Close()
		r = f
	}
	sum, err := audit.VerifyLog(r)
	if err != nil {
		return sum, fmt.Errorf("audit verify: FAILED: %s: %w (%d good records before it)", label, err, sum.Records)
	}
	return sum, nil
}
