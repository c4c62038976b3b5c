// Package egress is a sandbox's filtering proxy and name server: the
// part of network.egress that names destinations by domain. It runs
// outside the sandbox, in a process of its own (cell executed again as
// cell-egress), on sockets that init made in the sandbox's network
// namespace (on its loopback) and handed to cell: the sandbox reaches
// the proxy and nothing else of the host, and the proxy's own
// connections leave from the host's network namespace.
//
// It speaks HTTP (CONNECT, and plain requests by Host) and SOCKS5 on one
// port, and DNS on another. Each connection is decided by its name and
// port against the rules of network.Proxy, in order; what no rule allows
// is denied at once, with a message that says so. A tunnel to a name on
// port 443 must start with a TLS ClientHello whose server name is that
// name, and a ClientHello on any other port must name it too, so that a
// client cannot name one host to the proxy and another to the server
// behind it. The proxy does not connect to loopback, link-local,
// multicast or unspecified addresses (the host's own services) unless an
// address rule allows them. The name server forwards questions about
// allowed names to the upstream servers and answers NXDOMAIN for every
// other name, so names carry nothing out. Every decision is reported
// with the position of the rule (or the default) that made it.
//
// DNS messages are parsed and built with github.com/miekg/dns: the
// proxy's name server reads what the sandbox sends, and a hand-written
// parser of hostile input (compression pointers, EDNS, TCP framing) is
// where bugs hide.
package egress
