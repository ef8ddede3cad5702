"""The IP profiler's DNSBL responder from the outside (issue 8, "dig
against the DNS responder"; docs/ipprofiler.md, "DNS responder"):
sekisho-ipprofiler serves its block list as the zone bl.test on a free
loopback port, and dig asks it over UDP and TCP: listed, not listed
(NXDOMAIN), IPv6 listed, the 127.0.0.2 test entry, the TXT reason, a
network, a reason from blocked_list_file; a burst of malformed
datagrams and TCP garbage leaves it answering; a block added with
`sekishoctl ipprofiler block` appears in DNS and goes again with unblock.
"""

import ipaddress
import os
import random
import re
import shutil
import socket
import subprocess
import time
import unittest

from harness import BIN, SuiteTestCase, free_port, wait_for

ZONE = "bl.test"
BLOCKED = "192.0.2.9, 2001:db8::7, 198.51.100.0/24"


def qname(addr, zone=ZONE):
    """The DNSBL name of an address: reversed octets or nibbles + zone."""
    rev = ipaddress.ip_address(addr).reverse_pointer
    return re.sub(r"\.(in-addr|ip6)\.arpa$", "", rev) + "." + zone


@unittest.skipUnless(os.access(os.path.join(BIN, "sekisho-ipprofiler"),
                               os.X_OK),
                     "sekisho-ipprofiler is not built yet")
@unittest.skipUnless(shutil.which("dig"), "dig is not installed "
                     "(bind9-dnsutils)")
class IppDnsCase(SuiteTestCase):

    def setUp(self):
        super().setUp()
        self.port = free_port()

    def start(self, **settings):
        kw = dict(dns_port=self.port, dns_zone=ZONE, blocked_ips=BLOCKED)
        kw.update(settings)
        self.ipp = self.suite.start_ipprofiler(**kw)
        return self.ipp

    def dig(self, name, rtype="A", tcp=False):
        """(status, [answer rdata]) of one dig query; the rdata of TXT
        without its quotes."""
        cmd = ["dig", "@127.0.0.1", "-p", str(self.port), "+tries=1",
               "+time=3", "+noall", "+comments", "+answer", name, rtype]
        if tcp:
            cmd.append("+tcp")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        m = re.search(r"status: (\w+)", r.stdout)
        if r.returncode != 0 or m is None:
            return "no answer (dig exit %d: %s)" % (
                r.returncode, (r.stdout + r.stderr).strip()[-300:]), []
        data = []
        for ln in r.stdout.splitlines():
            if not ln.strip() or ln.startswith(";"):
                continue
            f = ln.split(None, 4)
            if len(f) == 5 and f[3] == rtype:
                data.append(f[4].strip('"') if rtype == "TXT" else f[4])
        return m.group(1), data

    def assertListed(self, addr, reason=None, tcp=False):
        how = "tcp" if tcp else "udp"
        st, a = self.dig(qname(addr), "A", tcp)
        self.assertEqual((st, a), ("NOERROR", ["127.0.0.2"]),
                         "%s A over %s" % (addr, how))
        st, t = self.dig(qname(addr), "TXT", tcp)
        self.assertEqual(st, "NOERROR", "%s TXT over %s" % (addr, how))
        self.assertEqual(len(t), 1, t)
        if reason is not None:
            self.assertEqual(t[0], reason, "%s TXT over %s" % (addr, how))
        return t[0]

    def assertNotListed(self, addr, tcp=False):
        for rtype in ("A", "TXT"):
            st, a = self.dig(qname(addr), rtype, tcp)
            self.assertEqual((st, a), ("NXDOMAIN", []),
                             "%s %s over %s" % (addr, rtype,
                                                "tcp" if tcp else "udp"))

    def ctl(self, *args):
        s = self.suite
        r = s.run("sekishoctl", "-c", s.confdir, "ipprofiler", *args)
        self.assertEqual(r.returncode, 0, "sekishoctl ipprofiler %s: %s%s"
                         % (" ".join(args), r.stdout, r.stderr))
        return r.stdout


class TestIppDnsAnswers(IppDnsCase):

    def test_listed_ipv4_a_and_txt_reason_over_udp_and_tcp(self):
        self.start()
        for tcp in (False, True):
            self.assertListed("192.0.2.9", "listed in blocked_ips", tcp)

    def test_not_listed_is_nxdomain_over_udp_and_tcp(self):
        self.start()
        for tcp in (False, True):
            self.assertNotListed("192.0.2.10", tcp)
            self.assertNotListed("2001:db8::8", tcp)

    def test_ipv6_listed_over_udp_and_tcp(self):
        self.start()
        for tcp in (False, True):
            self.assertListed("2001:db8::7", "listed in blocked_ips", tcp)

    def test_network_lists_every_address_in_it(self):
        self.start()
        self.assertListed("198.51.100.77", "listed in blocked_ips")
        self.assertListed("198.51.100.0")
        self.assertNotListed("198.51.101.1")

    def test_rfc5782_test_entry_127_0_0_2_is_always_listed(self):
        # With nothing blocked at all, too.
        self.start(blocked_ips="")
        for tcp in (False, True):
            self.assertListed("127.0.0.2", tcp=tcp)
        # 127.0.0.1 is not (RFC 5782 section 5).
        self.assertNotListed("127.0.0.1")

    def test_txt_reason_from_blocked_list_file(self):
        path = os.path.join(self.suite.dir, "blocked.txt")
        with open(path, "w") as f:
            f.write("# a comment\n"
                    "203.0.113.50 spam trap hits since March\n"
                    "203.0.113.51\n"
                    "2001:db8:1::/48 hosting network\n")
        self.start(blocked_list_file=path)
        self.assertListed("203.0.113.50", "spam trap hits since March")
        self.assertListed("203.0.113.51")
        self.assertListed("2001:db8:1::99", "hosting network", tcp=True)
        self.assertListed("192.0.2.9", "listed in blocked_ips")

    def test_other_names_are_refused_and_apex_has_no_data(self):
        self.start()
        st, _ = self.dig("9.2.0.192.other.test")
        self.assertEqual(st, "REFUSED")
        st, _ = self.dig("x.2.0.192." + ZONE)
        self.assertEqual(st, "REFUSED")
        st, a = self.dig(ZONE)
        self.assertEqual((st, a), ("NOERROR", []))
        # A listed name, another type: no data.
        st, a = self.dig(qname("192.0.2.9"), "MX")
        self.assertEqual((st, a), ("NOERROR", []))

    def test_names_are_matched_without_regard_to_case(self):
        self.start()
        st, a = self.dig(qname("192.0.2.9").upper())
        self.assertEqual((st, a), ("NOERROR", ["127.0.0.2"]))


class TestIppDnsRobustness(IppDnsCase):

    def malformed_datagrams(self, n, seed=8):
        """n hostile datagrams: random bytes, bare headers, responses,
        compression loops, truncated questions, huge counts."""
        rnd = random.Random(seed)
        good = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                b"\x019\x012\x010\x03192\x02bl\x04test\x00\x00\x01\x00\x01")
        out = []
        for i in range(n):
            k = i % 8
            if k == 0:
                p = bytes(rnd.getrandbits(8)
                          for _ in range(rnd.randrange(0, 600)))
            elif k == 1:
                p = good[:rnd.randrange(0, len(good))]     # cut short
            elif k == 2:
                p = bytearray(good)
                p[2] |= 0x80                               # a response
                p = bytes(p)
            elif k == 3:
                # A name that points at itself.
                p = good[:12] + b"\xc0\x0c\x00\x01\x00\x01"
            elif k == 4:
                p = good[:4] + b"\xff\xff\xff\xff\xff\xff\xff\xff" + good[12:]
            elif k == 5:
                p = bytearray(good)
                for _ in range(3):
                    p[rnd.randrange(len(p))] = rnd.getrandbits(8)
                p = bytes(p)
            elif k == 6:
                p = good[:12] + b"\x3f" + b"a" * 63 * 5    # labels overrun
            else:
                p = b"\x00" * rnd.randrange(0, 12)         # runts
            out.append(p)
        return out

    def test_malformed_burst_udp_and_tcp_garbage_leave_it_answering(self):
        d = self.start()
        self.assertListed("192.0.2.9")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            for i, p in enumerate(self.malformed_datagrams(4000)):
                u.sendto(p, ("127.0.0.1", self.port))
                if i % 200 == 199:
                    time.sleep(0.005)
        conns = []
        try:
            # Garbage over TCP: an HTTP request, a length prefix longer
            # than what follows, a runt length, random bytes, and
            # connections that say nothing at all.
            for data in (b"GET / HTTP/1.0\r\n\r\n",
                         b"\xff\xff" + b"x" * 100,
                         b"\x00\x05abcde",
                         b"\x00\x20" + bytes(range(32)) * 4,
                         bytes(random.Random(3).getrandbits(8)
                               for _ in range(3000)),
                         b""):
                for _ in range(5):
                    c = socket.create_connection(("127.0.0.1", self.port),
                                                 timeout=5)
                    conns.append(c)
                    if data:
                        try:
                            c.sendall(data)
                        except OSError:
                            pass
            # Still answering, over both transports, while they are open.
            self.assertListed("192.0.2.9", "listed in blocked_ips")
            self.assertListed("2001:db8::7", tcp=True)
            self.assertNotListed("192.0.2.10", tcp=True)
        finally:
            for c in conns:
                c.close()
        self.assertTrue(d.running(), d.log()[-3000:])
        self.assertNotRegex(d.log(), r"lvl=(err|crit)")

    def test_tcp_connection_carries_several_queries(self):
        self.start()
        # dig +keepopen sends all its queries over one TCP connection.
        cmd = ["dig", "@127.0.0.1", "-p", str(self.port), "+tcp",
               "+keepopen", "+short", "+tries=1", "+time=3",
               qname("192.0.2.9"), "A", qname("192.0.2.9"), "TXT",
               qname("2001:db8::7"), "A", "2.0.0.127." + ZONE, "A"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split("\n")[:4],
                         ["127.0.0.2", '"listed in blocked_ips"',
                          "127.0.0.2", "127.0.0.2"], r.stdout)


class TestIppDnsFollowsBlocks(IppDnsCase):

    def test_sekishoctl_block_appears_in_dns_and_unblock_removes_it(self):
        self.start()
        self.assertNotListed("203.0.113.5")
        self.ctl("block", "203.0.113.5", "--reason", "manual test block")
        t0 = time.monotonic()
        wait_for(lambda: self.dig(qname("203.0.113.5"))[0] == "NOERROR",
                 10, step=0.1, what="203.0.113.5 in DNS after block")
        listed_after = time.monotonic() - t0
        self.assertListed("203.0.113.5", "manual test block")
        self.assertListed("203.0.113.5", "manual test block", tcp=True)
        # Permanent, a network, and IPv6.
        self.ctl("block", "203.0.113.128/25", "--perm")
        self.ctl("block", "2001:db8:2::5", "--minutes", "30", "--reason",
                 "v6 block")
        wait_for(lambda: self.dig(qname("2001:db8:2::5"))[0] == "NOERROR",
                 10, step=0.1, what="2001:db8:2::5 in DNS after block")
        self.assertListed("203.0.113.200")
        self.assertListed("2001:db8:2::5", "v6 block")
        self.ctl("unblock", "203.0.113.5")
        wait_for(lambda: self.dig(qname("203.0.113.5"))[0] == "NXDOMAIN",
                 10, step=0.1, what="203.0.113.5 gone from DNS after "
                 "unblock")
        self.assertNotListed("203.0.113.5", tcp=True)
        # The others stay.
        self.assertListed("203.0.113.200")
        self.assertListed("192.0.2.9", "listed in blocked_ips")
        self.assertLess(listed_after, 5.0)


if __name__ == "__main__":
    unittest.main()
