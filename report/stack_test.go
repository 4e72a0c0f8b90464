package report

import (
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows/testenv"
)

// TestNotLinuxReport: on captures of Windows machines from the corpus
// (a psexec session over SMB, Windows 7 hosts of an Active Directory
// domain), every report names the hosts not Linux, once each with all
// their flows, and a flow's detail says which side is not and why; the
// diagnosis of a Windows client's unanswered SYNs names no Linux
// setting. A capture of Linux hosts says nothing of it.
func TestNotLinuxReport(t *testing.T) {
	dir := testenv.Corpus(t)
	for _, c := range []struct {
		capture   string
		want, not []string
	}{
		{"suricata-verify/smb2-07__20171220_smb_psexec_add_user.pcap", []string{
			"3 hosts showed a TCP stack other than Linux's",
			"192.168.10.31 (Windows, 6 flows), 192.168.10.10 (Windows, 3 flows), 192.168.10.30 (2 flows)",
			"stack: the client is not Linux (Windows, by its SYN options mss,nop,ws,nop,nop,sok and initial TTL 128)",
			"the client is not Linux (Windows, by its SYN options mss,nop,ws,nop,nop,sok and initial TTL 128): net.ipv4.tcp_syn_retries does not govern it",
			"not Linux (its TIME_WAIT counted as Linux's 60 s)", // beside 192.168.10.31's TIME_WAIT peak
		}, []string{"192.168.10.31 (other", "TcpExtTCPAbortOnClose"}},
		{"zeek/ldap__ctu-sme-11-win7ad-1-ldap-tcp-50041.pcap", []string{
			"hosts showed a TCP stack other than Linux's", "192.168.1.108 (Windows, 2 flows)",
		}, nil},
		{"zeek/tcp__ssh-dups.pcap", []string{"stack: the client is not Linux (macOS, iOS or FreeBSD"}, nil},
	} {
		checkReports(t, c.capture, analyseFiles(t, []string{filepath.Join(dir, c.capture)}, analyze.Options{}), c.want, c.not)
	}
	// The sysctl table offers no Linux command for them, and says why.
	res := analyseFiles(t, []string{filepath.Join(dir, "suricata-verify/smb2-07__20171220_smb_psexec_add_user.pcap")}, analyze.Options{})
	for name, write := range map[string]func(io.Writer, *analyze.Result, Options) error{"markdown": Markdown, "html": HTML} {
		var b strings.Builder
		if err := write(&b, res, Options{}); err != nil {
			t.Fatal(err)
		}
		if out := strings.ReplaceAll(b.String(), "`", ""); !strings.Contains(out, "not Linux: 192.168.10.31") {
			t.Errorf("the %s sysctl table does not say 192.168.10.31 is not Linux", name)
		}

	}
	res = labResult(t, "client-active-close.pcap")
	var b strings.Builder
	if err := Text(&b, res, Options{Only: "all", Verbose: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Linux's") || strings.Contains(b.String(), "stack:") {
		t.Errorf("a lab capture's report speaks of other stacks:\n%s", b.String())
	}
}
