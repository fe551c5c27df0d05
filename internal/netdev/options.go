package netdev

import "time"

// DefaultNetnsDir is where "ip netns" (and Neutron, through it) mounts
// named network namespaces.
const DefaultNetnsDir = "/run/netns"

// DefaultTopologyMaxAge is how long a namespace's cached names, kinds and
// masters are trusted without a link-change notification.
const DefaultTopologyMaxAge = 5 * time.Minute

// dumpAttempts bounds retries of a dump the kernel flags as interrupted
// by a concurrent change (a VM booting mid-dump, say).
const dumpAttempts = 3

// Options configure a NetlinkReader.
type Options struct {
	// WalkNetns makes Devices also read every namespace in NetnsDir
	// (--netns.walk), which takes CAP_SYS_ADMIN for setns(2). Without it
	// the reader never calls setns and needs no capability.
	WalkNetns bool
	// NetnsDir is where named namespaces are mounted; DefaultNetnsDir if
	// empty.
	NetnsDir string
	// NetnsPrefixes, if not empty, limits the walk to namespaces whose
	// name starts with one of them, e.g. "qrouter-", "snat-", "qdhcp-".
	NetnsPrefixes []string
	// TopologyMaxAge bounds how long topology is cached without a change
	// notification; DefaultTopologyMaxAge if zero.
	TopologyMaxAge time.Duration
	// OnNetnsError, if set, is told on every walk what it could not read:
	// a namespace other than the agent's own (ns is its name), or the
	// whole walk (ns is NetnsDir): the directory is missing, or the agent
	// lacks CAP_SYS_ADMIN (err wraps ErrNetnsPermission; one report per
	// walk, not one per namespace). A name that stays a plain file for two
	// walks (a mount that did not propagate into a container) is reported
	// too; namespaces that vanish mid-walk are not. The walk skips what
	// failed; the agent's own namespace is read regardless. The caller
	// logs changes (the agent's NetnsErrors logs each once); without it,
	// these errors are lost. It is called with the reader locked and must
	// not call back into it.
	OnNetnsError func(ns string, err error)
}
