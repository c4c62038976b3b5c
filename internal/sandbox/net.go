package sandbox

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/google/nftables"

	"github.com/cellsandbox/cell/internal/network"
	"github.com/cellsandbox/cell/internal/network/lease"
	"github.com/cellsandbox/cell/internal/network/link"
	"github.com/cellsandbox/cell/internal/network/nft"
	"github.com/cellsandbox/cell/internal/network/slirp"
	"github.com/cellsandbox/cell/launcher/plan"
)

// nets is the parent's part of a sandbox's network: the lease it holds
// and the helper it started.
type nets struct {
	lease netip.Addr
	user  *slirp.UserNet
	nft   *nftables.Conn

	// want is the address a restore must lease again (its sockets are
	// bound to it); invalid for a launch, which takes the lowest free.
	want netip.Addr
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

// step runs a network step of the parent: before the clone (lease,
// bridge, host rules) or after init's exec (veth, user-mode helper).
func (n *nets) step(a plan.Action, initPid int) error {
	switch a := a.(type) {
	case *plan.Require:
		b, err := os.ReadFile(a.File)
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(b)); got != a.Value {
			return fmt.Errorf("%s is %s, and the profile needs %s; cell does not change host settings: set it (sysctl) or change the profile", a.File, got, a.Value)
		}
		return nil
	case *plan.NetLease:
		if n.want.IsValid() {
			if err := lease.AcquireAddr(a.Bridge, a.Subnet, a.Sandbox, n.want, func(h lease.Holder) error { return Reclaim(h.Owner) }); err != nil {
				return err
			}
			n.lease = n.want
			return nil
		}
		addr, err := lease.Acquire(a.Bridge, a.Subnet, a.Sandbox, func(h lease.Holder) error { return Reclaim(h.Owner) })
		if err != nil {
			return err
		}
		n.lease = addr
		return nil
	case *plan.Bridge:
		gw, err := netip.ParsePrefix(a.Address)
		if err != nil {
			return err
		}
		return link.EnsureBridge(a.Name, gw)
	case *plan.Nft:
		c, err := n.conn()
		if err != nil {
			return err
		}
		r := a.Rule.Resolve(n.lease.String())
		return nft.Apply(c, &r)
	case *plan.Veth:
		if err := link.AddVeth(a.Host, a.Bridge, a.Guest, initPid); err != nil {
			return err
		}
		return link.ForgetNeighbor(a.Bridge, n.lease)
	case *plan.UserNet:
		u, err := slirp.Start(a.Helper, a.Args, initPid, 10*time.Second)
		if err != nil {
			return err
		}
		n.user = u
		return nil
	case *plan.UserNetPort:
		if n.user == nil {
			return errors.New("user-net-port without a user-mode network helper")
		}
		return n.user.AddPort(a.Proto, a.HostPort, a.GuestPort)
	}
	return fmt.Errorf("%s is not a network step of the parent", a.Op())
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

// cleanup runs a network step of the plan's cleanup. Each undoes one
// thing by name, and a missing thing is no error.
func (n *nets) cleanup(a plan.Action) error {
	switch a := a.(type) {
	case *plan.NftDelete:
		fam, table, _ := strings.Cut(a.Table, " ")
		c, err := n.conn()
		if err != nil {
			return err
		}
		_, err = nft.DeleteOwned(c, fam, table, func(o string) bool { return o == a.Owner })
		return err
	case *plan.LeaseRelease:
		if !n.lease.IsValid() {
			return nil
		}
		n.lease = netip.Addr{}
		return lease.Release(a.Bridge, a.Sandbox)
	case *plan.UserNetStop:
		u := n.user
		n.user = nil
		return u.Stop()
	}
	return fmt.Errorf("%s is not a network cleanup step", a.Op())
}
