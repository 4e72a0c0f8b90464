package report

import "strings"

// How to confirm on a Linux host what a capture suggests about a knob: the
// commands that read the knob and the counters or socket listings that show
// its effect (KERNEL.md §6 maps the counters to wire patterns). This is
// reference text about Linux, keyed by the sysctl or socket option a
// diagnosis names; it judges nothing about the capture.
var sysctlChecks = map[string][]string{
	"net.ipv4.tcp_fin_timeout": {
		"sysctl net.ipv4.tcp_fin_timeout",
		"ss -tano state fin-wait-2",
	},
	"net.ipv4.tcp_orphan_retries": {
		"sysctl net.ipv4.tcp_orphan_retries net.ipv4.tcp_retries2",
		"nstat -az TcpExtTCPAbortOnTimeout TcpExtTCPLossProbes",
	},
	"net.ipv4.tcp_retries2": {
		"sysctl net.ipv4.tcp_retries2",
		"nstat -az TcpExtTCPAbortOnTimeout",
	},
	"net.ipv4.tcp_max_orphans": {
		"sysctl net.ipv4.tcp_max_orphans net.ipv4.tcp_mem",
		"nstat -az TcpExtTCPAbortOnMemory",
		"dmesg | grep 'too many orphaned sockets'",
	},
	"net.ipv4.tcp_mem": {
		"sysctl net.ipv4.tcp_mem",
		"nstat -az TcpExtTCPAbortOnMemory",
		"dmesg | grep 'out of memory -- consider tuning tcp_mem'",
	},
	"net.ipv4.tcp_max_tw_buckets": {
		"sysctl net.ipv4.tcp_max_tw_buckets",
		"nstat -az TcpExtTCPTimeWaitOverflow",
		"ss -tan state time-wait | wc -l",
	},
	"net.ipv4.tcp_tw_reuse": {
		"sysctl net.ipv4.tcp_tw_reuse net.ipv4.tcp_timestamps",
		"nstat -az TcpExtTWRecycled",
	},
	"net.ipv4.tcp_timestamps": {
		"sysctl net.ipv4.tcp_timestamps",
		"nstat -az TcpExtPAWSTimewait TcpExtPAWSEstab",
	},
	"net.ipv4.tcp_tw_recycle": {
		"uname -r",
		"sysctl net.ipv4.tcp_tw_recycle",
	},
	"net.ipv4.tcp_rfc1337": {
		"sysctl net.ipv4.tcp_rfc1337",
	},
	"net.ipv4.tcp_abort_on_overflow": {
		"sysctl net.ipv4.tcp_abort_on_overflow",
		"nstat -az TcpExtListenOverflows TcpExtListenDrops",
	},
	"SO_LINGER": {
		"strace -f -e trace=setsockopt -p PID",
		"nstat -az TcpExtTCPAbortOnData",
	},
	"TCP_LINGER2": {
		"strace -f -e trace=setsockopt -p PID",
		"nstat -az TcpExtTCPAbortOnLinger TcpExtTCPAbortOnData",
	},
	"SO_KEEPALIVE": {
		"sysctl net.ipv4.tcp_keepalive_time net.ipv4.tcp_keepalive_intvl net.ipv4.tcp_keepalive_probes",
		"ss -tano state established",
	},
}

// codeChecks are the checks for diagnoses that no knob governs.
var codeChecks = map[string][]string{
	"close-wait-long":      {"ss -tanp state close-wait"},
	"rst-unread-data":      {"nstat -az TcpExtTCPAbortOnClose"},
	"rst-data-after-close": {"nstat -az TcpExtTCPAbortOnData"},
	"connection-refused":   {"ss -tln"},
}

// knobChecks returns the checks for a sysctl or socket option: the
// reference entry, else reading a net.* sysctl, else nothing.
func knobChecks(name string) []string {
	if c, ok := sysctlChecks[name]; ok {
		return c
	}
	if strings.HasPrefix(name, "net.") {
		if strings.HasPrefix(name, "net.ipv4.tcp_keepalive_") {
			return sysctlChecks["SO_KEEPALIVE"]
		}
		return []string{"sysctl " + name}
	}
	return nil
}
