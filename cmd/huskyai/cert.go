package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// selfSignedHosts are the names of every self-signed certificate.
var selfSignedHosts = []string{"localhost", "127.0.0.1", "::1"}

// interfaceIPs returns the addresses of the machine's network interfaces
// that another machine could reach: neither loopback nor link-local
// (which need a zone in a URL).
func interfaceIPs() []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var ips []net.IP
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip := ipn.IP
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() {
			continue
		}
		ips = append(ips, ip)
	}
	return ips
}

// listenAddrs are where serve listens, for the URLs it prints and the
// names of its self-signed certificate: the listener's address, and for
// a wildcard one (0.0.0.0, ::) the machine's interface addresses and
// hostname.
type listenAddrs struct {
	ip       net.IP
	port     int
	ifaces   []net.IP // interfaceIPs, read for a wildcard address only
	hostname string   // os.Hostname, for an address that is not loopback
}

// newListenAddrs describes the listener's address a.
func newListenAddrs(a net.Addr) listenAddrs {
	l := listenAddrs{ip: net.IPv6loopback}
	if ta, ok := a.(*net.TCPAddr); ok {
		l.ip, l.port = ta.IP, ta.Port
	}
	if l.ip.IsUnspecified() {
		l.ifaces = interfaceIPs()
	}
	if !l.ip.IsLoopback() {
		l.hostname, _ = os.Hostname()
	}
	return l
}

// urls are the URLs that reach the server, the most usable first:
// https://localhost:PORT/ then each interface address and the hostname
// for a wildcard address, which is no address to browse to; the
// address itself otherwise.
func (l listenAddrs) urls(scheme string) []string {
	port := strconv.Itoa(l.port)
	url := func(host string) string { return scheme + "://" + net.JoinHostPort(host, port) + "/" }
	if !l.ip.IsUnspecified() {
		return []string{url(l.ip.String())}
	}
	out := []string{url("localhost")}
	for _, ip := range l.ifaces {
		out = append(out, url(ip.String()))
	}
	if l.hostname != "" && l.hostname != "localhost" {
		out = append(out, url(l.hostname))
	}
	return out
}

// certHosts are the names of serve's self-signed certificate:
// selfSignedHosts, and the listen address and the hostname when they are
// not loopback (for a wildcard address, every interface address).
func (l listenAddrs) certHosts() []string {
	hosts := slices.Clone(selfSignedHosts)
	add := func(h string) {
		if h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	switch {
	case l.ip.IsUnspecified():
		for _, ip := range l.ifaces {
			add(ip.String())
		}
	case !l.ip.IsLoopback():
		add(l.ip.String())
	}
	if !l.ip.IsLoopback() {
		add(l.hostname)
	}
	return hosts
}

// selfSignedValidity is how long a generated certificate is valid.
const selfSignedValidity = 365 * 24 * time.Hour

// selfSigned makes a self-signed ECDSA P-256 certificate for hosts
// (DNS names or IP addresses) and returns it and its key, PEM-encoded.
func selfSigned(hosts []string, now time.Time, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"huskyai self-signed"}, CommonName: hosts[0]},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// fingerprint is the SHA-256 of a certificate's DER bytes, as
// colon-separated upper-case hex (the form browsers show).
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// leafFingerprint returns the fingerprint of a tls.Certificate's leaf.
func leafFingerprint(c tls.Certificate) string {
	if len(c.Certificate) == 0 {
		return ""
	}
	return fingerprint(c.Certificate[0])
}

// runCert writes a self-signed certificate and key for "huskyai serve
// --tls-cert --tls-key".
func runCert(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("huskyai cert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	outCert := fs.String("out-cert", "", "write the PEM certificate to this file (required)")
	outKey := fs.String("out-key", "", "write the PEM private key to this file, mode 0600 (required)")
	hosts := fs.String("hosts", strings.Join(selfSignedHosts, ","), "comma-separated DNS names and IP addresses the certificate is for")
	validity := fs.Duration("valid-for", selfSignedValidity, "validity of the certificate")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: huskyai cert --out-cert FILE --out-key FILE [flags]\n\nWrites a self-signed ECDSA P-256 certificate and its key for\n\"huskyai serve --tls-cert FILE --tls-key FILE\". Existing files are not overwritten.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *outCert == "" || *outKey == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("cert: --out-cert and --out-key are required, and nothing else")
	}
	var hs []string
	for h := range strings.SplitSeq(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hs = append(hs, h)
		}
	}
	if len(hs) == 0 {
		return errors.New("cert: --hosts is empty")
	}
	certPEM, keyPEM, err := selfSigned(hs, time.Now(), *validity)
	if err != nil {
		return fmt.Errorf("cert: %w", err)
	}
	if err := writeNew(*outKey, keyPEM, 0o600); err != nil {
		return fmt.Errorf("cert: %w", err)
	}
	if err := writeNew(*outCert, certPEM, 0o644); err != nil {
		os.Remove(*outKey)
		return fmt.Errorf("cert: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	fmt.Fprintf(stdout, "wrote %s and %s for %s\ncertificate SHA-256 fingerprint: %s\n",
		*outCert, *outKey, strings.Join(hs, ", "), fingerprint(block.Bytes))
	return nil
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
