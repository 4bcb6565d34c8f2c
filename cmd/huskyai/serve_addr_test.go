package main

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestListenAddrs: the URLs serve prints and the names of its
// self-signed certificate, for a wildcard, a loopback and another
// address.
func TestListenAddrs(t *testing.T) {
	ifaces := []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("2001:db8::1")}
	for _, tt := range []struct {
		name  string
		l     listenAddrs
		urls  []string
		hosts []string
	}{
		{"0.0.0.0", listenAddrs{ip: net.IPv4zero, port: 8443, ifaces: ifaces, hostname: "box"},
			[]string{"https://localhost:8443/", "https://10.0.0.5:8443/", "https://[2001:db8::1]:8443/", "https://box:8443/"},
			[]string{"localhost", "127.0.0.1", "::1", "10.0.0.5", "2001:db8::1", "box"}},
		{"[::]", listenAddrs{ip: net.IPv6unspecified, port: 8443, ifaces: ifaces},
			[]string{"https://localhost:8443/", "https://10.0.0.5:8443/", "https://[2001:db8::1]:8443/"},
			[]string{"localhost", "127.0.0.1", "::1", "10.0.0.5", "2001:db8::1"}},
		{"loopback", listenAddrs{ip: net.ParseIP("127.0.0.1"), port: 8443},
			[]string{"https://127.0.0.1:8443/"},
			[]string{"localhost", "127.0.0.1", "::1"}},
		{"loopback v6", listenAddrs{ip: net.IPv6loopback, port: 8443},
			[]string{"https://[::1]:8443/"},
			[]string{"localhost", "127.0.0.1", "::1"}},
		{"one address", listenAddrs{ip: net.ParseIP("192.168.1.7"), port: 443, hostname: "box.lan"},
			[]string{"https://192.168.1.7:443/"},
			[]string{"localhost", "127.0.0.1", "::1", "192.168.1.7", "box.lan"}},
	} {
		if got := tt.l.urls("https"); !slices.Equal(got, tt.urls) {
			t.Errorf("%s: urls %v, want %v", tt.name, got, tt.urls)
		}
		if got := tt.l.certHosts(); !slices.Equal(got, tt.hosts) {
			t.Errorf("%s: certificate hosts %v, want %v", tt.name, got, tt.hosts)
		}
	}
	if l := newListenAddrs(&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1}); l.hostname != "" || l.ifaces != nil {
		t.Errorf("loopback listener: hostname %q, interfaces %v; want none", l.hostname, l.ifaces)
	}
	for _, ip := range interfaceIPs() {
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() {
			t.Errorf("interfaceIPs lists %v", ip)
		}
	}
}

// TestServeAllInterfaces serves on 0.0.0.0: serve prints
// https://localhost:PORT/ (and the interface addresses), not
// https://[::]:PORT/, and its self-signed certificate also covers the
// interface addresses and the hostname; the log says how to make one
// with "huskyai cert --hosts".
func TestServeAllInterfaces(t *testing.T) {
	s := startServe(t, nil, "--addr", "0.0.0.0:0")
	out := s.stdout.String()
	if !strings.HasPrefix(s.url, "https://localhost:") || strings.Contains(out, "[::]") || strings.Contains(out, "0.0.0.0") {
		t.Errorf("url %s; stdout:\n%s", s.url, out)
	}
	_, port, _ := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(s.url, "https://"), "/"))
	ips := interfaceIPs()
	for _, ip := range ips {
		if u := "huskyai serve: also on https://" + net.JoinHostPort(ip.String(), port) + "/\n"; !strings.Contains(out, u) {
			t.Errorf("stdout lacks %q:\n%s", u, out)
		}
	}
	conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", port), pinnedTLS(s.fingerprint))
	if err != nil {
		t.Fatal(err)
	}
	cert := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	want := slices.Clone(selfSignedHosts)
	if h, err := os.Hostname(); err == nil && h != "" {
		want = append(want, h)
	}
	for _, ip := range ips {
		want = append(want, ip.String())
	}
	for _, h := range want {
		if err := cert.VerifyHostname(h); err != nil {
			t.Errorf("the certificate does not cover %s: %v (DNS %v, IP %v)", h, err, cert.DNSNames, cert.IPAddresses)
		}
	}
	if logs := s.stderr.String(); !strings.Contains(logs, "huskyai cert --hosts ") {
		t.Errorf("the log does not say how to use huskyai cert --hosts:\n%s", logs)
	}

	// On loopback, the certificate stays for loopback names only.
	lo := startServe(t, nil)
	conn, err = tls.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(lo.url, "https://"), "/"), pinnedTLS(lo.fingerprint))
	if err != nil {
		t.Fatal(err)
	}
	cert = conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if len(cert.DNSNames) != 1 || cert.DNSNames[0] != "localhost" || len(cert.IPAddresses) != 2 {
		t.Errorf("loopback certificate: DNS %v, IP %v", cert.DNSNames, cert.IPAddresses)
	}
}

// TestServePortInUse: a start that fails because the port (or the admin
// port) is taken, or the certificate cannot be read, writes no model_load
// audit record and shows no certificate fingerprint.
func TestServePortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	missing := filepath.Join(t.TempDir(), "none.pem")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"port", []string{"--addr", busy.Addr().String()}, "address already in use"},
		{"admin port", []string{"--addr", "127.0.0.1:0", "--admin-addr", busy.Addr().String()}, "address already in use"},
		{"certificate", []string{"--addr", "127.0.0.1:0", "--tls-cert", missing, "--tls-key", missing}, "TLS certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			auditLog := filepath.Join(t.TempDir(), "audit.log")
			stdout, stderr, code, err := runWith(t, nil, append([]string{"serve", "--audit-log", auditLog}, tt.args...)...)
			if err == nil || code != 1 || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("exit %d, %v; want %s", code, err, tt.want)
			}
			if strings.Contains(stdout, "fingerprint") || strings.Contains(stderr, "fingerprint") || strings.Contains(stdout, "listening") {
				t.Errorf("a failed start printed as if it had started:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
			}
			if b, err := os.ReadFile(auditLog); err == nil && strings.Contains(string(b), "model_load") {
				t.Errorf("a failed start wrote a model_load audit record:\n%s", b)
			}
		})
	}
}
