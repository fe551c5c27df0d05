package linuxbridge

import "testing"

func FuzzParseBridgeLink(f *testing.F) {
	for _, b := range labMessages(f, "links.hex") {
		f.Add(b)
	}
	f.Add(vlanLink([2]uint16{bridgeVlanInfoRangeBegin, 1}, [2]uint16{bridgeVlanInfoRangeEnd, 4094}))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseBridgeLink(b)
		if err == nil && len(l.VLANs) > 2*4096+len(b) {
			t.Fatalf("%d VLANs from %d bytes", len(l.VLANs), len(b))
		}
	})
}

func FuzzParseFDBEntry(f *testing.F) {
	for _, b := range labMessages(f, "fdb.hex") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, ok, err := parseFDBEntry(b)
		if err != nil && ok {
			t.Fatalf("ok with error %v", err)
		}
		if ok && e.MAC.IsZero() && len(b) < sizeofNdmsg {
			t.Fatal("entry from a short message")
		}
	})
}

func FuzzParseDomainXML(f *testing.F) {
	for _, name := range []string{"web-1.xml", "broken.xml"} {
		f.Add(readTestdata(f, "libvirt", name))
	}
	f.Add([]byte("<domain><name>x</name><devices><interface><target dev='t'/></interface></devices></domain>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		vms, err := ParseDomainXML(b)
		if err != nil && vms != nil {
			t.Fatal("VMs returned with an error")
		}
	})
}

func FuzzParseBridgeInfo(f *testing.F) {
	for _, name := range []string{"br0", "br1", "d0"} {
		f.Add(infoMessage(f, name))
	}
	f.Add(vlanBridge())
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := parseBridgeInfo(b)
		if err == nil && info.AgeingSeconds > 1<<32/100 {
			t.Fatalf("ageing %d s from a u32 of centiseconds", info.AgeingSeconds)
		}
	})
}
