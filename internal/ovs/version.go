package ovs

import (
	"fmt"
	"strings"
)

// ParseVersion parses the reply to "version" and returns the Open vSwitch
// version number:
//
//	ovs-vswitchd (Open vSwitch) 3.1.0
//
// Builds with DPDK add a line ("DPDK 22.11.1"), which is ignored.
func ParseVersion(text string) (string, error) {
	for rest := text; rest != ""; {
		var line string
		line, rest = cutLine(rest)
		_, v, ok := strings.Cut(line, "(Open vSwitch) ")
		if !ok {
			continue
		}
		v = strings.TrimRight(v, " \t")
		if v == "" || strings.ContainsAny(v, " \t") {
			continue
		}
		return v, nil
	}
	return "", fmt.Errorf("version: no Open vSwitch version in reply %q", truncate(text, 80))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
