package capture

import "strconv"

// link is the decoder a record's link layer needs. Several LINKTYPE_
// values share one (the three raw-IP numbers).
type link uint8

const (
	linkUnsupported link = iota
	linkEthernet
	linkNull // BSD loopback, address family in the capturing host's byte order
	linkLoop // OpenBSD loopback, address family in network byte order
	linkRaw  // raw IP, version from the first nibble
	linkSLL
	linkSLL2
	linkCHDLC
	linkPPP
	linkNFLOG // Linux netfilter log messages (iptables -j NFLOG, tcpdump -i nflog:N)
)

// linkTypes maps the LINKTYPE_ values this package decodes to their decoder
// and the upper-case name reported in [Info.LinkTypes].
var linkTypes = map[uint32]struct {
	link link
	name string
}{
	0:   {linkNull, "NULL"},
	1:   {linkEthernet, "ETHERNET"},
	9:   {linkPPP, "PPP"},
	12:  {linkRaw, "RAW"}, // DLT_RAW on most BSDs
	14:  {linkRaw, "RAW"}, // DLT_RAW on OpenBSD
	101: {linkRaw, "RAW"},
	104: {linkCHDLC, "C_HDLC"},
	108: {linkLoop, "LOOP"},
	113: {linkSLL, "LINUX_SLL"},
	228: {linkRaw, "IPV4"},
	229: {linkRaw, "IPV6"},
	239: {linkNFLOG, "NFLOG"},
	276: {linkSLL2, "LINUX_SLL2"},
}

// otherLinkNames names some link types this package does not decode, for
// error messages and Info.LinkTypes.
var otherLinkNames = map[uint32]string{
	6:   "IEEE802_5",
	10:  "FDDI",
	50:  "PPP_HDLC",
	51:  "PPP_ETHER",
	105: "IEEE802_11",
	107: "FRELAY",
	119: "PRISM_HEADER",
	127: "IEEE802_11_RADIOTAP",
	138: "APPLE_IP_OVER_IEEE1394",
	143: "DOCSIS",
	189: "USB_LINUX",
	192: "PPI",
	195: "IEEE802_15_4",
	197: "ERF",
	201: "BLUETOOTH_HCI_H4_WITH_PHDR",
	220: "USB_LINUX_MMAPPED",
	249: "USBPCAP",
	253: "NETLINK",
	263: "IPOIB",
}

// linkFor returns the decoder and name of a LINKTYPE_ value.
func linkFor(lt uint32) (link, string) {
	if t, ok := linkTypes[lt]; ok {
		return t.link, t.name
	}
	if n, ok := otherLinkNames[lt]; ok {
		return linkUnsupported, n
	}
	return linkUnsupported, "LINKTYPE_" + strconv.FormatUint(uint64(lt), 10)
}
