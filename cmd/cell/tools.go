package main

// toolsName is the file name of cell's full build (cmd/cell without the
// cell_lean tag): cell's run binary, built with the tag, leaves out the
// review tools, OCI bundles, CRIU and the egress proxy, whose packages
// cost every launch their start, and runs this program beside it for
// them with its own arguments.
const toolsName = "cell-tools"
