/*
 * test_conf.c: the typed configuration layer and its schema: every seed
 * key (default, valid, out of range, wrong type), lists, unknown keys,
 * missing files, the shipped etc/ directory, and the schema itself.
 */
#include <sys/stat.h>
#include <arpa/inet.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "diag.h"
#include "ini.h"
#include "log.h"
#include "test.h"
#include "util.h"
#include "xmalloc.h"

#ifndef SEKISHO_SOURCE_DIR
#error "t/CMakeLists.txt defines SEKISHO_SOURCE_DIR for test_conf"
#endif

static const char *const conf_names[] = { "imss.ini", "tsmtpd.ini",
    "foxdns.ini" };

/* write_file: create dir/name with the given text. */
static void
write_file(const char *dir, const char *name, const char *text)
{
	char	*path = xasprintf("%s/%s", dir, name);
	FILE	*f = fopen(path, "w");

	if (f == NULL)
		fatal("write_file: %s", path);
	fputs(text, f);
	fclose(f);
	free(path);
}

/* remove_dir: remove the three files (if there) and the directory. */
static void
remove_dir(const char *dir)
{
	char	*path;
	size_t	 i;

	for (i = 0; i < nitems(conf_names); i++) {
		path = xasprintf("%s/%s", dir, conf_names[i]);
		unlink(path);
		free(path);
	}
	rmdir(dir);
}

/*
 * load_one: a temporary configuration directory in which file holds body
 * and the other two files are empty; conf_load it.  dir receives the
 * directory's name (already removed again).
 */
static int
load_one(const char *file, const char *body, struct sekisho_conf *c,
    struct diag *d, char *dir, size_t dirsz)
{
	char	 tmpl[] = "/tmp/sekisho-conf.XXXXXX";
	size_t	 i;
	int	 rc;

	if (mkdtemp(tmpl) == NULL)
		fatal("mkdtemp");
	for (i = 0; i < nitems(conf_names); i++)
		write_file(tmpl, conf_names[i], strcmp(conf_names[i], file) ==
		    0 ? body : "");
	diag_init(d);
	rc = conf_load(tmpl, c, d);
	remove_dir(tmpl);
	str_lcpy(dir, tmpl, dirsz);
	return rc;
}

/* schema_key: the row called name in file (any section), or NULL. */
static const struct conf_key *
schema_key(const char *file, const char *name)
{
	const struct conf_file *f = conf_file_find(file);
	size_t	 i, j;

	for (i = 0; f != NULL && i < f->nsections; i++)
		for (j = 0; j < f->sections[i].nkeys; j++)
			if (strcmp(f->sections[i].keys[j].name, name) == 0)
				return &f->sections[i].keys[j];
	return NULL;
}

/* render: a field as text, to compare with a table's expectation. */
static void
render(struct sekisho_conf *c, const struct conf_key *k, struct buf *b)
{
	buf_reset(b);
	conf_value_text(c, k, b);
}

#define RANGE_RBS	"(512..4096, or 0 for the default 8196)"

/*
 * One row: file gets body; then key renders as want ("@" at the start
 * stands for the configuration directory), or, with want NULL, the load
 * fails.  diag, if set, must appear in some diagnostic right after the
 * directory and "/"; without it a successful load must be silent.
 */
static const struct kcase {
	const char	*file, *body, *key, *want, *diag;
} kcases[] = {
	/* relay control and limits */
	{ "tsmtpd.ini", "", "RelayNetworks", "127.0.0.0/8,::1", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nRelayNetworks=192.0.2.0/24, "
	  "2001:db8::/32\n", "RelayNetworks", "192.0.2.0/24,2001:db8::/32",
	  NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nRelayNetworks=\n", "RelayNetworks", "",
	  NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nRelayNetworks=192.0.2.1/24\n",
	  "RelayNetworks", NULL, "tsmtpd.ini:2: RelayNetworks: " },
	{ "tsmtpd.ini", "[SmtpServer]\nRelayNetworks=10.0.0.0/33\n",
	  "RelayNetworks", NULL, "tsmtpd.ini:2: RelayNetworks: " },
	{ "tsmtpd.ini", "", "AcceptedDomains", "", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nAcceptedDomains=example.com, "
	  ".example.net,*.example.org\n", "AcceptedDomains",
	  "example.com,.example.net,*.example.org", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nAcceptedDomains=example.com,,x.example\n",
	  "AcceptedDomains", NULL,
	  "tsmtpd.ini:2: AcceptedDomains: empty item 2 in the list" },
	{ "tsmtpd.ini", "[SmtpServer]\nAcceptedDomains=exa mple.com\n",
	  "AcceptedDomains", NULL, "tsmtpd.ini:2: AcceptedDomains: "
	  "\"exa mple.com\" is not a domain or domain pattern" },
	{ "tsmtpd.ini", "[SmtpServer]\nAcceptedDomains=*\n",
	  "AcceptedDomains", NULL, "tsmtpd.ini:2: AcceptedDomains: " },
	{ "tsmtpd.ini", "", "MaxMsgSize", "20971520", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nMaxMsgSize=1023\n", "MaxMsgSize", NULL,
	  "tsmtpd.ini:2: MaxMsgSize: 1023 is out of range" },
	{ "tsmtpd.ini", "", "MaxConnectionsPerIP", "20", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nMaxConnectionsPerIP=0\n",
	  "MaxConnectionsPerIP", "0", NULL },
	{ "tsmtpd.ini", "", "CommandTimeout", "300", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nDataTimeout=0\n", "DataTimeout", NULL,
	  "tsmtpd.ini:2: DataTimeout: 0 is out of range" },
	/* seed 6: RecvBufferSize */
	{ "tsmtpd.ini", "", "RecvBufferSize", "8196", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\n", "RecvBufferSize", "8196", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nRecvBufferSize=0\n", "RecvBufferSize",
	  "8196", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nRecvBufferSize=512\n",
	  "RecvBufferSize", "512", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nRecvBufferSize=4096\n",
	  "RecvBufferSize", "4096", NULL },
	{ "tsmtpd.ini", "[smtpserver]\nrecvbuffersize = 1024\n",
	  "RecvBufferSize", "1024", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nRecvBufferSize=511\n",
	  "RecvBufferSize", NULL,
	  "tsmtpd.ini:2: RecvBufferSize: 511 is out of range " RANGE_RBS },
	{ "tsmtpd.ini", "[SmtpServer]\nRecvBufferSize=4097\n",
	  "RecvBufferSize", NULL,
	  "tsmtpd.ini:2: RecvBufferSize: 4097 is out of range " RANGE_RBS },
	{ "tsmtpd.ini", "[SmtpServer]\nRecvBufferSize=8000\n",
	  "RecvBufferSize", NULL,
	  "tsmtpd.ini:2: RecvBufferSize: 8000 is out of range " RANGE_RBS },
	{ "tsmtpd.ini", "[SmtpServer]\nRecvBufferSize=abc\n",
	  "RecvBufferSize", NULL,
	  "tsmtpd.ini:2: RecvBufferSize: \"abc\" is not an integer "
	  RANGE_RBS },
	{ "tsmtpd.ini", "[SmtpServer]\nRecvBufferSize=-1\n",
	  "RecvBufferSize", NULL, "RecvBufferSize: -1 is out of range" },
	{ "tsmtpd.ini", "[SmtpServer]\nRecvBufferSize=\n", "RecvBufferSize",
	  NULL, "tsmtpd.ini:2: RecvBufferSize: must not be empty" },
	{ "tsmtpd.ini", "[SmtpServer]\nRecvBufferSize=1e3\n",
	  "RecvBufferSize", NULL, "\"1e3\" is not an integer" },
	{ "tsmtpd.ini", "[SmtpServer]\nRecvBufferSize="
	  "99999999999999999999999\n", "RecvBufferSize", NULL,
	  "99999999999999999999999 is out of range" },
	/* seed 3: CheckDotInMailAddress */
	{ "tsmtpd.ini", "", "CheckDotInMailAddress", "1", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nCheckDotInMailAddress=0\n",
	  "CheckDotInMailAddress", "0", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nCheckDotInMailAddress=1\n",
	  "CheckDotInMailAddress", "1", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nCheckDotInMailAddress=off\n",
	  "CheckDotInMailAddress", "0", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nCheckDotInMailAddress=Yes\n",
	  "CheckDotInMailAddress", "1", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nCheckDotInMailAddress=2\n",
	  "CheckDotInMailAddress", NULL,
	  "tsmtpd.ini:2: CheckDotInMailAddress: \"2\" is not a boolean "
	  "(use 0 or 1)" },
	/* seed 17, 18: DisableSvrSSLSupport, DisableAddDefaultDomainToSender */
	{ "tsmtpd.ini", "", "DisableSvrSSLSupport", "0", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nDisableSvrSSLSupport=1\n",
	  "DisableSvrSSLSupport", "1", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nDisableSvrSSLSupport=enable\n",
	  "DisableSvrSSLSupport", NULL, "DisableSvrSSLSupport: \"enable\" is "
	  "not a boolean" },
	{ "tsmtpd.ini", "", "DisableAddDefaultDomainToSender", "0", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nDisableAddDefaultDomainToSender=1\n",
	  "DisableAddDefaultDomainToSender", "1", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nDisableAddDefaultDomainToSender=-1\n",
	  "DisableAddDefaultDomainToSender", NULL, "is not a boolean" },
	{ "tsmtpd.ini", "", "DefaultDomain", "", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nDefaultDomain=example.com\n",
	  "DefaultDomain", "example.com", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nDefaultDomain=exa mple.com\n",
	  "DefaultDomain", NULL, "tsmtpd.ini:2: DefaultDomain: \"exa "
	  "mple.com\" is not a valid host or domain name" },
	/* seed 22: NrsRejectMsg, RblCheckDomain */
	{ "tsmtpd.ini", "", "NrsRejectMsg",
	  "Client host %CLIENT_IP% blocked using %RBL_CHECK_DOMAIN%", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nNrsRejectMsg=Go away %CLIENT_IP%\n",
	  "NrsRejectMsg", "Go away %CLIENT_IP%", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nNrsRejectMsg=\"  padded; #x  \"\n",
	  "NrsRejectMsg", "  padded; #x  ", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nNrsRejectMsg=\n", "NrsRejectMsg", NULL,
	  "tsmtpd.ini:2: NrsRejectMsg: must not be empty" },
	{ "tsmtpd.ini", "", "RblCheckDomain",
	  "http://www.mail-abuse.com/cgi-bin/lookup?ip_address=%CLIENT_IP%",
	  NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nRblCheckDomain=https://x.example/"
	  "q?ip=%CLIENT_IP%;a=1#frag\n", "RblCheckDomain",
	  "https://x.example/q?ip=%CLIENT_IP%;a=1#frag", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nRblCheckDomain=\n", "RblCheckDomain",
	  "", NULL },
	/* seed 24: LdapLookupApprovedList */
	{ "tsmtpd.ini", "", "LdapLookupApprovedList", "", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nLdapLookupApprovedListCount=2\n"
	  "LdapLookupApprovedList0=a.example\n"
	  "LdapLookupApprovedList1=b.example\n", "LdapLookupApprovedList",
	  "a.example,b.example", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nLdapLookupApprovedList1=b.example\n"
	  "LdapLookupApprovedListCount=2\nLdapLookupApprovedList0=a.example\n",
	  "LdapLookupApprovedList", "a.example,b.example", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nLdapLookupApprovedListCount=2\n"
	  "LdapLookupApprovedList0=a.example\n", "LdapLookupApprovedList",
	  NULL, "tsmtpd.ini:2: LdapLookupApprovedList1 is missing "
	  "(LdapLookupApprovedListCount=2 needs LdapLookupApprovedList0.."
	  "LdapLookupApprovedList1)" },
	{ "tsmtpd.ini", "[SmtpServer]\nLdapLookupApprovedListCount=2\n"
	  "LdapLookupApprovedList0=a.example\n"
	  "LdapLookupApprovedList1=b.example\n"
	  "LdapLookupApprovedList5=c.example\n", "LdapLookupApprovedList",
	  "a.example,b.example", "tsmtpd.ini:5: unknown key "
	  "\"LdapLookupApprovedList5\" in [SmtpServer] "
	  "(LdapLookupApprovedListCount is 2)" },
	{ "tsmtpd.ini", "[SmtpServer]\nLdapLookupApprovedList0=a.example\n",
	  "LdapLookupApprovedList", "", "tsmtpd.ini:2: unknown key "
	  "\"LdapLookupApprovedList0\" in [SmtpServer] "
	  "(LdapLookupApprovedListCount is 0)" },
	{ "tsmtpd.ini", "[SmtpServer]\nLdapLookupApprovedListCount=1\n"
	  "LdapLookupApprovedList0=not a domain\n", "LdapLookupApprovedList",
	  NULL, "tsmtpd.ini:3: LdapLookupApprovedList0: \"not a domain\" is "
	  "not a valid host or domain name" },
	{ "tsmtpd.ini", "[SmtpServer]\nLdapLookupApprovedListCount=two\n",
	  "LdapLookupApprovedList", NULL, "tsmtpd.ini:2: "
	  "LdapLookupApprovedListCount: \"two\" is not an integer (0..1000)" },
	{ "tsmtpd.ini", "[SmtpServer]\nLdapLookupApprovedListCount=1001\n",
	  "LdapLookupApprovedList", NULL, "LdapLookupApprovedListCount: 1001 "
	  "is out of range (0..1000)" },
	{ "tsmtpd.ini", "[SmtpServer]\nLdapLookupApprovedListCount=1\n"
	  "LdapLookupApprovedList00=a.example\nLdapLookupApprovedList0=b.ex\n",
	  "LdapLookupApprovedList", "b.ex", "unknown key "
	  "\"LdapLookupApprovedList00\"" },
	/* seed 34: ShutDownMode */
	{ "tsmtpd.ini", "", "ShutDownMode", "0", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nShutDownMode=0\n", "ShutDownMode", "0",
	  NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nShutDownMode=1\n", "ShutDownMode", "1",
	  NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nShutDownMode=2\n", "ShutDownMode", NULL,
	  "tsmtpd.ini:2: ShutDownMode: 2 is out of range (0..1)" },
	/* [SmtpServer] listening */
	{ "tsmtpd.ini", "", "BindAddress", "127.0.0.1", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nBindAddress = 0.0.0.0 , ::\n",
	  "BindAddress", "0.0.0.0,::", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nBindAddress=2001:DB8::0:1\n",
	  "BindAddress", "2001:db8::1", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nBindAddress=1.2.3\n", "BindAddress",
	  NULL, "tsmtpd.ini:2: BindAddress: \"1.2.3\" is not an IPv4 or IPv6 "
	  "address" },
	{ "tsmtpd.ini", "[SmtpServer]\nBindAddress=1.2.3.4,,::1\n",
	  "BindAddress", NULL, "BindAddress: empty item 2 in the list" },
	{ "tsmtpd.ini", "[SmtpServer]\nBindAddress=\n", "BindAddress", NULL,
	  "BindAddress: must not be empty" },
	{ "tsmtpd.ini", "", "Port", "25", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nPort=2525\n", "Port", "2525", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nPort=0\n", "Port", NULL,
	  "Port: 0 is out of range (1..65535)" },
	{ "tsmtpd.ini", "[SmtpServer]\nPort=465\n", "Port", NULL,
	  "tsmtpd.ini:2: Port and SmtpsPort are both 465 (they must differ)" },
	{ "tsmtpd.ini", "", "SmtpsPort", "465", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nSmtpsPort=0\n", "SmtpsPort", "0", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nSmtpsPort=65536\n", "SmtpsPort", NULL,
	  "SmtpsPort: 65536 is out of range (0..65535)" },
	{ "tsmtpd.ini", "[SmtpServer]\nPort=2525\nSmtpsPort=2525\n",
	  "SmtpsPort", NULL, "tsmtpd.ini:3: Port and SmtpsPort are both 2525 "
	  "(they must differ)" },
	{ "tsmtpd.ini", "", "TlsCertFile", "@/tls/server.crt", NULL },
	{ "tsmtpd.ini", "", "TlsKeyFile", "@/tls/server.key", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nTlsKeyFile=/etc/ssl/k.pem\n",
	  "TlsKeyFile", "/etc/ssl/k.pem", NULL },
	{ "tsmtpd.ini", "[SmtpServer]\nTlsCertFile=\n", "TlsCertFile", NULL,
	  "TlsCertFile: must not be empty" },
	/* [SmtpClient]: seed 20 MaxDNSMxToTry, seed 7 notices, SmartHost */
	{ "tsmtpd.ini", "", "MaxDNSMxToTry", "5", NULL },
	{ "tsmtpd.ini", "[SmtpClient]\nMaxDNSMxToTry=1\n", "MaxDNSMxToTry", "1",
	  NULL },
	{ "tsmtpd.ini", "[SmtpClient]\nMaxDNSMxToTry=100\n", "MaxDNSMxToTry",
	  "100", NULL },
	{ "tsmtpd.ini", "[SmtpClient]\nMaxDNSMxToTry=0\n", "MaxDNSMxToTry",
	  NULL, "tsmtpd.ini:2: MaxDNSMxToTry: 0 is out of range (1..100)" },
	{ "tsmtpd.ini", "[SmtpClient]\nMaxDNSMxToTry=101\n", "MaxDNSMxToTry",
	  NULL, "MaxDNSMxToTry: 101 is out of range (1..100)" },
	{ "tsmtpd.ini", "[SmtpServer]\nMaxDNSMxToTry=3\n", "MaxDNSMxToTry",
	  "5", "tsmtpd.ini:2: unknown key \"MaxDNSMxToTry\" in [SmtpServer]" },
	{ "tsmtpd.ini", "", "MaxMessagesPerMinutePerDestination", "0", NULL },
	{ "tsmtpd.ini", "[SmtpClient]\n"
	  "MaxMessagesPerMinutePerDestination=600\n",
	  "MaxMessagesPerMinutePerDestination", "600", NULL },
	{ "tsmtpd.ini", "[SmtpClient]\n"
	  "MaxMessagesPerMinutePerDestination=100000\n",
	  "MaxMessagesPerMinutePerDestination", "100000", NULL },
	{ "tsmtpd.ini", "[SmtpClient]\n"
	  "MaxMessagesPerMinutePerDestination=100001\n",
	  "MaxMessagesPerMinutePerDestination", NULL, "tsmtpd.ini:2: "
	  "MaxMessagesPerMinutePerDestination: 100001 is out of range "
	  "(0..100000)" },
	{ "tsmtpd.ini", "[SmtpClient]\nMaxMessagesPerMinutePerDestination=-1\n",
	  "MaxMessagesPerMinutePerDestination", NULL,
	  "MaxMessagesPerMinutePerDestination: -1 is out of range" },
	{ "tsmtpd.ini", "", "FailNotifyMsgSubject",
	  "Delivery Final Failure Notice", NULL },
	{ "tsmtpd.ini", "[SmtpClient]\nFailNotifyMsgSubject=Undeliverable\n",
	  "FailNotifyMsgSubject", "Undeliverable", NULL },
	{ "tsmtpd.ini", "[SmtpClient]\nFailNotifyMsgSubject=\n",
	  "FailNotifyMsgSubject", NULL, "FailNotifyMsgSubject: must not be "
	  "empty" },
	{ "tsmtpd.ini", "", "FailNotifMsg",
	  "Can not deliver the message you sent. Will not retry.", NULL },
	{ "tsmtpd.ini", "[SmtpClient]\nFailNotifMsg=\xe9\x85\x8d\xe4\xbf\xa1"
	  "\xe3\x81\xa7\xe3\x81\x8d\xe3\x81\xbe\xe3\x81\x9b\xe3\x82\x93\n",
	  "FailNotifMsg", "\xe9\x85\x8d\xe4\xbf\xa1\xe3\x81\xa7\xe3\x81\x8d"
	  "\xe3\x81\xbe\xe3\x81\x9b\xe3\x82\x93", NULL },
	{ "tsmtpd.ini", "[SmtpClient]\nFailNotifyMessage=x\n", "FailNotifMsg",
	  "Can not deliver the message you sent. Will not retry.",
	  "tsmtpd.ini:2: unknown key \"FailNotifyMessage\" in [SmtpClient]" },
	{ "tsmtpd.ini", "", "SmartHost", "", NULL },
	{ "tsmtpd.ini", "[SmtpClient]\nSmartHost=relay.example:2525\n",
	  "SmartHost", "relay.example:2525", NULL },
	{ "tsmtpd.ini", "[SmtpClient]\nSmartHost=relay.example\n",
	  "SmartHost", "relay.example:25", NULL },
	{ "tsmtpd.ini", "[SmtpClient]\nSmartHost=192.0.2.7:26\n",
	  "SmartHost", "192.0.2.7:26", NULL },
	{ "tsmtpd.ini", "[SmtpClient]\nSmartHost=[2001:db8::25]:587\n",
	  "SmartHost", "[2001:db8::25]:587", NULL },
	{ "tsmtpd.ini", "[SmtpClient]\nSmartHost=[::1]\n", "SmartHost",
	  "[::1]:25", NULL },
	{ "tsmtpd.ini", "[SmtpClient]\nSmartHost=::1:25\n", "SmartHost", NULL,
	  "SmartHost: \"::1:25\": write an IPv6 address in brackets" },
	{ "tsmtpd.ini", "[SmtpClient]\nSmartHost=relay.example:0\n",
	  "SmartHost", NULL, "SmartHost: port \"0\" is not 1..65535" },
	{ "tsmtpd.ini", "[SmtpClient]\nSmartHost=relay.example:smtp\n",
	  "SmartHost", NULL, "SmartHost: port \"smtp\" is not 1..65535" },
	{ "tsmtpd.ini", "[SmtpClient]\nSmartHost=[relay.example]:25\n",
	  "SmartHost", NULL, "is not an IPv6 address" },
	{ "tsmtpd.ini", "[SmtpClient]\nSmartHost=1.2.3:25\n", "SmartHost",
	  NULL, "SmartHost: \"1.2.3\" is not a host name or IP address" },
	/* unknown things */
	{ "tsmtpd.ini", "[SmtpServer]\nFoo=1\n", "Port", "25",
	  "tsmtpd.ini:2: unknown key \"Foo\" in [SmtpServer]" },
	{ "tsmtpd.ini", "[SmtpServer]\n[Smtp]\nFoo=1\n", "Port", "25",
	  "tsmtpd.ini:2: unknown section [Smtp]" },
	/* seed 21: scanner_ip_addr */
	{ "imss.ini", "", "scanner_ip_addr", "", NULL },
	{ "imss.ini", "[imss_manager]\nscanner_ip_addr=192.0.2.10\n",
	  "scanner_ip_addr", "192.0.2.10", NULL },
	{ "imss.ini", "[imss_manager]\nscanner_ip_addr=2001:db8::a\n",
	  "scanner_ip_addr", "2001:db8::a", NULL },
	{ "imss.ini", "[imss_manager]\nscanner_ip_addr=\n", "scanner_ip_addr",
	  "", NULL },
	{ "imss.ini", "[imss_manager]\nscanner_ip_addr=1.2.3\n",
	  "scanner_ip_addr", NULL, "imss.ini:2: scanner_ip_addr: \"1.2.3\" is "
	  "not an IPv4 or IPv6 address" },
	{ "imss.ini", "[imss_manager]\nscanner_ip_addr=[::1]\n",
	  "scanner_ip_addr", NULL, "is not an IPv4 or IPv6 address" },
	{ "imss.ini", "[imss_manager]\nscanner_ip_addr=host.example\n",
	  "scanner_ip_addr", NULL, "is not an IPv4 or IPv6 address" },
	{ "imss.ini", "", "console_port", "8445", NULL },
	{ "imss.ini", "", "agent_port", "8446", NULL },
	{ "imss.ini", "[imss_manager]\nconsole_port=443\n", "console_port",
	  "443", NULL },
	{ "imss.ini", "[imss_manager]\nagent_port=70000\n", "agent_port", NULL,
	  "agent_port: 70000 is out of range (1..65535)" },
	{ "imss.ini", "[imss_manager]\nagent_port=8445\n", "agent_port", NULL,
	  "imss.ini:2: console_port and agent_port are both 8445" },
	/* The manager: services it runs, stop timeout (seed 34), backoff. */
	{ "imss.ini", "", "services", "smtpd, scanner, ipprofiler, euq",
	  NULL },
	{ "imss.ini", "[imss_manager]\nservices=smtpd,scanner\n", "services",
	  "smtpd,scanner", NULL },
	{ "imss.ini", "[imss_manager]\nservices=\n", "services", "", NULL },
	{ "imss.ini", "[imss_manager]\nservices=smtpd, mailer\n", "services",
	  NULL, "imss.ini:2: services: unknown service \"mailer\" (one of "
	  "smtpd, scanner, ipprofiler, euq)" },
	{ "imss.ini", "[imss_manager]\nservices=scanner smtpd scanner\n",
	  "services", NULL, "imss.ini:2: services: scanner is named twice" },
	{ "imss.ini", "", "service_stop_timeout", "150", NULL },
	{ "imss.ini", "[imss_manager]\nservice_stop_timeout=1\n",
	  "service_stop_timeout", "1", NULL },
	{ "imss.ini", "[imss_manager]\nservice_stop_timeout=0\n",
	  "service_stop_timeout", NULL, "service_stop_timeout: 0 is out of "
	  "range (1..3600)" },
	{ "imss.ini", "[imss_manager]\nservice_stop_timeout=3601\n",
	  "service_stop_timeout", NULL, "out of range (1..3600)" },
	{ "imss.ini", "", "restart_backoff_max", "60", NULL },
	{ "imss.ini", "[imss_manager]\nrestart_backoff_max=0\n",
	  "restart_backoff_max", NULL, "out of range (1..3600)" },
	{ "imss.ini", "", "log_dir", "", NULL },
	/* seed 36: max_log_size_mb */
	{ "imss.ini", "", "max_log_size_mb", "100", NULL },
	{ "imss.ini", "[logging]\nmax_log_size_mb=99\n", "max_log_size_mb",
	  NULL, "imss.ini:2: max_log_size_mb: 99 is out of range "
	  "(100..99999)" },
	{ "imss.ini", "[logging]\nmax_log_size_mb=100\n", "max_log_size_mb",
	  "100", NULL },
	{ "imss.ini", "[logging]\nmax_log_size_mb=99999\n", "max_log_size_mb",
	  "99999", NULL },
	{ "imss.ini", "[logging]\nmax_log_size_mb=100000\n",
	  "max_log_size_mb", NULL, "max_log_size_mb: 100000 is out of range "
	  "(100..99999)" },
	{ "imss.ini", "", "level", "info", NULL },
	{ "imss.ini", "[logging]\nlevel=DEBUG\n", "level", "debug", NULL },
	{ "imss.ini", "[logging]\nlevel=verbose\n", "level", NULL,
	  "imss.ini:2: level: \"verbose\" is not one of err, warn, info, "
	  "debug" },
	/* [general], [users] */
	{ "imss.ini", "", "data_dir", "/var/lib/sekisho", NULL },
	{ "imss.ini", "", "run_dir", "/run/sekisho", NULL },
	{ "imss.ini", "[general]\ndata_dir=var/data\n", "data_dir",
	  "@/var/data", NULL },
	{ "imss.ini", "", "hostname", "", NULL },
	{ "imss.ini", "[general]\nhostname=mx1.example.com\n", "hostname",
	  "mx1.example.com", NULL },
	{ "imss.ini", "[general]\nhostname=-mx.example\n", "hostname", NULL,
	  "hostname: \"-mx.example\" is not a valid host or domain name" },
	{ "imss.ini", "", "admin_email", "postmaster", NULL },
	{ "imss.ini", "", "manager_user", "_sekisho-mgr", NULL },
	{ "imss.ini", "", "smtpd_user", "_sekisho-smtpd", NULL },
	{ "imss.ini", "", "queue_user", "_sekisho-queue", NULL },
	{ "imss.ini", "", "scanner_user", "_sekisho-scan", NULL },
	{ "imss.ini", "", "ipprofiler_user", "_sekisho-ipp", NULL },
	{ "imss.ini", "", "euq_user", "_sekisho-euq", NULL },
	{ "imss.ini", "[users]\nsmtpd_user=mail\n", "smtpd_user", "mail",
	  NULL },
	{ "imss.ini", "[users]\nsmtpd_user=a:b\n", "smtpd_user", NULL,
	  "imss.ini:2: smtpd_user: \"a:b\" is not a user name" },
	/* seed 1: keep_tempblocked_mins */
	{ "foxdns.ini", "", "keep_tempblocked_mins", "60", NULL },
	{ "foxdns.ini", "[foxdns]\nkeep_tempblocked_mins=1\n",
	  "keep_tempblocked_mins", "1", NULL },
	{ "foxdns.ini", "[foxdns]\nkeep_tempblocked_mins = 525600\n",
	  "keep_tempblocked_mins", "525600", NULL },
	{ "foxdns.ini", "[foxdns]\nkeep_tempblocked_mins=0\n",
	  "keep_tempblocked_mins", NULL, "foxdns.ini:2: keep_tempblocked_mins: "
	  "0 is out of range (1..525600)" },
	{ "foxdns.ini", "[foxdns]\nkeep_tempblocked_mins=525601\n",
	  "keep_tempblocked_mins", NULL, "525601 is out of range" },
	{ "foxdns.ini", "[foxdns]\nkeep_tempblocked_mins=1h\n",
	  "keep_tempblocked_mins", NULL, "\"1h\" is not an integer" },
	{ "foxdns.ini", "[FoxDns]\nKEEP_TEMPBLOCKED_MINS=5\n",
	  "keep_tempblocked_mins", "5", NULL },
};

/* Every key of every file: default, valid, out of range, wrong type. */
static void
t_keys(void)
{
	struct sekisho_conf c;
	struct diag	 d;
	struct buf	 b, want;
	char		 dir[64], *anchor;
	const struct kcase *kc;
	const struct conf_key *k;
	size_t		 i;
	int		 rc;

	buf_init(&b, 65536);
	buf_init(&want, 65536);
	for (i = 0; i < nitems(kcases); i++) {
		kc = &kcases[i];
		k = schema_key(kc->file, kc->key);
		CHECKF(k != NULL, "row %zu: no key %s", i, kc->key);
		if (k == NULL)
			continue;
		rc = load_one(kc->file, kc->body, &c, &d, dir, sizeof(dir));
		if (kc->want == NULL) {
			CHECKF(rc == -1 && d.nerrors > 0, "row %zu (%s): loaded",
			    i, kc->key);
		} else {
			CHECKF(rc == 0 && d.nerrors == 0, "row %zu (%s): %s", i,
			    kc->key, d.nitems ? d.items[0].text : "");
			CHECKF(kc->diag != NULL || d.nwarnings == 0,
			    "row %zu (%s): %s", i, kc->key,
			    d.nitems ? d.items[0].text : "");
			buf_reset(&want);
			if (kc->want[0] == '@')
				buf_printf(&want, "%s%s", c.confdir ?
				    c.confdir : "", kc->want + 1);
			else
				buf_addstr(&want, kc->want);
			if (rc == 0) {
				render(&c, k, &b);
				CHECKF(strcmp(buf_cstr(&b), buf_cstr(&want)) ==
				    0, "row %zu (%s): \"%s\" != \"%s\"", i,
				    kc->key, buf_cstr(&b), buf_cstr(&want));
			}
		}
		if (kc->diag != NULL) {
			anchor = xasprintf("%s/%s", dir, kc->diag);
			CHECKF(diag_find(&d, anchor) != NULL ||
			    (strncmp(kc->diag, kc->file, strlen(kc->file)) !=
			    0 && diag_find(&d, kc->diag) != NULL),
			    "row %zu (%s): want \"%s\", got \"%s\"", i, kc->key,
			    kc->diag, d.nitems ? d.items[0].text : "");
			free(anchor);
		}
		conf_free(&c);
		diag_free(&d);
	}
	buf_free(&b);
	buf_free(&want);
}

/* Failing loads leave a zeroed struct, reported with the full path. */
static void
t_load_errors(void)
{
	struct sekisho_conf c;
	struct diag	 d;
	char		 tmpl[] = "/tmp/sekisho-conf.XXXXXX", *want;

	CHECK(mkdtemp(tmpl) != NULL);
	write_file(tmpl, "imss.ini", "");
	write_file(tmpl, "foxdns.ini", "");
	diag_init(&d);
	CHECK(conf_load(tmpl, &c, &d) == -1);
	want = xasprintf("%s/tsmtpd.ini: cannot open: No such file or "
	    "directory", tmpl);
	CHECK(d.nerrors == 1 && strcmp(d.items[0].text, want) == 0);
	CHECK(c.confdir == NULL && c.tsmtpd.nrs_reject_msg == NULL);
	free(want);
	conf_free(&c);
	diag_free(&d);

	/* Syntax errors and value errors of the same file: all reported. */
	write_file(tmpl, "tsmtpd.ini", "[SmtpServer]\nPort 25\n"
	    "ShutDownMode=9\nBogus=1\n[SmtpClient]\nMaxDNSMxToTry=0\n");
	CHECK(conf_load(tmpl, &c, &d) == -1);
	CHECK_INTEQ(d.nerrors, 3);
	CHECK_INTEQ(d.nwarnings, 1);
	CHECK(diag_find(&d, "tsmtpd.ini:2: missing \"=\"") != NULL);
	CHECK(diag_find(&d, "tsmtpd.ini:3: ShutDownMode: 9 is out of") != NULL);
	CHECK(diag_find(&d, "tsmtpd.ini:4: unknown key \"Bogus\"") != NULL);
	CHECK(diag_find(&d, "tsmtpd.ini:6: MaxDNSMxToTry") != NULL);
	/* Reported in line order, whichever pass found them. */
	CHECK(d.nitems == 4 && d.items[0].line == 2 && d.items[1].line == 3 &&
	    d.items[2].line == 4 && d.items[3].line == 6);
	conf_free(&c);
	diag_free(&d);
	remove_dir(tmpl);

	CHECK(conf_load(tmpl, &c, &d) == -1);
	want = xasprintf("%s: cannot use configuration directory: No such "
	    "file or directory", tmpl);
	CHECK(d.nitems == 1 && strcmp(d.items[0].text, want) == 0);
	free(want);
	conf_free(&c);
	diag_free(&d);
}

/* The tables: names valid and unique, defaults parse, docs text sane. */
static void
t_schema(void)
{
	struct sekisho_conf c;
	const struct conf_file *f;
	const struct conf_section *s;
	const struct conf_key *k;
	char	 err[512], v[512];
	size_t	 i, j, n, m;

	memset(&c, 0, sizeof(c));
	c.confdir = xstrdup("/etc/sekisho");
	for (i = 0; i < conf_nfiles; i++) {
		f = &conf_files[i];
		CHECK(f->desc != NULL && *f->desc != '\0');
		for (j = 0; j < f->nsections; j++) {
			s = &f->sections[j];
			CHECKF(ini_key_valid(s->name), "%s", s->name);
			for (m = 0; m < j; m++)
				CHECKF(strcasecmp(f->sections[m].name,
				    s->name) != 0, "section %s twice",
				    s->name);
			for (n = 0; n < s->nkeys; n++) {
				k = &s->keys[n];
				CHECKF(ini_key_valid(k->name), "%s", k->name);
				CHECKF(k->desc != NULL && *k->desc != '\0' &&
				    strchr(k->desc, '\n') == NULL, "%s",
				    k->name);
				CHECKF(conf_parse_value(&c, k, k->def, err,
				    sizeof(err)) == 0, "%s default \"%s\": %s",
				    k->name, k->def, err);
				CHECKF(*conf_valid_text(k, v, sizeof(v)) !=
				    '\0', "%s", k->name);
				for (m = 0; m < n; m++)
					CHECKF(strcasecmp(s->keys[m].name,
					    k->name) != 0, "%s twice", k->name);
			}
		}
	}
	conf_free(&c);
	CHECK(conf_file_find("tsmtpd.ini") != NULL);
	/* policy.ini is optional: only its [scan] switch is read here. */
	CHECK(conf_file_find("policy.ini") != NULL &&
	    !conf_file_find("policy.ini")->required);
	/* The seed spellings, exactly. */
	CHECK(schema_key("tsmtpd.ini", "FailNotifMsg") != NULL);
	CHECK(schema_key("tsmtpd.ini", "FailNotifyMsgSubject") != NULL);
	CHECK(schema_key("tsmtpd.ini", "DisableSvrSSLSupport") != NULL);
	CHECK(schema_key("tsmtpd.ini", "MaxDNSMxToTry") != NULL);
	CHECK(schema_key("foxdns.ini", "keep_tempblocked_mins") != NULL);
	CHECK(schema_key("imss.ini", "scanner_ip_addr") != NULL);
	CHECK_INTEQ(LOG_LVL_DEBUG, 3);	/* enum order = word order */
}

/*
 * etc_mentions: whether file text (an etc/ file) sets or comments out
 * name inside [section].
 */
static bool
etc_mentions(const char *text, const char *section, const char *name)
{
	const char *p = text, *nl;
	char	 line[1024], cur[128] = "", *t, *eq;
	size_t	 n;

	for (; *p != '\0'; p = nl != NULL ? nl + 1 : p + n) {
		nl = strchr(p, '\n');
		n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (n >= sizeof(line))
			continue;
		memcpy(line, p, n);
		line[n] = '\0';
		t = str_trim(line);
		if (*t == '[') {
			str_lcpy(cur, t + 1, sizeof(cur));
			if ((eq = strchr(cur, ']')) != NULL)
				*eq = '\0';
			continue;
		}
		if (*t == ';')
			t = str_trim(t + 1);
		if ((eq = strchr(t, '=')) == NULL)
			continue;
		*eq = '\0';
		if (strcasecmp(cur, section) == 0 &&
		    strcmp(str_trim(t), name) == 0)
			return true;
	}
	return false;
}

/* read_text: a whole (small) file into b. */
static void
read_text(const char *path, struct buf *b)
{
	FILE	*fp;
	char	 chunk[4096];
	size_t	 got;

	buf_init(b, INI_MAX_FILE);
	if ((fp = fopen(path, "r")) == NULL)
		return;
	while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_add(b, chunk, got);
	fclose(fp);
}

/* The shipped etc/: loads without a word, and shows every key. */
static void
t_etc(void)
{
	struct sekisho_conf c;
	struct diag	 d;
	const struct conf_file *f;
	const struct conf_section *s;
	const struct conf_key *k;
	struct ini	 ini;
	struct buf	 b;
	char		 name[256], *path;
	size_t		 i, j, n;

	diag_init(&d);
	CHECK(conf_load(SEKISHO_SOURCE_DIR "/etc", &c, &d) == 0);
	CHECKF(d.nerrors == 0 && d.nwarnings == 0, "%s",
	    d.nitems ? d.items[0].text : "");
	diag_print(&d, stderr);
	CHECK_STREQ(c.imss.data_dir, "/var/lib/sekisho");
	CHECK_STREQ(c.imss.run_dir, "/run/sekisho");
	CHECK_INTEQ(c.tsmtpd.recv_buffer_size, 8196);
	CHECK(c.tsmtpd.check_dot_in_mail_address);
	conf_free(&c);
	diag_free(&d);

	for (i = 0; i < conf_nfiles; i++) {
		f = &conf_files[i];
		path = xasprintf("%s/etc/%s", SEKISHO_SOURCE_DIR, f->name);
		CHECK(ini_parse_file(&ini, path, &d) == 0);
		ini_free(&ini);
		read_text(path, &b);
		for (j = 0; j < f->nsections; j++) {
			s = &f->sections[j];
			for (n = 0; n < s->nkeys; n++) {
				k = &s->keys[n];
				if (k->type == CONF_T_LIST) {
					(void)str_printf(name, sizeof(name),
					    "%sCount", k->name);
					CHECKF(etc_mentions(buf_cstr(&b),
					    s->name, name), "%s: %s", f->name,
					    name);
					(void)str_printf(name, sizeof(name),
					    "%s0", k->name);
				} else
					str_lcpy(name, k->name, sizeof(name));
				CHECKF(etc_mentions(buf_cstr(&b), s->name,
				    name), "etc/%s [%s] does not mention %s",
				    f->name, s->name, name);
			}
		}
		buf_free(&b);
		free(path);
	}
	CHECK(d.nitems == 0);
	diag_free(&d);
}

/* [Routes]: parsing, errors with their line, and the lookup order. */
static void
t_routes(void)
{
	static const char body[] = "[Routes]\n"
	    "example.com = maildir:mail\n"
	    ".example.com = relay.example:2525\n"
	    "deep.sub.example.com = [2001:db8::1]:26 tls=verify\n"
	    "example.net = 192.0.2.1 TLS=none\n";
	static const struct {
		const char	*body, *diag;
	} bad[] = {
		{ "[Routes]\nexa_mple.com = h\n", "tsmtpd.ini:2: exa_mple.com: "
		    "\"exa_mple.com\" is not a domain" },
		{ "[Routes]\nexample.com =\n", "tsmtpd.ini:2: example.com: "
		    "missing next hop" },
		{ "[Routes]\nexample.com = h:0\n", "tsmtpd.ini:2: example.com: "
		    "port" },
		{ "[Routes]\nexample.com = h tls=maybe\n", "tsmtpd.ini:2: "
		    "example.com: tls= takes none, may, encrypt or verify" },
		{ "[Routes]\nexample.com = maildir:\n", "tsmtpd.ini:2: "
		    "example.com: maildir: needs a directory" },
		{ "[Routes]\nexample.com = maildir:/m tls=may\n",
		    "tsmtpd.ini:2: example.com: unknown option" },
		{ "[Routes]\nexample.com = h\nEXAMPLE.COM = i\n",
		    "tsmtpd.ini:3: " },
	};
	struct sekisho_conf	 c;
	struct diag		 d;
	const struct conf_route	*r;
	char			 dir[64];
	size_t			 i;

	CHECK(load_one("tsmtpd.ini", body, &c, &d, dir, sizeof(dir)) == 0);
	CHECK_INTEQ(d.nwarnings + d.nerrors, 0);
	diag_free(&d);
	CHECK_INTEQ(c.tsmtpd.routes.n, 4);
	r = conf_route_find(&c.tsmtpd.routes, "example.com");
	CHECK(r != NULL && r->kind == CONF_ROUTE_MAILDIR && r->line == 2);
	if (r != NULL && r->path != NULL) {
		CHECK(r->path[0] == '/');
		CHECK(strstr(r->path, "/mail") != NULL);
	}
	r = conf_route_find(&c.tsmtpd.routes, "a.example.com");
	CHECK(r != NULL && r->kind == CONF_ROUTE_SMTP && r->port == 2525 &&
	    r->tls == -1 && strcmp(r->host, "relay.example") == 0);
	r = conf_route_find(&c.tsmtpd.routes, "x.deep.sub.example.com");
	CHECK(r != NULL && r->port == 2525);	/* .example.com, not deep */
	r = conf_route_find(&c.tsmtpd.routes, "DEEP.sub.example.com");
	CHECK(r != NULL && r->tls == CONF_TLS_VERIFY && r->port == 26 &&
	    strcmp(r->host, "2001:db8::1") == 0);
	r = conf_route_find(&c.tsmtpd.routes, "example.net");
	CHECK(r != NULL && r->tls == CONF_TLS_NONE && r->port == 25);
	CHECK(conf_route_find(&c.tsmtpd.routes, "example.org") == NULL);
	CHECK(conf_route_find(&c.tsmtpd.routes, "notexample.com") == NULL);
	CHECK_INTEQ(c.tsmtpd.tls_policy, CONF_TLS_MAY);
	CHECK_INTEQ(c.tsmtpd.queue_lifetime_hours, 120);
	conf_free(&c);
	for (i = 0; i < nitems(bad); i++) {
		CHECKF(load_one("tsmtpd.ini", bad[i].body, &c, &d, dir,
		    sizeof(dir)) == -1, "%s", bad[i].body);
		CHECKF(diag_find(&d, bad[i].diag) != NULL, "%s: want %s",
		    bad[i].body, bad[i].diag);
		diag_free(&d);
	}
}

TEST_MAIN(t_keys, t_load_errors, t_schema, t_etc, t_routes)
