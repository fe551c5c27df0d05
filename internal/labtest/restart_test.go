package labtest

import (
	"bufio"
	"os/exec"
	"strings"
	"testing"
)

// holdTap attaches to an existing persistent tap device (argv[1]) for
// argv[2] seconds, as a vswitchd that is still exiting does. It tries for
// up to 5 s: the vswitchd just stopped may itself still hold the tap.
const holdTap = `
import errno, fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
for _ in range(50):
    try:
        fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", sys.argv[1].encode(), 0x0002 | 0x1000))  # TUNSETIFF, IFF_TAP|IFF_NO_PI
        break
    except OSError as e:
        if e.errno != errno.EBUSY:
            raise
        time.sleep(0.1)
else:
    sys.exit("the tap stayed busy")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
`

// TestStartWhileTheDatapathTapIsHeld starts the lab's vswitchd while its
// datapath's tap device is still attached elsewhere, as it is for a moment
// after the last vswitchd exits: that vswitchd comes up without br-int
// ("Device or resource busy"). lab.sh start must notice and start it
// again, so that the flows that follow a restart find the bridge.
func TestStartWhileTheDatapathTapIsHeld(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		if Required() {
			t.Fatal("python3 is missing (apt-get install python3); OVS_FLOOD_LAB=require forbids skipping")
		}
		t.Skip("needs python3 to hold the tap")
	}
	l := Up(t, "rs1")
	l.MustRun("stop")
	hold := exec.Command("ip", "netns", "exec", l.Name, "python3", "-c", holdTap, "ovs-netdev", "1.5")
	stdout, err := hold.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	hold.Stderr = &stderr
	if err := hold.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = hold.Wait() }()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); strings.TrimSpace(line) != "holding" {
		_ = hold.Wait()
		t.Fatalf("the tap holder did not attach to ovs-netdev: %q %s", line, stderr.String())
	}

	out := l.MustRun("start")
	if !strings.Contains(out, "starting it again") {
		t.Errorf("lab.sh start did not meet the held tap (the test no longer sets up the race):\n%s", out)
	}
	l.MustRun("flows")
}
