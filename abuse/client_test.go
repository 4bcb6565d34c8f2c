package abuse

import (
	"net/netip"
	"strings"
	"testing"
)

func TestClientAddr(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 127.0.0.1, 2001:db8:1::/48")
	if err != nil {
		t.Fatal(err)
	}
	deep := strings.Repeat("10.9.9.9, ", 40) + "10.0.0.2"
	for _, tt := range []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string // "" for the zero Addr
		fwd     bool
	}{
		{"untrusted peer", "198.51.100.9:5000", nil, trusted, "198.51.100.9", false},
		{"spoofed XFF from an untrusted peer", "198.51.100.9:5000", []string{"203.0.113.7"}, trusted, "198.51.100.9", false},
		{"spoofed XFF naming a trusted proxy", "198.51.100.9:5000", []string{"10.0.0.1"}, trusted, "198.51.100.9", false},
		{"no trusted proxies configured", "127.0.0.1:5000", []string{"203.0.113.7"}, nil, "127.0.0.1", false},
		{"trusted peer, no XFF", "10.0.0.1:5000", nil, trusted, "10.0.0.1", false},
		{"trusted peer", "10.0.0.1:5000", []string{"203.0.113.7"}, trusted, "203.0.113.7", true},
		{"client's own XFF entries are ignored", "10.0.0.1:5000", []string{"6.6.6.6, 1.1.1.1, 203.0.113.7"}, trusted, "203.0.113.7", true},
		{"chain of trusted proxies", "127.0.0.1:5000", []string{"6.6.6.6, 203.0.113.7, 10.0.0.3, 10.0.0.2"}, trusted, "203.0.113.7", true},
		{"several header lines", "10.0.0.1:5000", []string{"6.6.6.6", "203.0.113.7, 10.0.0.2"}, trusted, "203.0.113.7", true},
		{"client in an earlier header line", "10.0.0.1:5000", []string{"6.6.6.6, 203.0.113.7", "10.0.0.2"}, trusted, "203.0.113.7", true},
		{"all trusted: the left-most", "10.0.0.1:5000", []string{"10.0.0.3, 10.0.0.2"}, trusted, "10.0.0.3", true},
		{"spaces and tabs", "10.0.0.1:5000", []string{" \t203.0.113.7 ,\t10.0.0.2 "}, trusted, "203.0.113.7", true},
		{"entry with a port", "10.0.0.1:5000", []string{"203.0.113.7:8080"}, trusted, "203.0.113.7", true},
		{"malformed right-most entry", "10.0.0.1:5000", []string{"203.0.113.7, garbage"}, trusted, "10.0.0.1", false},
		{"nginx's unknown", "10.0.0.1:5000", []string{"unknown"}, trusted, "10.0.0.1", false},
		{"malformed after a trusted hop", "10.0.0.1:5000", []string{"203.0.113.7, not-an-ip, 10.0.0.2"}, trusted, "10.0.0.2", true},
		{"malformed left of the client", "10.0.0.1:5000", []string{"not-an-ip, 203.0.113.7"}, trusted, "203.0.113.7", true},
		{"empty entry", "10.0.0.1:5000", []string{"203.0.113.7,,10.0.0.2"}, trusted, "10.0.0.2", true},
		{"empty header line", "10.0.0.1:5000", []string{""}, trusted, "10.0.0.1", false},
		{"CIDR is not an address", "10.0.0.1:5000", []string{"203.0.113.0/24"}, trusted, "10.0.0.1", false},
		{"too many hops", "10.0.0.1:5000", []string{"203.0.113.7, " + deep}, trusted, "10.9.9.9", true},
		{"IPv6 untrusted peer", "[2001:db8:2::5]:443", []string{"203.0.113.7"}, trusted, "2001:db8:2::5", false},
		{"IPv6 trusted peer, IPv6 client", "[2001:db8:1::5]:443", []string{"2001:db8:ffff::1"}, trusted, "2001:db8:ffff::1", true},
		{"IPv6 client in brackets with a port", "[2001:db8:1::5]:443", []string{"[2001:db8:ffff::1]:5555"}, trusted, "2001:db8:ffff::1", true},
		{"IPv6 client in brackets", "[2001:db8:1::5]:443", []string{"[2001:db8:ffff::1]"}, trusted, "2001:db8:ffff::1", true},
		{"IPv6 proxy chain", "[2001:db8:1::5]:443", []string{"2001:db8:ffff::1, 2001:db8:1::9"}, trusted, "2001:db8:ffff::1", true},
		{"IPv4-mapped trusted peer and client", "[::ffff:10.0.0.1]:80", []string{"::ffff:203.0.113.7"}, trusted, "203.0.113.7", true},
		{"zone dropped", "[fe80::1%eth0]:80", nil, trusted, "fe80::1", false},
		{"unparsable peer", "@", []string{"203.0.113.7"}, trusted, "", false},
		{"peer without a port", "10.0.0.1", []string{"203.0.113.7"}, trusted, "203.0.113.7", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, fwd := ClientAddr(tt.remote, tt.xff, tt.trusted)
			want := netip.Addr{}
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got != want || fwd != tt.fwd {
				t.Errorf("ClientAddr(%q, %q) = %v, %v; want %v, %v", tt.remote, tt.xff, got, fwd, want, tt.fwd)
			}
		})
	}
}

func TestKey(t *testing.T) {
	for _, tt := range []struct {
		a, b string // "" for the zero Addr
		same bool
	}{
		{"203.0.113.7", "203.0.113.7", true},
		{"203.0.113.7", "203.0.113.8", false},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true}, // one /64
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"::ffff:203.0.113.7", "::ffff:203.0.113.8", false}, // not lumped into one /64
		{"", "", true},
		{"", "0.0.0.0", false},
	} {
		parse := func(s string) netip.Addr {
			if s == "" {
				return netip.Addr{}
			}
			return netip.MustParseAddr(s)
		}
		// Addresses reach bucketKey unmapped (clientAddr unmaps them).
		ka, kb := Key(parse(tt.a).Unmap()), Key(parse(tt.b).Unmap())
		if (ka == kb) != tt.same {
			t.Errorf("Key(%q) = %v, Key(%q) = %v; want same: %v", tt.a, ka, tt.b, kb, tt.same)
		}
	}
}

func TestParseTrustedProxies(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    string // the prefixes, comma-separated
		wantErr bool
	}{
		{in: "", want: ""},
		{in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{in: "10.1.2.3/8, 2001:db8::/32", want: "10.0.0.0/8,2001:db8::/32"},
		{in: "127.0.0.1,::1", want: "127.0.0.1/32,::1/128"},
		{in: " 192.0.2.0/24 ,, ", want: "192.0.2.0/24"},
		{in: "nope", wantErr: true},
		{in: "10.0.0.0/33", wantErr: true},
		{in: "10.0.0.0/8,example.com", wantErr: true},
		{in: "::ffff:10.0.0.0/104", wantErr: true},
		{in: "fe80::1%eth0", wantErr: true},
	} {
		ps, err := ParseTrustedProxies(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseTrustedProxies(%q) = %v, want an error", tt.in, ps)
			} else if !strings.Contains(err.Error(), "trusted proxy") {
				t.Errorf("ParseTrustedProxies(%q): error %q does not say what", tt.in, err)
			}
			continue
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.String())
		}
		if err != nil || strings.Join(got, ",") != tt.want {
			t.Errorf("ParseTrustedProxies(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}
