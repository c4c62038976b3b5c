// Package lease hands out the addresses of a bridge's subnet to the
// sandboxes on it, from a file per bridge and network namespace.
package lease

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/state"
)

// LeaseDir holds the address leases of the bridges, one file per bridge
// and network namespace. Bridges are root's only, so the directory is
// root's state directory's.
var LeaseDir = "/run/cell/net"

// Holder is a lease: the address and the cell process that holds it, by
// pid and start time, so that a lease of a process that died (SIGKILL)
// is told from a live one and taken back.
type Holder struct {
	Addr  string `json:"addr"`
	Owner string `json:"owner"`
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// Alive reports whether the holder's cell process still runs.
func (h *Holder) Alive() bool {
	st, err := state.StartTime(h.Pid)
	return err == nil && st == h.Start
}

// nsPrefix begins the names of the lease files of the calling thread's
// network namespace: a bridge is a name within a namespace.
func nsPrefix() (string, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return "", fmt.Errorf("stat /proc/thread-self/ns/net: %w", err)
	}
	return fmt.Sprintf("%d-", st.Ino), nil
}

// leaseFile names the lease file of bridge in the caller's network
// namespace.
func leaseFile(bridge string) (string, error) {
	prefix, err := nsPrefix()
	if err != nil {
		return "", err
	}
	return filepath.Join(LeaseDir, prefix+bridge+".json"), nil
}

// locked runs f on the bridge's leases under an exclusive lock of the
// lease file, and writes back what f returns. The lock is held for the
// lease only, not for the launch.
func locked(bridge string, f func([]Holder) ([]Holder, error)) error {
	name, err := leaseFile(bridge)
	if err != nil {
		return err
	}
	return state.UpdateLocked(name, "when no sandbox uses bridge "+bridge, f)
}

// Acquire leases the lowest free address of subnet on the bridge to
// owner, held by the calling process. The gateway (first) and broadcast
// (last) addresses are never leased. A lease whose holder died is first
// given to reclaim, which removes what the dead sandbox left (its rules
// and veth), and then taken back.
func Acquire(bridge, subnet, owner string, reclaim func(Holder) error) (netip.Addr, error) {
	p, err := netip.ParsePrefix(subnet)
	if err != nil || !p.Addr().Is4() {
		return netip.Addr{}, fmt.Errorf("subnet %q: want an IPv4 CIDR", subnet)
	}
	p = p.Masked()
	self := os.Getpid()
	start, err := state.StartTime(self)
	if err != nil {
		return netip.Addr{}, err
	}
	var got netip.Addr
	err = locked(bridge, func(hs []Holder) ([]Holder, error) {
		live, err := sweep(hs, reclaim)
		if err != nil {
			return nil, err
		}
		used := map[string]bool{}
		for _, h := range live {
			if h.Owner == owner {
				return nil, fmt.Errorf("sandbox %s already holds %s on %s", owner, h.Addr, bridge)
			}
			used[h.Addr] = true
		}
		gw := p.Addr().Next()
		for a := gw.Next(); p.Contains(a) && p.Contains(a.Next()); a = a.Next() {
			if !used[a.String()] {
				got = a
				return append(live, Holder{Addr: a.String(), Owner: owner, Pid: self, Start: start}), nil
			}
		}
		return nil, fmt.Errorf("no free address in %s on bridge %s: %d sandboxes hold one", subnet, bridge, len(live))
	})
	return got, err
}

// HeldError is an address that AcquireAddr could not lease because a
// live sandbox holds it.
type HeldError struct {
	Bridge string
	Holder Holder
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s on bridge %s is held by sandbox %s (cell pid %d): a restored sandbox needs the address it had (its connections are bound to it), so it cannot take another; end %s, or restore on another host", e.Holder.Addr, e.Bridge, e.Holder.Owner, e.Holder.Pid, e.Holder.Owner)
}

// AcquireAddr leases exactly addr of subnet on the bridge to owner, held
// by the calling process: a restored sandbox needs the address its
// sockets are bound to. A live holder of addr is a *HeldError; dead ones
// are given to reclaim and taken back first, as by Acquire.
func AcquireAddr(bridge, subnet, owner string, addr netip.Addr, reclaim func(Holder) error) error {
	p, err := netip.ParsePrefix(subnet)
	if err != nil || !p.Addr().Is4() {
		return fmt.Errorf("subnet %q: want an IPv4 CIDR", subnet)
	}
	p = p.Masked()
	gw := p.Addr().Next()
	if !p.Contains(addr) || addr == p.Addr() || addr == gw || !p.Contains(addr.Next()) {
		return fmt.Errorf("address %s: not one a sandbox can hold in %s (bridge %s)", addr, subnet, bridge)
	}
	self := os.Getpid()
	start, err := state.StartTime(self)
	if err != nil {
		return err
	}
	return locked(bridge, func(hs []Holder) ([]Holder, error) {
		live, err := sweep(hs, reclaim)
		if err != nil {
			return nil, err
		}
		for _, h := range live {
			if h.Owner == owner {
				return nil, fmt.Errorf("sandbox %s already holds %s on %s", owner, h.Addr, bridge)
			}
			if h.Addr == addr.String() {
				return nil, &HeldError{Bridge: bridge, Holder: h}
			}
		}
		return append(live, Holder{Addr: addr.String(), Owner: owner, Pid: self, Start: start}), nil
	})
}

// sweep returns the live holders, after giving each dead one to reclaim.
func sweep(hs []Holder, reclaim func(Holder) error) ([]Holder, error) {
	var live []Holder
	for _, h := range hs {
		if h.Alive() {
			live = append(live, h)
			continue
		}
		if reclaim != nil {
			if err := reclaim(h); err != nil {
				return nil, fmt.Errorf("reclaim %s of dead sandbox %s: %w", h.Addr, h.Owner, err)
			}
		}
	}
	return live, nil
}

// Release ends owner's lease on the bridge.
func Release(bridge, owner string) error {
	return locked(bridge, func(hs []Holder) ([]Holder, error) {
		out := hs[:0]
		for _, h := range hs {
			if h.Owner != owner {
				out = append(out, h)
			}
		}
		return out, nil
	})
}

// Sweep takes back the leases of dead holders on every bridge of the
// caller's network namespace, giving each to reclaim first (cell gc).
func Sweep(reclaim func(bridge string, h Holder) error) (int, error) {
	prefix, err := nsPrefix()
	if err != nil {
		return 0, err
	}
	ents, err := os.ReadDir(LeaseDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ".json") {
			continue
		}
		bridge := strings.TrimSuffix(strings.TrimPrefix(name, prefix), ".json")
		err := locked(bridge, func(hs []Holder) ([]Holder, error) {
			live, err := sweep(hs, func(h Holder) error { return reclaim(bridge, h) })
			n += len(hs) - len(live)
			return live, err
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// Leases returns the bridge's current leases, live or not.
func Leases(bridge string) ([]Holder, error) {
	var out []Holder
	err := locked(bridge, func(hs []Holder) ([]Holder, error) {
		out = append(out, hs...)
		return hs, nil
	})
	return out, err
}
