// Package ovs reads ovs-vswitchd: pure parsers for the text replies of its
// unixctl commands (fdb/show, fdb/stats-show, dpif/show, dpctl/show,
// dpctl/dump-dps, dpctl/dump-flows, ofproto/trace, version) and the
// Vswitchd interface that fetches and parses them over a unixctl client.
//
// The parsers never panic on input. Lines they do not understand are
// skipped and counted (a Skipped field in the result), so a new OVS
// release that adds a line degrades gracefully; input in which nothing is
// recognizable is an error. Formats are quoted from OVS 3.1 (captured in
// testdata/ovs-3.1).
//
// Strings in parse results (keys, port names, actions) are substrings of
// the parsed text and keep it alive: fine for a snapshot that replaces the
// previous one, worth a strings.Clone for anything kept longer.
package ovs
