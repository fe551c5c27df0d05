package linuxbridge

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testdata/libvirt/web-1.xml follows libvirt's runtime status format
// (/run/libvirt/qemu/<domain>.xml); there is no libvirt on the build
// machine to capture one from.
func TestParseDomainXML(t *testing.T) {
	got, err := ParseDomainXML(readTestdata(t, "libvirt", "web-1.xml"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]VM{
		"vnet2": {Name: "web-1", UUID: "6c1b1c4e-8d3a-4f0e-9a57-1d2b3c4d5e6f", MAC: mustMAC("02:00:00:00:01:02")},
		"vnet7": {Name: "web-1", UUID: "6c1b1c4e-8d3a-4f0e-9a57-1d2b3c4d5e6f", MAC: mustMAC("52:54:00:6b:3c:58")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestParseDomainXMLBad(t *testing.T) {
	tests := []struct{ name, xml, want string }{
		{"truncated", string(readTestdata(t, "libvirt", "broken.xml")), "libvirt domain XML"},
		{"other root", "<network><name>default</name></network>", "root element <network>"},
		{"no name", "<domain><devices/></domain>", "no <name>"},
		{"empty", "", "libvirt domain XML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDomainXML([]byte(tt.xml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestReadLibvirtDir(t *testing.T) {
	vms, err := ReadLibvirtDir(filepath.Join("testdata", "libvirt"))
	if err == nil || !strings.Contains(err.Error(), "broken.xml") {
		t.Errorf("err %v, want one naming broken.xml", err)
	}
	if vms["vnet2"].Name != "web-1" {
		t.Errorf("vnet2 -> %+v, want web-1 despite the broken file", vms["vnet2"])
	}
	vms, err = ReadLibvirtDir(filepath.Join(t.TempDir(), "absent"))
	if err != nil || len(vms) != 0 {
		t.Errorf("absent dir: %v %v, want no VMs and no error", vms, err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big.xml"), make([]byte, maxDomainXML+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLibvirtDir(dir); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: err %v", err)
	}
}

func TestNeutronPortPrefix(t *testing.T) {
	tests := []struct{ dev, want string }{
		{"tap3f2a6c1e-9b", "3f2a6c1e-9b"},
		{"qvb3f2a6c1e-9b", "3f2a6c1e-9b"},
		{"qbr3f2a6c1e-9b", "3f2a6c1e-9b"},
		{"tap3f2a6c1e9b0", ""},
		{"tapvm1", ""},
		{"vnet1", ""},
		{"tap3F2A6C1E-9B", ""},
	}
	for _, tt := range tests {
		if got := NeutronPortPrefix(tt.dev); got != tt.want {
			t.Errorf("NeutronPortPrefix(%q) = %q, want %q", tt.dev, got, tt.want)
		}
	}
}
