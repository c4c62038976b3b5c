package network

import "github.com/cellsandbox/cell/launcher/plan"

// HostTable is the table of cell's rules on the host, family ip. Cell
// owns the table; each rule's comment names the sandbox or bridge it
// belongs to.
const HostTable = "cell"

// Lease stands for the address leased to the sandbox in the fields of the
// steps that follow the lease; the executor puts the address in its place.
const Lease = plan.Lease

// Rule is one nftables object that cell installs: a base chain or a rule
// (see plan.NftRule, which it is: a plan's nft steps carry it).
type Rule = plan.NftRule
