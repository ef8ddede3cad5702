"""Central controller pushing configuration to a scanner host (issue 9;
docs/central.md "Enrolment", "The push", "Hosts").

Two "hosts" on one machine, each a sekisho-manager with its own
configuration and data directories: the scanner host runs smtpd and the
scanner and accepts pushes on its own scanner_ip_addr 127.0.0.2 (seed
21); the controller runs no services (its bin directory is empty) and
pushes.  The host enrols with a certificate request, the controller
answers with an enrolment file, and from then on:

- a policy change published on the controller is applied on the host and
  changes how the host scans;
- a tampered, an unsigned and a foreign-key bundle pushed with the
  controller's own certificate are refused, the configuration unchanged;
- a client certificate from another authority, the host's own
  certificate, and no certificate are refused at the handshake;
- the host list shows each host's product and engine versions and last
  contact, and stays right when either side is upgraded or restarted
  (seed 31).
"""

import json
import os
import smtplib
import socket
import ssl
import struct
import threading
import time
import unittest

from harness import Suite, free_port, tree_digest, wait_for

HOST_IP = "127.0.0.2"
AGENT_INFO, AGENT_PUSH, AGENT_REPLY = 1, 2, 0x81

RULE = '''
[rule "central tag"]
direction = both
subject = pattern: CENTRAL-TAG
tag_subject = [central]
'''


def loopback_alias_ok():
    """127.0.0.2 is usable (Linux routes all of 127/8 to lo)."""
    try:
        with socket.socket() as s:
            s.bind((HOST_IP, 0))
        return True
    except OSError:
        return False


def frame(kind, payload):
    return struct.pack(">IB", len(payload) + 1, kind) + payload


def read_frame(sock):
    def exact(n):
        out = b""
        while len(out) < n:
            chunk = sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed")
            out += chunk
        return out
    length, = struct.unpack(">I", exact(4))
    body = exact(length)
    return body[0], body[1:]


def kv(payload):
    out = {}
    for line in payload.decode().splitlines():
        k, _, v = line.partition("=")
        out[k] = v
    return out


def digest(d):
    """What a bundle may change (the enrolment directories apart)."""
    return tree_digest(d, ("agent", "central"))


@unittest.skipUnless(loopback_alias_ok(), "127.0.0.2 not usable")
class CentralTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.host = Suite("sekisho-central-host-")
        cls.ctl = Suite("sekisho-central-ctl-")
        try:
            cls.configure()
            cls.copy_to_controller()
            cls.enrol()
            cls.start_host()
            # The ports the host's smtpd got at its start.
            cls.copy_to_controller()
            cls.start_controller()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        # Both, even when the first reports a sanitizer finding.
        try:
            cls.ctl.close()
        finally:
            cls.host.close()

    # ---- setting up ------------------------------------------------------

    @classmethod
    def configure(cls):
        h, c = cls.host, cls.ctl
        cls.md = os.path.join(h.dir, "maildir")
        cls.agent_port = free_port(host=HOST_IP)
        h.smtp_ports()
        h.set("tsmtpd.ini", "SmtpClient", "TlsPolicy", "none")
        h.set("tsmtpd.ini", "SmtpServer", "AcceptedDomains", "localhost")
        h.set("tsmtpd.ini", "Routes", "localhost", "maildir:" + cls.md)
        h.set("imss.ini", "imss_manager", "services", "smtpd, scanner")
        h.set("imss.ini", "general", "hostname", "scan1")
        h.set("imss.ini", "imss_manager", "scanner_ip_addr", HOST_IP)
        h.set("imss.ini", "imss_manager", "agent_port", str(cls.agent_port))
        cls.emptybin = os.path.join(c.dir, "bin")
        os.makedirs(cls.emptybin)

    @classmethod
    def copy_to_controller(cls):
        """The controller holds the host's configuration (its services
        are not installed in its empty bin directory), with its own
        paths and name."""
        h, c = cls.host, cls.ctl
        c.smtp_port, c.smtps_port = h.smtp_port, h.smtps_port
        for f in ("imss.ini", "tsmtpd.ini", "policy.ini", "foxdns.ini"):
            c.write(f, h.read(f))
        c.set("imss.ini", "general", "data_dir", c.data_dir)
        c.set("imss.ini", "general", "run_dir", c.run_dir)
        c.set("imss.ini", "general", "hostname", "central1")
        c.set("imss.ini", "imss_manager", "scanner_ip_addr", "")
        c.set("imss.ini", "imss_manager", "agent_port", "8446")

    @classmethod
    def run_ctl(cls, suite, *args, check=True):
        r = suite.run("sekishoctl", "-c", suite.confdir, *args, timeout=180)
        if check and r.returncode != 0:
            raise AssertionError("sekishoctl %s: %d\n%s%s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    @classmethod
    def enrol(cls):
        cls.run_ctl(cls.ctl, "central", "init", "--name", "central1")
        req = os.path.join(cls.host.dir, "scan1.req")
        cls.run_ctl(cls.host, "agent", "request", "-o", req)
        with open(req) as f:
            cls.request_text = f.read()
        enr = os.path.join(cls.ctl.dir, "scan1.enrol")
        cls.run_ctl(cls.ctl, "central", "host", "add", req, "-o", enr)
        cls.run_ctl(cls.host, "agent", "enrol", enr)

    @classmethod
    def start_host(cls):
        cls.host.start_manager()
        wait_for(lambda: "event=agent-listening" in cls.host.manager.log(),
                 10, what="agent listening")

    @classmethod
    def start_controller(cls):
        cls.ctl.start_manager(bindir=cls.emptybin)

    # ---- helpers ---------------------------------------------------------

    def sync(self):
        r = self.run_ctl(self.ctl, "--json", "central", "sync", check=False)
        entries = [json.loads(l.strip().rstrip(","))
                   for l in r.stdout.splitlines()
                   if l.strip().startswith("{")]
        return r, {e["host"]: e for e in entries if "host" in e}

    def hosts(self):
        r = self.run_ctl(self.ctl, "central", "hosts", "--json")
        return json.loads(r.stdout)

    def send(self, subject):
        c = smtplib.SMTP("127.0.0.1", self.host.smtp_port, timeout=30)
        try:
            c.sendmail("alice@example.org", ["bob@localhost"],
                       "Subject: %s\r\nFrom: alice@example.org\r\n"
                       "Message-ID: <%s@t>\r\n\r\nhello\r\n"
                       % (subject, time.time_ns()))
        finally:
            c.quit()

    def delivered_subject(self, marker):
        d = os.path.join(self.md, "bob@localhost", "new")

        def find():
            for n in os.listdir(d) if os.path.isdir(d) else []:
                with open(os.path.join(d, n), "rb") as f:
                    data = f.read()
                if marker.encode() in data:
                    return data.split(b"\r\nSubject: ")[1].split(b"\r\n")[0]
            return None
        wait_for(find, 30, what="message %s delivered" % marker)
        return find().decode()

    def cdir(self, suite, *p):
        return os.path.join(suite.confdir, *p)

    def tls_context(self, cert, key, ca=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.check_hostname = False
        if ca is None:
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx.load_verify_locations(ca)
        if cert is not None:
            ctx.load_cert_chain(cert, key)
        return ctx

    def controller_context(self):
        return self.tls_context(
            self.cdir(self.ctl, "central", "controller.crt"),
            self.cdir(self.ctl, "central", "controller.key"),
            self.cdir(self.ctl, "central", "ca.crt"))

    def agent_request(self, ctx, kind, payload=b""):
        with socket.create_connection((HOST_IP, self.agent_port),
                                      timeout=20) as raw:
            with ctx.wrap_socket(raw) as s:
                s.sendall(frame(kind, payload))
                t, p = read_frame(s)
                self.assertEqual(t, AGENT_REPLY)
                return kv(p)

    def refused_at_handshake(self, ctx):
        """The host ends the connection before answering anything."""
        before = self.host.manager.log().count("event=agent-refused")
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            self.agent_request(ctx, AGENT_INFO)
        wait_for(lambda: self.host.manager.log().count(
            "event=agent-refused") > before, 10, what="refusal logged")

    # ---- tests -------------------------------------------------------------

    def test_1_enrolment_uses_scanner_ip_addr(self):
        """Seed 21: the request carries the host's scanner_ip_addr, the
        controller registers it, and the host's manager listens there."""
        self.assertIn("address=%s\n" % HOST_IP, self.request_text)
        self.assertIn("port=%d\n" % self.agent_port, self.request_text)
        with open(self.cdir(self.ctl, "central", "hosts")) as f:
            reg = [l.split() for l in f if not l.startswith("#")
                   and l.strip()]
        self.assertEqual([(r[0], r[1], r[2]) for r in reg],
                         [("scan1", HOST_IP, str(self.agent_port))])
        self.assertEqual(os.stat(self.cdir(self.host, "agent", "agent.key"))
                         .st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(self.cdir(self.ctl, "central", "ca.key"))
                         .st_mode & 0o777, 0o600)
        # Nothing listens on the other loopback address.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.agent_port), 2)

    def test_2_policy_change_reaches_the_host(self):
        r, res = self.sync()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(res["scan1"]["result"], "ok")
        self.send("CENTRAL-TAG before")
        self.assertEqual(self.delivered_subject("before"),
                         "CENTRAL-TAG before")
        before = digest(self.host.confdir)
        self.ctl.set_rules(RULE)
        r = self.run_ctl(self.ctl, "--json", "central", "publish",
                         check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr +
                         self.host.manager.log()[-3000:])
        res = json.loads([l.strip().rstrip(",")
                          for l in r.stdout.splitlines()
                          if l.strip().startswith("{")][0])
        self.assertEqual(res["result"], "applied", res)
        published = self.hosts()["published"]
        self.assertEqual(res["info"]["applied_version"], str(published))
        self.assertNotEqual(digest(self.host.confdir), before)
        self.assertIn('[rule "central tag"]',
                      self.host.read("policy.ini"))
        # The host kept its own address, port and name (seed 21).
        imss = self.host.read("imss.ini")
        self.assertIn("scanner_ip_addr=%s" % HOST_IP, imss)
        self.assertIn("agent_port=%d" % self.agent_port, imss)
        self.assertIn("hostname=scan1", imss)
        log = self.host.manager.log()
        self.assertIn("event=bundle-applied", log)
        self.assertRegex(log, r"event=reloaded restart=\S+ hup=\S*scanner")
        # The scanner reloads on SIGHUP: the next message is tagged.
        wait_for(lambda: "event=reloaded" in
                 self.host.service_log("scanner"), 10, what="scanner reload")
        self.send("CENTRAL-TAG after")
        self.assertEqual(self.delivered_subject("after"),
                         "[central] CENTRAL-TAG after")
        # A second sync has nothing to push.
        r, res = self.sync()
        self.assertEqual(res["scan1"]["result"], "ok")

    def test_3_bad_bundles_are_refused(self):
        ctx = self.controller_context()
        before = digest(self.host.confdir)
        info = self.agent_request(ctx, AGENT_INFO)
        applied = int(info["applied_version"])
        # A valid bundle of a newer version, made the way publish does.
        out = os.path.join(self.ctl.dir, "probe.bundle")
        self.run_ctl(self.ctl, "config", "bundle", "create", "--key",
                     self.cdir(self.ctl, "central", "bundle.key"),
                     "--version", str(applied + 1000), "-o", out)
        with open(out, "rb") as f:
            good = f.read()
        # Tampered: one byte inside the signed part.
        i = good.index(b"[general]")
        tampered = good[:i] + b"[General]" + good[i + 9:]
        r = self.agent_request(ctx, AGENT_PUSH, tampered)
        self.assertEqual(r["result"], "refused")
        self.assertIn("bad signature", r["error"])
        # Unsigned: the signature cut off.
        r = self.agent_request(ctx, AGENT_PUSH, good[:-66])
        self.assertEqual(r["result"], "refused")
        self.assertIn("unsigned", r["error"])
        # Signed by another key.
        other = os.path.join(self.ctl.dir, "otherkeys")
        self.run_ctl(self.ctl, "config", "keygen", other)
        out2 = os.path.join(self.ctl.dir, "other.bundle")
        self.run_ctl(self.ctl, "config", "bundle", "create", "--key",
                     os.path.join(other, "bundle.key"), "--version",
                     str(applied + 1000), "-o", out2)
        with open(out2, "rb") as f:
            r = self.agent_request(ctx, AGENT_PUSH, f.read())
        self.assertEqual(r["result"], "refused")
        self.assertIn("unknown key", r["error"])
        # Garbage and an empty push.
        for junk in (b"", b"\0" * 100, os.urandom(5000)):
            r = self.agent_request(ctx, AGENT_PUSH, junk)
            self.assertEqual(r["result"], "refused")
        self.assertEqual(digest(self.host.confdir), before)
        self.assertEqual(self.agent_request(ctx, AGENT_INFO)
                         ["applied_version"], str(applied))
        # A malformed frame ends the connection; the host stays up.
        with socket.create_connection((HOST_IP, self.agent_port), 10) as raw:
            with ctx.wrap_socket(raw) as s:
                s.sendall(struct.pack(">IB", 0xFFFFFFF0, AGENT_PUSH))
                self.assertEqual(s.recv(10), b"")
        self.assertEqual(self.agent_request(ctx, AGENT_INFO)
                         ["applied_version"], str(applied))

    def test_4_unknown_client_certificates_are_refused(self):
        # Another controller's authority.
        other = Suite("sekisho-central-other-")
        try:
            self.run_ctl(other, "central", "init", "--name", "rogue")
            rogue = self.tls_context(
                self.cdir(other, "central", "controller.crt"),
                self.cdir(other, "central", "controller.key"))
            self.refused_at_handshake(rogue)
        finally:
            other.close()
        # The host's own certificate (issued for servers, not clients).
        self.refused_at_handshake(self.tls_context(
            self.cdir(self.host, "agent", "agent.crt"),
            self.cdir(self.host, "agent", "agent.key")))
        # No certificate at all.
        self.refused_at_handshake(self.tls_context(None, None))
        self.assertIn("stage=handshake", self.host.manager.log())
        # The controller's own still works.
        self.assertIn("applied_version",
                      self.agent_request(self.controller_context(),
                                         AGENT_INFO))

    def test_5_host_list_shows_versions_across_upgrades(self):
        """Seed 31: product and engine versions and last contact, also
        after either side is upgraded or restarted."""
        version = self.run_ctl(self.host, "version").stdout.split()[1]
        r, res = self.sync()
        self.assertEqual(res["scan1"]["result"], "ok", res)
        h, = self.hosts()["hosts"]
        self.assertEqual(h["host"], "scan1")
        self.assertEqual(h["address"], HOST_IP)
        self.assertEqual(h["port"], self.agent_port)
        self.assertGreater(h["registered"], 0)
        self.assertLessEqual(abs(h["last_contact"] - time.time()), 60)
        self.assertEqual(h["info"]["product"], version)
        self.assertEqual(h["info"]["name"], "scan1")
        self.assertEqual(h["info"]["scanner"], "running")
        self.assertEqual(h["info"]["scanner_version"], version)
        self.assertEqual(h["info"]["av_engine"], "off")
        table = self.run_ctl(self.ctl, "central", "hosts").stdout
        self.assertRegex(table, r"scan1\s+%s:%d\s+\S+ ago\s+ok\s+"
                         % (HOST_IP.replace(".", r"\."), self.agent_port))

        # The host upgraded: an agent that reports another product
        # version, a key this controller does not know, and none of the
        # engine keys.  It presents the host's registered certificate.
        self.host.manager.stop()
        srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        srv.minimum_version = ssl.TLSVersion.TLSv1_3
        srv.load_cert_chain(self.cdir(self.host, "agent", "agent.crt"),
                            self.cdir(self.host, "agent", "agent.key"))
        srv.load_verify_locations(self.cdir(self.host, "agent", "ca.crt"))
        srv.verify_mode = ssl.CERT_REQUIRED
        applied = h["info"]["applied_version"]
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        wait_for(lambda: self._bind(lsock), 10, what="agent port free")
        lsock.listen(1)

        def serve():
            conn, _ = lsock.accept()
            with srv.wrap_socket(conn, server_side=True) as s:
                t, _ = read_frame(s)
                s.sendall(frame(AGENT_REPLY, (
                    "proto=2\nname=scan1\nproduct=99.1.0\n"
                    "applied_version=%s\nfuture_engine=quantum 3\n"
                    % applied).encode()))
                try:
                    read_frame(s)
                except (ConnectionError, ssl.SSLError, OSError):
                    pass
        t = threading.Thread(target=serve)
        t.start()
        try:
            r, res = self.sync()
        finally:
            t.join(30)
            lsock.close()
        self.assertEqual(res["scan1"]["result"], "ok", res)
        h2, = self.hosts()["hosts"]
        self.assertEqual(h2["info"]["product"], "99.1.0")
        self.assertEqual(h2["info"]["future_engine"], "quantum 3")
        self.assertNotIn("av_engine", h2["info"])     # not stale
        self.assertGreaterEqual(h2["last_contact"], h["last_contact"])

        # The real host is back (downgrade): its own versions again.
        self.host.start_manager()
        wait_for(lambda: self.host.manager.log().count(
            "event=agent-listening") >= 1, 10)
        r, res = self.sync()
        self.assertEqual(res["scan1"]["result"], "ok", res)
        h3, = self.hosts()["hosts"]
        self.assertEqual(h3["info"]["product"], version)
        self.assertNotIn("future_engine", h3["info"])

        # The controller restarted (upgraded): the list is the same.
        self.ctl.manager.stop()
        self.assertEqual(self.hosts()["hosts"][0]["info"], h3["info"])
        self.start_controller()
        r, res = self.sync()
        self.assertEqual(res["scan1"]["result"], "ok", res)
        self.assertEqual(self.hosts()["hosts"][0]["info"]["product"],
                         version)

    def test_6_unreachable_host_is_reported(self):
        """A registered host that does not answer: the sync says so and
        fails; the list keeps what the host said last."""
        req = os.path.join(self.host.dir, "ghost.req")
        ghost = Suite("sekisho-central-ghost-")
        try:
            ghost.set("imss.ini", "imss_manager", "scanner_ip_addr",
                      "127.0.0.3")
            ghost.set("imss.ini", "imss_manager", "agent_port",
                      str(free_port(host="127.0.0.3")))
            self.run_ctl(ghost, "agent", "request", "--name", "ghost",
                         "-o", req)
            self.run_ctl(self.ctl, "central", "host", "add", req, "-o",
                         os.path.join(self.ctl.dir, "ghost.enrol"))
            r, res = self.sync()
            self.assertEqual(r.returncode, 1)
            self.assertEqual(res["ghost"]["result"], "unreachable")
            self.assertEqual(res["ghost"]["error"], "Connection refused")
            self.assertEqual(res["scan1"]["result"], "ok")
            table = self.run_ctl(self.ctl, "central", "hosts").stdout
            self.assertRegex(table, r"ghost\s+127\.0\.0\.3:\d+\s+never\s+"
                             r"unreachable")
            # Registered twice: refused.
            r = self.run_ctl(self.ctl, "central", "host", "add", req,
                             check=False)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("already registered", r.stderr)
        finally:
            self.run_ctl(self.ctl, "central", "host", "remove", "ghost")
            ghost.close()
        r, res = self.sync()
        self.assertEqual(sorted(res), ["scan1"])

    def test_7_usage(self):
        for args in (("central",), ("central", "bogus"), ("agent",),
                     ("central", "host", "add"), ("agent", "enrol")):
            r = self.run_ctl(self.ctl, *args, check=False)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("usage:", r.stderr)
        r = self.run_ctl(self.ctl, "central", "init", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("exists", r.stderr)

    @staticmethod
    def _bind(s):
        try:
            s.bind((HOST_IP, CentralTest.agent_port))
            return True
        except OSError:
            return False


if __name__ == "__main__":
    unittest.main()
