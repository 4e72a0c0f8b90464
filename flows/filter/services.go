package filter

import (
	"slices"
	"strings"
)

// services are the port names the filter knows, with their TCP port as
// Debian's /etc/services gives it (netbase 6.4), aliases included. tcpdump
// reads /etc/services, so it may know more names on a given machine; a
// fixed table keeps a filter meaning the same everywhere.
var services = map[string]uint16{
	"ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "mail": 25,
	"domain": 53, "http": 80, "www": 80, "kerberos": 88, "pop3": 110,
	"sunrpc": 111, "portmapper": 111, "nntp": 119, "imap2": 143, "imap": 143,
	"bgp": 179, "ldap": 389, "https": 443, "microsoft-ds": 445,
	"submission": 587, "ldaps": 636, "domain-s": 853, "rsync": 873,
	"imaps": 993, "pop3s": 995, "socks": 1080, "openvpn": 1194,
	"ms-sql-s": 1433, "nfs": 2049, "mysql": 3306, "ms-wbt-server": 3389,
	"sip": 5060, "xmpp-client": 5222, "postgresql": 5432, "postgres": 5432,
	"amqp": 5672, "x11": 6000, "redis": 6379, "http-alt": 8080,
	"webcache": 8080, "git": 9418,
}

// ServiceNames returns, sorted, the port names that port and portrange
// accept besides numbers.
func ServiceNames() []string {
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// commonServices is the short list an error message offers.
var commonServices = strings.Join([]string{"ssh", "domain", "http", "https", "smtp", "mysql", "postgresql"}, ", ")
