package sandbox

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/google/nftables"

	"github.com/cellsandbox/cell/launcher/network"
	"github.com/cellsandbox/cell/launcher/network/lease"
	"github.com/cellsandbox/cell/launcher/network/link"
	"github.com/cellsandbox/cell/launcher/network/nft"
	"github.com/cellsandbox/cell/launcher/network/slirp"
	"github.com/cellsandbox/cell/launcher/plan"
)

// nets is the parent's part of a sandbox's network: the lease it holds,
// the helper it started, and the plan's network cleanup.
type nets struct {
	lease   netip.Addr
	user    *slirp.UserNet
	cleanup []plan.Step
	nft     *nftables.Conn
}

// netsOf returns the parent's view of the plan's network.
func netsOf(p *plan.Plan) *nets {
	n := &nets{}
	for _, s := range p.Cleanup {
		switch s.Op {
		case plan.OpNftDelete, plan.OpLeaseRelease, plan.OpUserNetStop:
			n.cleanup = append(n.cleanup, s)
		}
	}
	return n
}

func (n *nets) conn() (*nftables.Conn, error) {
	if n.nft == nil {
		c, err := nftables.New()
		if err != nil {
			return nil, fmt.Errorf("nftables: %w", err)
		}
		n.nft = c
	}
	return n.nft, nil
}

// resolve puts the leased address in place of {lease}.
func (n *nets) resolve(s string) string {
	if !n.lease.IsValid() {
		return s
	}
	return strings.ReplaceAll(s, network.Lease, n.lease.String())
}

// step runs a network step of the parent: before the clone (lease,
// bridge, host rules) or after init's exec (veth, user-mode helper).
func (n *nets) step(s *plan.Step, initPid int) error {
	switch s.Op {
	case plan.OpRequire:
		b, err := os.ReadFile(s.Path)
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(b)); got != s.Data {
			return fmt.Errorf("%s is %s, and the profile needs %s; cell does not change host settings: set it (sysctl) or change the profile", s.Path, got, s.Data)
		}
		return nil
	case plan.OpNetLease:
		a, err := lease.Acquire(s.Path, s.Data, s.Source, func(h lease.Holder) error { return Reclaim(h.Owner) })
		if err != nil {
			return err
		}
		n.lease = a
		return nil
	case plan.OpBridge:
		gw, err := netip.ParsePrefix(s.Data)
		if err != nil {
			return err
		}
		return link.EnsureBridge(s.Path, gw)
	case plan.OpNft:
		if s.Nft == nil {
			return errors.New("nft step without a rule")
		}
		c, err := n.conn()
		if err != nil {
			return err
		}
		r := s.Nft.Resolve(n.lease.String())
		return nft.Apply(c, &r)
	case plan.OpVeth:
		if err := link.AddVeth(s.Path, s.Source, s.Data, initPid); err != nil {
			return err
		}
		return link.ForgetNeighbor(s.Source, n.lease)
	case plan.OpUserNet:
		u, err := slirp.Start(s.Path, s.Args, initPid, 10*time.Second)
		if err != nil {
			return err
		}
		n.user = u
		return nil
	case plan.OpUserNetPort:
		if n.user == nil || len(s.IDs) != 2 {
			return errors.New("user-net-port without a user-mode network helper")
		}
		return n.user.AddPort(s.Data, uint16(s.IDs[0]), uint16(s.IDs[1]))
	}
	return fmt.Errorf("%s is not a network step of the parent", s.Op)
}

// Reclaim deletes the host rules and the veth of the sandbox name. It is
// what the cleanup of a bridged sandbox does, for one that was killed
// before it could (cell gc, and the next lease of the bridge).
func Reclaim(name string) error {
	var errs []error
	if c, err := nftables.New(); err != nil {
		errs = append(errs, err)
	} else if _, err := nft.DeleteOwned(c, "ip", network.HostTable, func(o string) bool { return o == name }); err != nil {
		errs = append(errs, err)
	}
	if err := link.Delete(network.VethName(name)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// teardown runs the plan's network cleanup: each step runs, whatever
// the others did, since each undoes one thing by name and a missing
// thing is no error.
func (n *nets) teardown() error {
	var errs []error
	for i := range n.cleanup {
		s := &n.cleanup[i]
		var err error
		switch s.Op {
		case plan.OpNftDelete:
			fam, table, _ := strings.Cut(s.Path, " ")
			var c *nftables.Conn
			if c, err = n.conn(); err == nil {
				_, err = nft.DeleteOwned(c, fam, table, func(o string) bool { return o == s.Data })
			}
		case plan.OpLeaseRelease:
			if n.lease.IsValid() {
				err = lease.Release(s.Path, s.Data)
			}
		case plan.OpUserNetStop:
			err = n.user.Stop()
			n.user = nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Op, err))
		}
	}
	n.cleanup = nil
	n.lease = netip.Addr{}
	return errors.Join(errs...)
}
