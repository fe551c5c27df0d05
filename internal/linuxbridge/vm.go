package linuxbridge

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultLibvirtDir is where libvirt's QEMU driver keeps the runtime XML
// of running domains (one <name>.xml each, root-readable).
const DefaultLibvirtDir = "/run/libvirt/qemu"

// maxDomainXML bounds one runtime XML file read (a domain's is some tens
// of KiB); anything larger is not one.
const maxDomainXML = 4 << 20

// VM is the virtual machine behind a bridge port.
type VM struct {
	// Name and UUID are the libvirt domain's; empty when the port is only
	// known by Neutron's naming.
	Name, UUID string
	// MAC is the VM's address on this interface (libvirt's <mac>).
	MAC MAC
	// NeutronPortPrefix is the start of the Neutron port ID that Nova and
	// the linuxbridge agent put in the device name ("tap" + the first 11
	// characters), "" for other names.
	NeutronPortPrefix string
}

// domainXML is the part of a libvirt domain definition we read. The
// runtime file wraps it in <domstatus>; a plain <domain> is accepted too.
type domainXML struct {
	Name       string         `xml:"name"`
	UUID       string         `xml:"uuid"`
	Interfaces []interfaceXML `xml:"devices>interface"`
}

type interfaceXML struct {
	MAC struct {
		Address string `xml:"address,attr"`
	} `xml:"mac"`
	Target struct {
		Dev string `xml:"dev,attr"`
	} `xml:"target"`
}

// ParseDomainXML reads one libvirt runtime domain file, of the form
//
//	<domstatus state='running' reason='booted' pid='4242'>
//	  <domain type='kvm' id='1'>
//	    <name>web-1</name>
//	    <uuid>6c1b1c4e-…</uuid>
//	    <devices>
//	      <interface type='bridge'>
//	        <mac address='52:54:00:6b:3c:58'/>
//	        <source bridge='br0'/>
//	        <target dev='vnet1'/>
//
// and returns the VM behind each target device, keyed by device name.
// Interfaces without a target (not started) are skipped.
func ParseDomainXML(b []byte) (map[string]VM, error) {
	var status struct {
		XMLName xml.Name
		Domain  domainXML `xml:"domain"`
		domainXML
	}
	if err := xml.NewDecoder(bytes.NewReader(b)).Decode(&status); err != nil {
		return nil, fmt.Errorf("libvirt domain XML: %w", err)
	}
	d := status.Domain
	switch status.XMLName.Local {
	case "domstatus":
	case "domain":
		d = status.domainXML
	default:
		return nil, fmt.Errorf("libvirt domain XML: root element <%s>, want <domstatus> or <domain>", status.XMLName.Local)
	}
	if d.Name == "" {
		return nil, errors.New("libvirt domain XML: no <name>")
	}
	out := make(map[string]VM, len(d.Interfaces))
	for _, ifc := range d.Interfaces {
		dev := ifc.Target.Dev
		if dev == "" {
			continue
		}
		vm := VM{Name: d.Name, UUID: d.UUID, NeutronPortPrefix: NeutronPortPrefix(dev)}
		if m, err := ParseMAC(ifc.MAC.Address); err == nil {
			vm.MAC = m
		}
		out[dev] = vm
	}
	return out, nil
}

// ReadLibvirtDir reads every *.xml in dir (DefaultLibvirtDir if empty)
// and returns the VMs by device name. A missing directory means a host
// without libvirt: no VMs, no error. Files that fail to parse are
// skipped and reported together in the error, next to the VMs that did.
func ReadLibvirtDir(dir string) (map[string]VM, error) {
	if dir == "" {
		dir = DefaultLibvirtDir
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]VM{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("libvirt runtime dir: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".xml") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	out := make(map[string]VM)
	var errs []error
	for _, n := range names {
		vms, err := readDomainFile(filepath.Join(dir, n))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for dev, vm := range vms {
			out[dev] = vm
		}
	}
	return out, errors.Join(errs...)
}

func readDomainFile(path string) (map[string]VM, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	b, err := io.ReadAll(io.LimitReader(f, maxDomainXML+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxDomainXML {
		return nil, fmt.Errorf("%s: larger than %d bytes, not a libvirt domain", path, maxDomainXML)
	}
	vms, err := ParseDomainXML(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vms, nil
}

// NeutronPortPrefix returns the Neutron port-ID prefix encoded in a
// device name by Nova and the Neutron linuxbridge agent: "tap", "qvb",
// "qvo" or "qbr" followed by the port ID's first 11 characters
// ("tap3f2a6c1e-9b" → "3f2a6c1e-9b"). It returns "" for other names.
func NeutronPortPrefix(dev string) string {
	for _, p := range []string{"tap", "qvb", "qvo", "qbr"} {
		rest, ok := strings.CutPrefix(dev, p)
		if !ok || len(rest) != 11 {
			continue
		}
		if isPortIDPrefix(rest) {
			return rest
		}
	}
	return ""
}

// isPortIDPrefix reports whether s looks like the first 11 characters of
// a UUID: 8 hex digits, '-', 2 hex digits.
func isPortIDPrefix(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 {
			if c != '-' {
				return false
			}
			continue
		}
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
