package labtest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// LoopScript returns the path of lab/loop.sh in this repository: the labs
// for L2 loops, group-bit station MACs and MAC-table pressure.
func LoopScript() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "lab", "loop.sh")
}

// UpLoop starts lab/loop.sh's lab named name (br-int with VMs vm1..vm3 and
// br-ex with an external host, joined by one link) and tears it down when
// the test ends. Run and MustRun then run loop.sh's commands ("link2",
// "station", "tablesize"...). It skips as Skip says.
func UpLoop(t testing.TB, name string) *Lab {
	t.Helper()
	Skip(t)
	base := os.Getenv("LAB_BASE")
	if base == "" {
		base = "/tmp/ovs-flood-lab"
	}
	name = Prefix() + name
	l := &Lab{Name: name, Base: filepath.Join(base, name), RunDir: filepath.Join(base, name, "run"), script: LoopScript(), t: t}
	l.run("down")
	if _, err := l.Run("up"); err != nil {
		l.run("down")
		t.Fatalf("loop lab up: %v", err)
	}
	t.Cleanup(func() {
		if os.Getenv("LAB_KEEP") == "" {
			l.run("down")
		}
	})
	return l
}
