package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/huskyai/huskyai/modelsign"
)

// maxModelFile bounds a model file read by sign and verify.
const maxModelFile = 4 << 30

// parseFlags parses args with fs; it reports -h/--help as done (true) with
// no error.
func parseFlags(fs *flag.FlagSet, args []string) (done bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return true, err
	}
	return false, nil
}

// runKeygen writes a new Ed25519 key pair for "huskyai sign" and "huskyai
// verify": NAME.key (PKCS#8 PEM, mode 0600) and NAME.pub (PKIX PEM).
func runKeygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("huskyai keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write NAME.key (private, mode 0600) and NAME.pub (public) (required)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: huskyai keygen --out NAME\n\nWrites a new Ed25519 model-signing key pair: NAME.key, the private key\n(PKCS#8 PEM, mode 0600; keep it secret, off the servers), and NAME.pub, the\npublic key (PKIX PEM) that \"huskyai verify --pub\" trusts. Existing files are\nnot overwritten.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("keygen: --out NAME is required, and nothing else")
	}
	keyPath, pubPath := *out+".key", *out+".pub"
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("keygen: %s already exists; not overwriting it", p)
		}
	}
	priv, pub, err := modelsign.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	privPEM, err := modelsign.MarshalPrivateKey(priv)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	pubPEM, err := modelsign.MarshalPublicKey(pub)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if err := writeNew(keyPath, privPEM, 0o600); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if err := writeNew(pubPath, pubPEM, 0o644); err != nil {
		os.Remove(keyPath)
		return fmt.Errorf("keygen: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (private, keep it secret) and %s key_id=%s\n", keyPath, pubPath, modelsign.KeyID(pub))
	return nil
}

// runSign writes the detached signature MODEL.sig of a model file.
func runSign(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("huskyai sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyPath := fs.String("key", "", "private key file written by \"huskyai keygen\" (required)")
	out := fs.String("out", "", "signature file to write (default MODEL.sig)")
	force := fs.Bool("force", false, "overwrite an existing signature file")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: huskyai sign --key KEY [--out MODEL.sig] MODEL\n\nSigns the exact bytes of MODEL with an Ed25519 key and writes the detached\nsignature (JSON: SHA-256, size, key id, time, signature) to MODEL.sig.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if *keyPath == "" || fs.NArg() != 1 {
		fs.Usage()
		return errors.New("sign: --key KEY and one MODEL are required")
	}
	modelPath := fs.Arg(0)
	sigPath := *out
	if sigPath == "" {
		sigPath = modelPath + ".sig"
	}
	keyPEM, err := readLimited(*keyPath, 64<<10)
	if err != nil {
		return fmt.Errorf("sign: key: %w", err)
	}
	priv, err := modelsign.ParsePrivateKey(keyPEM)
	if err != nil {
		return fmt.Errorf("sign: %s: %w", *keyPath, err)
	}
	model, err := readLimited(modelPath, maxModelFile)
	if err != nil {
		return fmt.Errorf("sign: model: %w", err)
	}
	sig, err := modelsign.Sign(model, priv, time.Now())
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if *force {
		err = os.WriteFile(sigPath, sig.Marshal(), 0o644)
	} else {
		err = writeNew(sigPath, sig.Marshal(), 0o644)
		if errors.Is(err, os.ErrExist) {
			err = fmt.Errorf("%s already exists; not overwriting it without --force", sigPath)
		}
	}
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s key_id=%s sha256=%s size=%d\n", sigPath, sig.KeyID, sig.ModelSHA256, sig.ModelSize)
	return nil
}

// runVerify checks a model against its detached signature and a set of
// trusted public keys.
func runVerify(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("huskyai verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pubPath := fs.String("pub", "", "trusted public key file, or a directory of *.pub / *.pem public keys (required)")
	sigFlag := fs.String("sig", "", "signature file (default MODEL.sig)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: huskyai verify --pub PUB_OR_DIR [--sig MODEL.sig] MODEL\n\nChecks that MODEL is exactly the bytes signed in MODEL.sig by a trusted key.\nPrints \"OK key_id=... sha256=...\" and exits 0, or prints one line saying\nwhy not and exits 1.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if *pubPath == "" || fs.NArg() != 1 {
		fs.Usage()
		return errors.New("verify: --pub PUB_OR_DIR and one MODEL are required")
	}
	modelPath := fs.Arg(0)
	sigPath := *sigFlag
	if sigPath == "" {
		sigPath = modelPath + ".sig"
	}
	kr, err := modelsign.LoadKeyring(*pubPath)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	sigData, err := readLimited(sigPath, modelsign.MaxSignatureFileSize)
	if err != nil {
		return fmt.Errorf("verify: FAILED: signature: %w", err)
	}
	sig, err := modelsign.ParseSignature(sigData)
	if err != nil {
		return fmt.Errorf("verify: FAILED: %s: %w", sigPath, err)
	}
	model, err := readLimited(modelPath, maxModelFile)
	if err != nil {
		return fmt.Errorf("verify: FAILED: model: %w", err)
	}
	keyID, err := kr.Verify(model, sig)
	if err != nil {
		return fmt.Errorf("verify: FAILED: %s: %w", modelPath, err)
	}
	fmt.Fprintf(stdout, "OK key_id=%s sha256=%s\n", keyID, sig.ModelSHA256)
	return nil
}
