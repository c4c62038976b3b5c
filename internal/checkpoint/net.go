package checkpoint

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/cellsandbox/cell/internal/network"
	"github.com/cellsandbox/cell/internal/network/lease"
	"github.com/cellsandbox/cell/internal/network/link"
	"github.com/cellsandbox/cell/launcher/plan"
)

// Network is a bridged sandbox's place on its bridge when it was
// checkpointed: a restore leases the same address again and gives the
// sandbox's end of the veth the same hardware address, so that its
// connections (bound to the address) and its neighbours' ARP entries
// stay valid.
type Network struct {
	// Bridge and Subnet are the net-lease step's.
	Bridge string `json:"bridge"`
	Subnet string `json:"subnet"`
	// Interface is the sandbox's end of the veth (the veth step's guest).
	Interface string `json:"interface"`
	// Address is the leased address the interface had; MAC its hardware
	// address.
	Address string `json:"address"`
	MAC     string `json:"mac"`
}

// Addr returns the leased address.
func (n *Network) Addr() (netip.Addr, error) {
	a, err := netip.ParseAddr(n.Address)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("the manifest's network address %q: %w", n.Address, err)
	}
	return a, nil
}

// bridged returns the plan's lease and veth steps, nil for a plan
// without a bridged network.
func bridged(p *plan.Plan) (*plan.NetLease, *plan.Veth) {
	var l *plan.NetLease
	var v *plan.Veth
	for i := range p.Steps {
		switch a := p.Steps[i].Do.(type) {
		case *plan.NetLease:
			l = a
		case *plan.Veth:
			v = a
		}
	}
	return l, v
}

// networkOf reads the bridged sandbox's address and hardware address
// from init's network namespace (the kernel's account, not a record's),
// nil for a plan without a bridge.
func networkOf(pid int, p *plan.Plan) (*Network, error) {
	l, v := bridged(p)
	if l == nil && v == nil {
		return nil, nil
	}
	if l == nil || v == nil {
		return nil, errors.New("the plan has a lease without a veth, or a veth without a lease")
	}
	subnet, err := netip.ParsePrefix(l.Subnet)
	if err != nil {
		return nil, fmt.Errorf("the plan's subnet %q: %w", l.Subnet, err)
	}
	var addrs []netip.Prefix
	var mac net.HardwareAddr
	if err := link.InNetns(pid, func() (err error) {
		addrs, mac, err = link.Inspect(v.Guest)
		return err
	}); err != nil {
		return nil, fmt.Errorf("the sandbox's %s: %w", v.Guest, err)
	}
	for _, a := range addrs {
		if subnet.Masked().Contains(a.Addr()) && a.Bits() == subnet.Bits() {
			return &Network{Bridge: l.Bridge, Subnet: l.Subnet, Interface: v.Guest, Address: a.Addr().String(), MAC: mac.String()}, nil
		}
	}
	return nil, fmt.Errorf("the sandbox's %s has no address in %s (it has %v)", v.Guest, l.Subnet, addrs)
}

// checkNetwork checks that the manifest's network fits the plan: a
// bridged plan has one, with an address of its subnet on its veth's
// guest end, and a plan without a bridge has none.
func checkNetwork(m *Manifest, p *plan.Plan) error {
	l, v := bridged(p)
	n := m.Network
	switch {
	case l == nil && n == nil:
		return nil
	case l == nil:
		return errors.New("the manifest has a network, and the plan no bridge")
	case n == nil || v == nil:
		return errors.New("the plan has a bridged network, and the manifest no address for it")
	}
	a, err := n.Addr()
	if err != nil {
		return err
	}
	subnet, err := netip.ParsePrefix(l.Subnet)
	if err != nil {
		return err
	}
	if _, err := net.ParseMAC(n.MAC); err != nil {
		return fmt.Errorf("the manifest's network MAC %q: %w", n.MAC, err)
	}
	if n.Bridge != l.Bridge || n.Subnet != l.Subnet || n.Interface != v.Guest || !subnet.Masked().Contains(a) {
		return fmt.Errorf("the manifest's network (%s in %s on %s, %s) is not the plan's (%s on %s, %s)", n.Address, n.Subnet, n.Bridge, n.Interface, l.Subnet, l.Bridge, v.Guest)
	}
	return nil
}

// setupNetwork is the restore's network at CRIU's setup-namespaces,
// when the sandbox's network namespace is new and empty: the plan's veth
// step again (the host's end on the bridge, the sandbox's end in pid's
// namespace with its old hardware address, the host's stale neighbour
// entry forgotten), then the plan's steps in that namespace (links up,
// the address, the default route) as init ran them, with {lease} the
// address the sandbox had. It returns the host end it made, "" for none.
func setupNetwork(pid int, p *plan.Plan, n *Network) (string, error) {
	made := ""
	for i := range p.Steps {
		s := &p.Steps[i]
		v, ok := s.Do.(*plan.Veth)
		if !ok || n == nil {
			continue
		}
		mac, err := net.ParseMAC(n.MAC)
		if err != nil {
			return made, err
		}
		addr, err := n.Addr()
		if err != nil {
			return made, err
		}
		// A veth of this name left from an instance of the sandbox
		// whose namespace the kernel has not torn down yet: the
		// restoring cell holds the sandbox's record, so it is no live
		// sandbox's.
		if err := link.Delete(v.Host); err != nil {
			return made, stepErr(i, s, err)
		}
		if err := link.AddVethMAC(v.Host, v.Bridge, v.Guest, pid, mac); err != nil {
			return made, stepErr(i, s, err)
		}
		made = v.Host
		if err := link.ForgetNeighbor(v.Bridge, addr); err != nil {
			return made, stepErr(i, s, err)
		}
	}
	err := link.InNetns(pid, func() error {
		for i := range p.Steps {
			s := &p.Steps[i]
			if s.Side != plan.Init {
				continue
			}
			var err error
			switch a := s.Do.(type) {
			case *plan.LinkUp:
				err = link.Up(a.Interface)
			case *plan.AddrAdd:
				if n == nil {
					err = errors.New("an address without a bridged network")
					break
				}
				err = link.AddrAdd(a.Interface, strings.ReplaceAll(a.Address, plan.Lease, n.Address))
			case *plan.RouteAdd:
				err = link.DefaultRoute(a.Interface, a.Gateway)
			default:
				continue
			}
			if err != nil {
				return stepErr(i, s, err)
			}
		}
		return nil
	})
	return made, err
}

func stepErr(i int, s *plan.Step, err error) error {
	return fmt.Errorf("step %d (%s, %s) again: %w", i+1, s.Op(), s.Pos, err)
}

// vethOf is the host end of the renamed sandbox's veth: named after the
// sandbox, as a launch names it, so that cleanup and cell gc find it.
func vethOf(v *plan.Veth, old, name string) string {
	if v.Host == network.VethName(old) {
		return network.VethName(name)
	}
	return v.Host
}

// AwaitRelease waits, up to d, until the sandbox that the checkpoint in m
// ended gives its address back: `cell checkpoint` returns once CRIU has
// written the images, and the cell that ran the sandbox releases its
// lease a moment later, when it sees init gone. A sandbox left running
// (--leave-running), or another sandbox, keeps the address, and the
// restore's lease step refuses it.
func AwaitRelease(m *Manifest, d time.Duration) error {
	n := m.Network
	if n == nil || m.LeftRunning {
		return nil
	}
	deadline := time.Now().Add(d)
	for {
		hs, err := lease.Leases(n.Bridge)
		if err != nil {
			return err
		}
		held := false
		for _, h := range hs {
			if h.Addr == n.Address && h.Owner == m.Name && h.Alive() {
				held = true
			}
		}
		if !held || time.Now().After(deadline) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}
