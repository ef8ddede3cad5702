"""Delivery policies through the daemon: TLS towards next hops, MX
fallback and null MX, delay warnings and expiry, non-ASCII reports,
crash safety of the whole daemon, and Postfix's smtp-sink downstream."""

import email
import email.header
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import unittest

from harness import free_port, is_root, tls_pair, wait_for
from smtpsink import Sink
from test_delivery import DeliveryCase


class TestTlsPolicy(DeliveryCase):
    def test_starttls_may_encrypts_when_offered(self):
        sink = self.sink(tls=tls_pair())
        self.start_delivery({"example.test": "127.0.0.1:%d" % sink.port},
                            TlsPolicy="may")
        self.submit("alice@sender.test", ["bob@example.test"])
        tx = sink.wait_messages(1)[0]
        self.assertTrue(tx.tls, "delivered over TLS")

    def test_verify_refuses_untrusted_certificate_and_defers(self):
        sink = self.sink(tls=tls_pair())
        self.start_delivery({"example.test": "127.0.0.1:%d tls=verify" %
                             sink.port}, RetryMinSeconds=60)
        self.submit("alice@sender.test", ["bob@example.test"])
        wait_for(lambda: "event=deferred" in self.suite.smtpd.log(), 20,
                 what="a deferral")
        self.assertEqual(sink.messages, [])
        log = self.suite.smtpd.log()
        self.assertRegex(log, r"event=deferred .*dsn=4\.7\.")

    def test_encrypt_defers_when_starttls_not_offered(self):
        sink = self.sink()
        self.start_delivery({"example.test": "127.0.0.1:%d tls=encrypt" %
                             sink.port}, RetryMinSeconds=60)
        self.submit("alice@sender.test", ["bob@example.test"])
        wait_for(lambda: "event=deferred" in self.suite.smtpd.log(), 20,
                 what="a deferral")
        self.assertEqual(sink.messages, [])


def spool_owner():
    try:
        pw = pwd.getpwnam("_sekisho-queue")
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        return None


class TestQueueAging(DeliveryCase):
    """Messages that have waited long: written into the spool directly."""

    QID = "0000000000000a01"

    def plant(self, hours_ago, sender="alice@sender.test",
              rcpt="bob@example.test"):
        """Stop the daemon, put an old message into queue/, restart."""
        self.suite.stop_smtpd()
        q = self.suite.spool("queue")
        content = (b"Received: from old.test\r\nSubject: old message\r\n"
                   b"\r\nwaited a long time\r\n")
        env = ("sekisho-envelope 1\nid %s\nreceived %d\nsender %s\n"
               "size %d\nrcpt %s 0 -\nend\n" % (
                   self.QID, int(time.time() - hours_ago * 3600), sender,
                   len(content), rcpt))
        for name, data in ((".msg", content), (".env", env.encode())):
            path = os.path.join(q, self.QID + name)
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o600)
            if is_root() and spool_owner():
                os.chown(path, *spool_owner())
        self.suite.start_smtpd()

    def setup_aging(self, **client):
        sink = self.sink()
        dead = free_port()
        self.start_delivery({"example.test": "127.0.0.1:%d" % dead,
                             "sender.test": "127.0.0.1:%d" % sink.port},
                            **client)
        return sink

    def test_delay_warning_sent_once(self):
        sink = self.setup_aging(DelayWarningHours=1, RetryMinSeconds=1)
        self.plant(2)
        msgs = sink.wait_messages(1)
        self.assertEqual(msgs[0].mail_from, "<>")
        self.assertEqual(msgs[0].rcpt_to, ["alice@sender.test"])
        text = msgs[0].data.decode("utf-8", "replace")
        self.assertIn("Action: delayed", text)
        self.assertIn("bob@example.test", text)
        # More attempts follow; the warning is not repeated.
        wait_for(lambda: self.suite.smtpd.log().count("event=deferred")
                 >= 3, 20, what="three attempts")
        self.assertEqual(len(sink.messages), 1)
        env = os.path.join(self.suite.spool("queue"), self.QID + ".env")
        with open(env) as f:
            self.assertIn("warned 1\n", f.read())

    def test_expired_message_bounced_and_removed(self):
        sink = self.setup_aging(QueueLifetimeHours=1)
        self.plant(3)
        msgs = sink.wait_messages(1)
        text = msgs[0].data.decode("utf-8", "replace")
        self.assertIn("Action: failed", text)
        self.assertIn("Status: 4.4.7", text)
        self.assertEqual(msgs[0].rcpt_to, ["alice@sender.test"])
        self.assertQueueEmpty()


class TestReports(DeliveryCase):
    def test_seed07_japanese_report_is_encoded(self):
        sink = self.sink()
        sink.rcpt_reply = lambda a, n: "550 5.1.1 unknown" \
            if a.startswith("bad@") else None
        subject = "配信できませんでした"
        text = "送信したメッセージを配信できませんでした。"
        self.suite.set("tsmtpd.ini", "SmtpClient", "FailNotifyMsgSubject",
                       subject)
        self.suite.set("tsmtpd.ini", "SmtpClient", "FailNotifMsg", text)
        port = sink.port
        self.start_delivery({"example.test": "127.0.0.1:%d" % port,
                             "sender.test": "127.0.0.1:%d" % port})
        self.submit("alice@sender.test", ["bad@example.test"])
        ndr = sink.wait_messages(1)[0]
        raw = ndr.data
        self.assertTrue(all(b < 0x80 for b in raw.split(b"\r\n\r\n")[0]),
                        "headers are 7-bit")
        msg = email.message_from_bytes(raw)
        got = str(email.header.make_header(
            email.header.decode_header(msg["Subject"])))
        self.assertEqual(got, subject)
        part = next(p for p in msg.walk()
                    if p.get_content_type() == "text/plain")
        self.assertEqual(part.get_content_charset(), "utf-8")
        self.assertIn(text, part.get_payload(decode=True).decode("utf-8"))


class TestCrash(DeliveryCase):
    def test_whole_daemon_killed_mid_delivery_loses_nothing(self):
        sink = self.sink()

        def slow(n):
            if n == 1:
                time.sleep(3)
            return None
        sink.data_reply = slow
        self.start_delivery({"example.test": "127.0.0.1:%d" % sink.port},
                            RetryMinSeconds=1)
        for i in range(3):
            self.submit("alice@sender.test", ["r%d@example.test" % i])
        wait_for(lambda: sink._data_calls >= 1, 15, what="DATA at the sink")
        os.killpg(self.suite.smtpd.pid, signal.SIGKILL)
        self.suite.smtpd.wait_exit(10)
        self.suite.start_smtpd()
        wait_for(lambda: {r for m in sink.messages for r in m.rcpt_to} >=
                 {"r0@example.test", "r1@example.test", "r2@example.test"},
                 40, what="every recipient delivered after the restart")
        self.assertQueueEmpty(30)


@unittest.skipUnless(shutil.which("dnsmasq") and is_root(),
                     "needs dnsmasq and root (next hops on port 25)")
class TestMxFallback(DeliveryCase):
    def dnsmasq(self, records):
        port = free_port(socket.AF_INET)
        p = subprocess.Popen(
            ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
             "--no-resolv", "--no-hosts", "--listen-address=127.0.0.1",
             "--bind-interfaces", "--port=%d" % port, "--local=/test/",
             "--user=root"] + records,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (p.kill(), p.wait()))
        time.sleep(0.3)
        return port

    def test_domain_without_mx_gets_its_own_address(self):
        try:
            sink = Sink(host="127.0.0.21", port=25).start()
        except OSError as e:
            self.skipTest("port 25 on 127.0.0.21: %s" % e)
        self.addCleanup(sink.stop)
        port = self.dnsmasq(["--host-record=nomx.test,127.0.0.21"])
        self.start_delivery({}, DnsServers="127.0.0.1:%d" % port)
        self.submit("alice@sender.test", ["bob@nomx.test"])
        self.assertEqual(sink.wait_messages(1)[0].rcpt_to, ["bob@nomx.test"])

    def test_null_mx_fails_at_once(self):
        sink = self.sink()
        port = self.dnsmasq(["--mx-host=nullmx.test,.,0",
                             "--host-record=nullmx.test,127.0.0.22"])
        self.start_delivery({"sender.test": "127.0.0.1:%d" % sink.port},
                            DnsServers="127.0.0.1:%d" % port)
        self.submit("alice@sender.test", ["bob@nullmx.test"])
        ndr = sink.wait_messages(1)[0]
        text = ndr.data.decode("utf-8", "replace")
        self.assertIn("Status: 5.1.10", text)
        self.assertIn("bob@nullmx.test", text)
        self.assertQueueEmpty()


@unittest.skipUnless(os.path.exists("/usr/sbin/smtp-sink"),
                     "needs Postfix's smtp-sink (package postfix)")
class TestPostfixSink(DeliveryCase):
    def test_delivery_to_postfix_smtp_sink(self):
        port = free_port()
        dump = os.path.join(self.suite.dir, "dump")
        os.makedirs(dump)
        args = ["/usr/sbin/smtp-sink", "-d", dump + "/%M."]
        if is_root():
            # smtp-sink refuses to run as root: it drops to this user.
            user = "postfix" if _has_user("postfix") else "nobody"
            shutil.chown(dump, user)
            args += ["-u", user]
        p = subprocess.Popen(args + ["127.0.0.1:%d" % port, "10"],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (p.kill(), p.wait()))
        wait_for(lambda: _port_open(port), 10, what="smtp-sink")
        self.start_delivery({"example.test": "127.0.0.1:%d" % port})
        self.submit("alice@sender.test", ["bob@example.test"])
        wait_for(lambda: os.listdir(dump), 20, what="a dump file")
        self.assertQueueEmpty()
        with open(os.path.join(dump, os.listdir(dump)[0]), "rb") as f:
            data = f.read()
        self.assertIn(b"alice@sender.test", data)
        self.assertIn(b"bob@example.test", data)
        self.assertIn(b"Subject: delivery test", data)


def _has_user(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
