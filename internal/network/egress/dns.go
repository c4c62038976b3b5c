package egress

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"

	"github.com/cellsandbox/cell/internal/network"
)

// ServeDNS answers the sandbox's name server questions on a UDP socket
// (pc) or TCP listener (l), whichever is given, until it is closed.
func (s *Server) ServeDNS(pc net.PacketConn, l net.Listener) error {
	srv := &dns.Server{PacketConn: pc, Listener: l, Handler: dns.HandlerFunc(s.answer)}
	return srv.ActivateAndServe()
}

// answer forwards a question about an allowed name upstream and answers
// NXDOMAIN, with the extended error "Blocked", for any other name.
func (s *Server) answer(w dns.ResponseWriter, q *dns.Msg) {
	defer w.Close()
	resp := new(dns.Msg)
	if len(q.Question) != 1 || q.Opcode != dns.OpcodeQuery {
		resp.SetRcode(q, dns.RcodeFormatError)
		_ = w.WriteMsg(resp)
		return
	}
	name := network.CanonicalName(q.Question[0].Name)
	d := Decision{Time: time.Now().UTC(), Sandbox: s.p.Sandbox, Via: "dns", Name: name, Rule: s.p.Default}
	r := network.Resolvable(s.p, name)
	if r == nil {
		s.report(d)
		resp.SetRcode(q, dns.RcodeNameError)
		resp.SetEdns0(1232, false)
		opt := resp.IsEdns0()
		opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeBlocked, ExtraText: "cell egress: not allowed by network.egress.allow"})
		_ = w.WriteMsg(resp)
		return
	}
	d.Allowed, d.Rule = true, r.Pos
	select {
	case s.asking <- struct{}{}:
		defer func() { <-s.asking }()
	default:
		d.Reason = fmt.Sprintf("more than %d questions at once", MaxAsking)
		s.report(d)
		resp.SetRcode(q, dns.RcodeServerFailure)
		_ = w.WriteMsg(resp)
		return
	}
	fwd := q.Copy()
	fwd.Id = dns.Id()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	up, err := s.exchange(ctx, fwd)
	if err != nil {
		d.Reason = err.Error()
		s.report(d)
		resp.SetRcode(q, dns.RcodeServerFailure)
		_ = w.WriteMsg(resp)
		return
	}
	s.report(d)
	up.Id = q.Id
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := uint16(dns.MinMsgSize)
		if o := q.IsEdns0(); o != nil {
			size = o.UDPSize()
		}
		up.Truncate(int(size))
	}
	_ = w.WriteMsg(up)
}
