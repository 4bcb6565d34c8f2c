package abuse

import (
	"fmt"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds the X-Forwarded-For entries examined: a chain
// of trusted proxies longer than this is a misconfiguration or an attack.
const maxForwardedHops = 32

// clientAddr returns the IP address of the client of a request that came
// from remoteAddr (host:port, as http.Request.RemoteAddr) with the given
// X-Forwarded-For header lines.
//
// The client is the connection's peer, unless the peer is inside one of
// trusted: then X-Forwarded-For is walked from the right (the entry the
// nearest proxy appended) to the left, skipping addresses that are
// themselves trusted proxies, and the first untrusted address is the
// client, with forwarded set. Entries left of it were written by the
// client or by proxies we do not trust, and are ignored, so a client
// cannot choose its own address by sending X-Forwarded-For. A malformed
// entry ends the walk: the client is then the last trusted hop reached
// (the peer when the right-most entry is malformed). If every entry is a
// trusted proxy, the left-most is the client.
//
// Addresses are IPv4-mapped IPv6 unmapped, and zones are dropped, so that
// one host has one address.
func ClientAddr(remoteAddr string, xff []string, trusted []netip.Prefix) (addr netip.Addr, forwarded bool) {
	peer, ok := parseHostAddr(remoteAddr)
	if !ok || !isTrusted(peer, trusted) {
		return peer, false // the zero Addr when !ok
	}
	addr = peer
	hops := 0
	for i := len(xff) - 1; i >= 0; i-- {
		line := xff[i]
		for {
			j := strings.LastIndexByte(line, ',')
			entry := line[j+1:] // the whole line when j == -1
			if hops++; hops > maxForwardedHops {
				return addr, forwarded
			}
			a, ok := parseHostAddr(strings.TrimSpace(entry))
			if !ok {
				return addr, forwarded
			}
			addr, forwarded = a, true
			if !isTrusted(a, trusted) {
				return addr, forwarded
			}
			if j < 0 {
				break
			}
			line = line[:j]
		}
	}
	return addr, forwarded
}

// parseHostAddr parses an IP address, with or without a port: 192.0.2.1,
// 192.0.2.1:80, 2001:db8::1, [2001:db8::1] or [2001:db8::1]:80. The
// address is unmapped and its zone dropped.
func parseHostAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// isTrusted reports whether a is inside one of the trusted prefixes.
func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Key is the unit that per-client limits count: the IPv4 address,
// or the /64 network of an IPv6 address, since one IPv6 subscriber
// usually gets a whole /64 and can use any address in it. Unknown clients
// share the zero Prefix.
func Key(a netip.Addr) netip.Prefix {
	switch {
	case a.Is4():
		return netip.PrefixFrom(a, 32)
	case a.Is6():
		p, _ := a.Prefix(64)
		return p
	}
	return netip.Prefix{}
}

// ParseTrustedProxies parses a comma-separated list of networks in CIDR
// notation (192.0.2.0/24, 2001:db8::/32) or single addresses (10.0.0.1,
// taken as /32 or /128), for ClientAddr's trusted proxies. Host bits are
// cleared; IPv4-mapped IPv6 networks are refused, since client addresses
// are compared unmapped.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var p netip.Prefix
		var err error
		if strings.Contains(f, "/") {
			p, err = netip.ParsePrefix(f)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(f); err == nil {
				if a.Zone() != "" {
					return nil, fmt.Errorf("trusted proxy %q: zones are not allowed", f)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want a network such as 10.0.0.0/8 or an address: %v", f, err)
		}
		if p.Addr().Is4In6() {
			return nil, fmt.Errorf("trusted proxy %q: write the IPv4-mapped network as IPv4", f)
		}
		ps = append(ps, p.Masked())
	}
	return ps, nil
}
