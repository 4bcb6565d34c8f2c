package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/huskyai/huskyai/classifier"
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
	checkDir := fs.String("check-images", "", "embed a self-test: the PNG, JPEG and GIF files of this `DIR` (at most 16), with MODEL's outputs for them")
	checkTol := fs.Float64("check-tolerance", 1e-3, "largest difference from the recorded outputs that the self-test accepts, in [0, 1]")
	var classes classFlags // a multi-class model's self-test: classes.go
	classes.register(fs, noEnv, noNote)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: huskyai sign --key KEY [--out MODEL.sig] [--check-images DIR] MODEL\n\nSigns the exact bytes of MODEL with an Ed25519 key and writes the detached\nsignature (JSON: SHA-256, size, key id, time, signature) to MODEL.sig.\n\nWith --check-images, MODEL is loaded, each image of DIR (*.png, *.jpg,\n*.jpeg, *.gif, by name) is resized to the model's input and stored as a PNG\nwith the probability MODEL gives it, and this self-test is signed too:\n\"huskyai verify\" then refuses a model that answers differently.\n\nFlags:\n")
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
	var checks *modelsign.CheckSet
	if *checkDir != "" {
		opt := classifier.DefaultOptions()
		if err := classes.apply(&opt); err != nil {
			return fmt.Errorf("sign: %w", err)
		}
		if checks, err = buildChecks(model, opt, *checkDir, *checkTol); err != nil {
			return fmt.Errorf("sign: %w", err)
		}
	}
	sig, err := modelsign.Sign(model, priv, time.Now(), checks)
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
	fmt.Fprintf(stdout, "wrote %s key_id=%s sha256=%s size=%d checks=%s\n", sigPath, sig.KeyID, sig.ModelSHA256, sig.ModelSize, checksSummary(sig.Checks))
	return nil
}

// checksSummary describes a check set in one word: its size, or "none".
func checksSummary(cs *modelsign.CheckSet) string {
	if cs == nil {
		return "none"
	}
	return strconv.Itoa(len(cs.Checks))
}

// checkImageExts are the file name extensions "sign --check-images" takes.
var checkImageExts = []string{".png", ".jpg", ".jpeg", ".gif"}

// buildChecks loads model and makes a check set of the images in dir
// (files with an extension of checkImageExts, in name order) with the
// model's outputs.
func buildChecks(model []byte, opt classifier.Options, dir string, tol float64) (*modelsign.CheckSet, error) {
	if !(tol >= 0 && tol <= 1) {
		return nil, fmt.Errorf("--check-tolerance %v is not in [0, 1]", tol)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--check-images: %w", err)
	}
	var images []classifier.CheckImage
	for _, e := range entries { // sorted by name
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || !slices.Contains(checkImageExts, ext) {
			continue
		}
		if len(images) == modelsign.MaxChecks {
			return nil, fmt.Errorf("--check-images: %s holds more than %d images", dir, modelsign.MaxChecks)
		}
		p := filepath.Join(dir, e.Name())
		data, err := readLimited(p, maxImageFile)
		if err != nil {
			return nil, fmt.Errorf("--check-images: %s: %w", p, err)
		}
		images = append(images, classifier.CheckImage{Name: e.Name(), Data: data})
	}
	if len(images) == 0 {
		return nil, fmt.Errorf("--check-images: %s holds no *.png, *.jpg, *.jpeg or *.gif file", dir)
	}
	c, err := classifier.Load(model, opt)
	if err != nil {
		return nil, fmt.Errorf("--check-images: loading the model: %w", err)
	}
	cs, err := c.BuildCheckSet(images, float32(tol))
	if err != nil {
		return nil, fmt.Errorf("--check-images: %w", err)
	}
	return cs, nil
}

// runVerify checks a model against its detached signature and a set of
// trusted public keys.
func runVerify(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("huskyai verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pubPath := fs.String("pub", "", "trusted public key file, or a directory of *.pub / *.pem public keys (required)")
	sigFlag := fs.String("sig", "", "signature file (default MODEL.sig)")
	var classes classFlags // a multi-class model's self-test: classes.go
	classes.register(fs, noEnv, noNote)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: huskyai verify --pub PUB_OR_DIR [--sig MODEL.sig] MODEL\n\nChecks that MODEL is exactly the bytes signed in MODEL.sig by a trusted key\nand, when the signature holds self-test checks, loads MODEL and checks that\nit still gives the signed probabilities for their images. Prints\n\"OK key_id=... sha256=... checks=N\" and exits 0, or prints one line saying\nwhy not and exits 1.\n\nFlags:\n")
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
	if sig.Checks == nil {
		fmt.Fprintf(stdout, "OK key_id=%s sha256=%s checks=none\n", keyID, sig.ModelSHA256)
		return nil
	}
	opt := classifier.DefaultOptions()
	if err := classes.apply(&opt); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	c, err := classifier.Load(model, opt)
	if err != nil {
		return fmt.Errorf("verify: FAILED: %s: loading the model for its self-test: %w", modelPath, err)
	}
	if err := c.SelfTest(sig.Checks); err != nil {
		return fmt.Errorf("verify: FAILED: %s: the signature is valid but the model fails its signed self-test: %w", modelPath, err)
	}
	fmt.Fprintf(stdout, "OK key_id=%s sha256=%s checks=%d self-test passed (tolerance %v)\n",
		keyID, sig.ModelSHA256, len(sig.Checks.Checks), sig.Checks.Tolerance)
	return nil
}
