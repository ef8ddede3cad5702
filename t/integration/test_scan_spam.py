"""Antispam through the daemons: the shipped rule package scores every
message, the policy's spam condition acts on the catch rates, verdict
headers on delivered mail, exemptions in any language (seed 12), sender
lists, and versioned rule packages installed and rolled back with
sekishoctl (seed 41).

sekisho-scanner and sekisho-smtpd run for real; mail goes over SMTP into
a Maildir or the quarantine store.
"""

import base64
import ctypes
import json
import os
import re
import pwd
import shutil
import signal
import smtplib
import socket
import subprocess
import time
import unittest
from email.header import Header

from harness import BUILD, free_port, is_root, wait_for
from test_scan_server import ScanServerCase

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

# One rule per catch rate, each for its own recipient.
LEVEL_RULES = '''
[rule "spam at the high catch rate"]
recipients = high@localhost
spam = high
intercept = quarantine spam-high

[rule "spam at the medium catch rate"]
recipients = medium@localhost
spam = medium
intercept = quarantine spam-medium

[rule "spam at the low catch rate"]
recipients = low@localhost
spam = low
intercept = quarantine spam-low

[rule "spam by score"]
recipients = score@localhost
spam = 10
intercept = quarantine spam-score
'''

LEVEL_RCPTS = ("high@localhost", "medium@localhost", "low@localhost",
               "score@localhost")

BUSINESS = (
    "Dear Ms. Tanaka,\r\n\r\n"
    "Thank you for your order of 12 May. As agreed, the two laptops will\r\n"
    "be shipped on Thursday and the invoice follows by post. Please let\r\n"
    "me know if the delivery address has changed.\r\n\r\n"
    "Kind regards,\r\nJohn Miller\r\nSales, Example Trading Ltd.\r\n")

# The shipped package scores this well past the low catch rate (9).
SPAMMY = (
    "Congratulations! You have won the lottery: the prize of $2.5 million\r\n"
    "is waiting. Act now and click here to claim, 100% guaranteed:\r\n"
    "http://192.0.2.7/claim\r\n"
    "Cheap viagra and cialis too. This is not spam.\r\n")


def message(subject, body, sender="alice@example.org",
            to="bob@localhost", extra=""):
    """A plain-text message (str, CRLF), with Date and Message-ID."""
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
            "Date: Sun, 29 Nov 2026 09:00:00 +0000\r\n"
            "Message-ID: <%d@example.org>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n%s\r\n%s"
            % (sender, to, subject, time.time_ns(), extra, body))


def japanese_message(subject, body, to="bob@localhost"):
    """ISO-2022-JP mail, the subject RFC 2047 encoded (bytes)."""
    subj = Header(subject, "iso-2022-jp").encode()
    return (("From: <sales@example.co.jp>\r\nTo: <%s>\r\nSubject: %s\r\n"
             "Date: Sun, 29 Nov 2026 09:00:00 +0900\r\n"
             "Message-ID: <%d@example.co.jp>\r\nMIME-Version: 1.0\r\n"
             "Content-Type: text/plain; charset=ISO-2022-JP\r\n"
             "Content-Transfer-Encoding: 7bit\r\n\r\n"
             % (to, subj, time.time_ns())).encode("ascii") +
            body.encode("iso-2022-jp").replace(b"\n", b"\r\n") + b"\r\n")


def header(mail, name):
    """The unfolded value of the first header name of mail (bytes)."""
    head = mail.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    m = re.search(r"^%s:[ \t]*([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)"
                  % re.escape(name), head, re.M | re.I)
    return re.sub(r"\r\n[ \t]+", " ", m.group(1)) if m else None


class SpamCase(ScanServerCase):
    """ScanServerCase with [antispam] on (the shipped package)."""

    def start_spam(self, rules=LEVEL_RULES, **antispam):
        s = self.suite
        s.set("policy.ini", "antispam", "enabled", "1")
        # No DNS here unless a test serves it (TestSpamDns).
        s.set("policy.ini", "antispam", "dns_lists", "0")
        s.set("policy.ini", "antispam", "sender_auth", "0")
        for k, v in antispam.items():
            s.set("policy.ini", "antispam", k, str(v))
        self.start(rules=rules)
        self.assertIn("event=antispam package=", s.scanner.log())

    def submit(self, raw, rcpts, sender="alice@example.org"):
        self.send(None, rcpts=rcpts, sender=sender, raw=raw)

    def scanned(self, rcpt, n=1):
        """The scanned records of rcpt, once there are n."""
        return wait_for(lambda: (lambda r: r if len(r) >= n else None)(
            self.log_query("--to", rcpt, "--event", "scanned")), 20,
            what="%d scan(s) for %s" % (n, rcpt))

    def held(self, area, n=1):
        return wait_for(lambda: (lambda q: q if len(q) >= n else None)(
            self.quarantined(area)), 20, what="%d in %s" % (n, area))


class TestSpamLevels(SpamCase):
    def test_gtube_is_spam_at_every_level_and_business_mail_is_not(self):
        self.start_spam()
        for r in LEVEL_RCPTS:
            self.submit(message("Hello", "Test: %s\r\n" % GTUBE, to=r), [r])
        for area in ("spam-high", "spam-medium", "spam-low", "spam-score"):
            self.held(area)
        for r in LEVEL_RCPTS:
            rec, = self.scanned(r)
            self.assertIn("GTUBE", rec["detail"])
            self.assertRegex(rec["detail"], r"spam=10\d\d\.\d")
            self.assertEqual(self.mailbox(r), [])
        # A plain business message is spam at no level: delivered, with
        # its score in the headers.
        for r in LEVEL_RCPTS:
            self.submit(message("Your order of 12 May", BUSINESS, to=r),
                        [r])
        for r in LEVEL_RCPTS:
            mail, = self.wait_mail(r)
            score = float(header(mail, "X-Sekisho-Spam-Score").split()[0])
            self.assertLess(score, 4.0, mail)
            self.assertIsNotNone(header(mail, "X-Sekisho-Spam-Rules"))
            self.assertIn(b"Subject: Your order of 12 May\r\n", mail)
            self.assertTrue(mail.endswith(BUSINESS.encode()))

    def test_levels_follow_the_score(self):
        """A message scored between the thresholds is spam at the high
        and medium catch rates only."""
        self.start_spam(level_high=2, level_medium=3, level_low=50)
        for r in LEVEL_RCPTS:
            self.submit(message("Offer", SPAMMY, to=r), [r])
        self.held("spam-high")
        self.held("spam-medium")
        low = self.mailbox_wait("low@localhost")
        score = float(header(low, "X-Sekisho-Spam-Score").split()[0])
        self.assertGreater(score, 10)       # "spam = 10" holds it too
        self.held("spam-score")
        self.assertIn("spam at medium and high catch rates",
                      header(low, "X-Sekisho-Spam-Score"))
        rules = header(low, "X-Sekisho-Spam-Rules")
        for r in ("BODY_LOTTERY", "BODY_ENHANCE", "URI_IP_HOST"):
            self.assertIn(r, rules)

    def mailbox_wait(self, rcpt):
        mail, = self.wait_mail(rcpt)
        return mail


class TestSpamHeaders(SpamCase):
    def test_forged_verdict_headers_are_replaced(self):
        self.start_spam(rules="")
        forged = ("X-Sekisho-Spam-Score: -100\r\n"
                  "X-Sekisho-Spam-Rules: TRUSTED,\r\n\tFORGED\r\n"
                  "x-sekisho-spam-flag: NO\r\n")
        raw = message("Hi", BUSINESS, extra=forged)
        self.submit(raw, ["bob@localhost"])
        mail, = self.wait_mail("bob@localhost")
        head = mail.split(b"\r\n\r\n", 1)[0]
        self.assertNotIn(b"-100", head)
        self.assertNotIn(b"FORGED", head)
        self.assertNotIn(b"x-sekisho-spam-flag", head.lower())
        self.assertEqual(head.count(b"X-Sekisho-Spam-Score:"), 1)
        # Everything else arrives as it was sent.
        self.assertIn(b"Subject: Hi\r\n", head)
        self.assertTrue(mail.endswith(BUSINESS.encode()))

    def test_no_headers_with_add_headers_0(self):
        self.start_spam(rules="", add_headers=0)
        raw = message("Hi", BUSINESS)
        self.submit(raw, ["bob@localhost"])
        mail, = self.wait_mail("bob@localhost")
        self.assertNotIn(b"X-Sekisho-Spam", mail)
        self.assertTrue(mail.endswith(raw.encode()))
        rec, = self.scanned("bob@localhost")
        self.assertRegex(rec["detail"], r"^spam=\d+\.\d")


class TestSpamExemptionsAndSenders(SpamCase):
    RULES = '''
[rule "迷惑メール"]
spam = medium
intercept = quarantine spam

[spam_exemption "取引先の見積書"]
subject = pattern: お見積り

[spam_senders]
approved = boss@partner.example
blocked = @spammer.example, *@*.bulk.example
'''

    def test_seed12_japanese_exemption_rule(self):
        """A Japanese exemption (name and pattern) exempts a Japanese
        message that the package scores as spam; the same spam without
        the exempted subject is held."""
        self.start_spam(rules=self.RULES)
        body = "未承諾広告 のご案内です。\n詳細は添付をご覧ください。"
        self.submit(japanese_message("未承諾広告 お見積りの件", body,
                                     to="a@localhost"), ["a@localhost"])
        self.submit(japanese_message("未承諾広告 セール", body,
                                     to="b@localhost"), ["b@localhost"])
        mail, = self.wait_mail("a@localhost")
        self.assertEqual(header(mail, "X-Sekisho-Spam-Score"), "exempt")
        rec, = self.scanned("a@localhost")
        self.assertEqual(rec["detail"], "spam: exempt (取引先の見積書)")
        self.assertEqual(rec["action"], "Passed sekisho scan")
        (qid, info), = self.held("spam").items()
        self.assertEqual(info["rule"], "迷惑メール")
        rec, = self.scanned("b@localhost")
        self.assertIn("SUBJ_JP_AD", rec["detail"])
        self.assertIn("BODY_JP_AD", rec["detail"])
        self.assertEqual(self.mailbox("b@localhost"), [])

    def test_approved_and_blocked_senders(self):
        self.start_spam(rules=self.RULES)
        self.submit(message("Offer", SPAMMY, sender="boss@partner.example",
                            to="c@localhost"), ["c@localhost"],
                    sender="boss@partner.example")
        self.submit(message("Lunch?", BUSINESS, sender="x@spammer.example",
                            to="d@localhost"), ["d@localhost"],
                    sender="x@spammer.example")
        self.submit(message("Lunch?", BUSINESS, sender="y@a.bulk.example",
                            to="e@localhost"), ["e@localhost"],
                    sender="y@a.bulk.example")
        mail, = self.wait_mail("c@localhost")
        self.assertEqual(header(mail, "X-Sekisho-Spam-Score"),
                         "approved sender")
        self.held("spam", 2)
        for r in ("d@localhost", "e@localhost"):
            rec, = self.scanned(r)
            self.assertEqual(rec["detail"], "spam: blocked sender")
            self.assertEqual(self.mailbox(r), [])

    def test_policy_errors_name_the_line(self):
        bad = '''
[spam_exemption "x"]
intercept = delete

[rule "y"]
spam = extreme

[spam_senders]
approved = not-an-address
'''
        self.suite.set_rules(bad)
        r = self.suite.run("sekisho-scanner", "-c", self.suite.confdir,
                           "-n")
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        out = r.stdout + r.stderr
        self.assertIn('"intercept" cannot be used in spam exemption', out)
        self.assertIn("spam: expected high, medium or low", out)
        self.assertIn('"not-an-address" is not an address pattern', out)


DNS_PKG = '''version 2.000
eval     IN_BL                dnsbl(bl.test)
score    IN_BL                5
eval     IN_ERR_LIST          dnsbl(err.test)
score    IN_ERR_LIST          50
eval     LINK_IN_URIBL        uribl(uribl.test)
score    LINK_IN_URIBL        7
'''


@unittest.skipUnless(shutil.which("dnsmasq"), "needs dnsmasq")
class TestSpamDns(SpamCase):
    """DNSBL and URIBL hits from test zones served on loopback: the client
    (127.0.0.1) is listed in bl.test; err.test answers Spamhaus's error
    code, which is no listing; www.evil.example's parent domain is listed
    in uribl.test."""

    RULES = '''
[rule "spam"]
spam = 10
intercept = quarantine spam
'''

    def test_dnsbl_and_uribl_hits_in_score_headers_and_policy(self):
        s = self.suite
        port = s.start_dnsmasq([
            "--host-record=1.0.0.127.bl.test,127.0.0.2",
            "--host-record=1.0.0.127.err.test,127.255.255.254",
            "--host-record=evil.example.uribl.test,127.0.0.2"])
        s.set("tsmtpd.ini", "SmtpClient", "DnsServers",
              "127.0.0.1:%d" % port)
        with open(os.path.join(s.confdir, "spamrules", "2.000.rules"),
                  "w") as f:
            f.write(DNS_PKG)
        self.start_spam(rules=self.RULES, dns_lists=1)
        self.submit(message("Plain", BUSINESS, to="a@localhost"),
                    ["a@localhost"])
        mail, = self.wait_mail("a@localhost")
        self.assertEqual(header(mail, "X-Sekisho-Spam-Score"),
                         "5.0 (spam at high catch rate)")
        self.assertEqual(header(mail, "X-Sekisho-Spam-Rules"), "IN_BL")
        body = "See https://www.evil.example/offer and http://good.example/"
        self.submit(message("Links", body + "\r\n", to="b@localhost"),
                    ["b@localhost"])
        self.held("spam")
        rec, = self.scanned("b@localhost")
        self.assertEqual(rec["detail"], "spam=12.0 (IN_BL,LINK_IN_URIBL)")
        self.assertEqual(self.mailbox("b@localhost"), [])
        # The same questions again, with the DNS server gone: the
        # scanner's cache answers.
        s.stop_extra()
        self.submit(message("Links again", body + "\r\n",
                            to="c@localhost"), ["c@localhost"])
        self.held("spam", 2)


AUTH_PKG = '''version 3.000
eval     SPF_PASS             spf(pass)
score    SPF_PASS             -0.5
eval     SPF_SOFTFAIL         spf(softfail)
score    SPF_SOFTFAIL         1.5
eval     SPF_FAIL             spf(fail)
score    SPF_FAIL             3
eval     DKIM_VALID           dkim(pass)
score    DKIM_VALID           -1
eval     DKIM_INVALID         dkim(fail)
score    DKIM_INVALID         2
eval     __DMARC_FAIL         dmarc(fail)
eval     __DMARC_P_REJECT     dmarc_policy(reject)
meta     DMARC_REJECT         __DMARC_FAIL && __DMARC_P_REJECT
score    DMARC_REJECT         4
'''

AUTH_RULES = '''
[rule "DMARC reject"]
match = all
dmarc = fail
dmarc_policy = reject
except_recipients = seen@localhost, seen2@localhost
intercept = quarantine dmarc

[rule "DMARC fail seen"]
recipients = seen@localhost, seen2@localhost
match = all
dmarc = fail
dmarc_policy = reject
tag_subject = [DMARC-REJECT]

[rule "SPF softfail"]
spf = softfail
tag_subject = [SPF-SOFTFAIL]

[rule "DKIM signed"]
dkim = pass
tag_subject = [DKIM-OK]

[rule "SPF fail"]
spf = fail
tag_subject = [SPF-FAIL]

[rule "SPF pass"]
spf = pass
tag_subject = [SPF-OK]

[rule "DKIM broken"]
dkim = fail, permerror
tag_subject = [DKIM-BAD]
'''


CLIENT_IP = "192.0.2.1"          # the client, in a private namespace
_netns = False


def private_netns():
    """Move this process into a network namespace of its own, whose
    loopback also carries CLIENT_IP: SPF libraries pass every loopback
    client (127/8, ::1) without looking, so the SPF tests need a client
    address that is not one.  Every daemon the tests start afterwards
    runs in it too; nothing outside is touched."""
    global _netns
    if _netns:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) != 0:       # CLONE_NEWNET
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", CLIENT_IP + "/32", "dev", "lo"],
                   check=True)
    _netns = True


@unittest.skipUnless(shutil.which("dnsmasq") and shutil.which("openssl")
                     and shutil.which("ip") and is_root(),
                     "needs dnsmasq, openssl, ip and root (a network "
                     "namespace)")
class TestSenderAuth(SpamCase):
    """SPF, DKIM and DMARC against a DNS server on loopback: each result
    in the score (the package's eval rules), the Authentication-Results
    header and the policy's spf/dkim/dmarc conditions.  The client
    connects from CLIENT_IP (private_netns)."""

    @classmethod
    def setUpClass(cls):
        private_netns()

    def submit(self, raw, rcpts, sender="alice@example.org"):
        c = smtplib.SMTP("127.0.0.1", self.suite.smtp_port, timeout=30,
                         source_address=(CLIENT_IP, 0))
        try:
            c.sendmail(sender, list(rcpts), raw)
        finally:
            c.quit()

    def setUp(self):
        super().setUp()
        s = self.suite
        key = os.path.join(s.dir, "dkim.key")
        subprocess.run(["openssl", "genrsa", "-out", key, "2048"],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "rsa", "-in", key, "-pubout",
                              "-outform", "DER"], check=True,
                             capture_output=True).stdout
        pub = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
        # dnsmasq makes each comma-separated piece one TXT string (and
        # would keep quotes): 200-byte strings, joined by the verifier.
        chunks = ",".join(pub[i:i + 200]
                          for i in range(0, len(pub), 200))
        self.key = key
        port = s.start_dnsmasq([
            "--txt-record=pass.test,v=spf1 ip4:%s -all" % CLIENT_IP,
            "--txt-record=soft.test,v=spf1 ~all",
            "--txt-record=fail.test,v=spf1 -all",
            "--txt-record=_dmarc.fail.test,v=DMARC1; p=reject",
            "--txt-record=signed.test,v=spf1 -all",
            "--txt-record=_dmarc.signed.test,v=DMARC1; p=reject",
            "--txt-record=sel._domainkey.signed.test," + chunks])
        s.set("tsmtpd.ini", "SmtpClient", "DnsServers",
              "127.0.0.1:%d" % port)
        with open(os.path.join(s.confdir, "spamrules", "3.000.rules"),
                  "w") as f:
            f.write(AUTH_PKG)
        s.set("imss.ini", "general", "hostname", "gw.example")
        self.start_spam(rules=AUTH_RULES, sender_auth=1)

    def sign(self, raw):
        r = subprocess.run([os.path.join(BUILD, "t", "dkimsign"), self.key,
                            "sel", "signed.test"], input=raw,
                           capture_output=True, check=True)
        return r.stdout

    def auth_header(self, mail):
        return header(mail, "Authentication-Results")

    def test_spf_pass_softfail_fail_and_dmarc_reject(self):
        self.submit(message("spf pass", BUSINESS, sender="a@pass.test",
                            to="p@localhost"), ["p@localhost"],
                    sender="a@pass.test")
        self.submit(message("spf soft", BUSINESS, sender="a@soft.test",
                            to="s@localhost"), ["s@localhost"],
                    sender="a@soft.test")
        self.submit(message("spf fail", BUSINESS, sender="a@fail.test",
                            to="f@localhost"), ["f@localhost"],
                    sender="a@fail.test")
        mail, = self.wait_mail("p@localhost")
        self.assertIn(b"Subject: [SPF-OK] spf pass\r\n", mail)
        self.assertEqual(self.auth_header(mail), "gw.example; spf=pass "
                         "smtp.mailfrom=pass.test; dkim=none; dmarc=none "
                         "header.from=pass.test")
        self.assertIn("SPF_PASS", header(mail, "X-Sekisho-Spam-Rules"))
        rec, = self.scanned("p@localhost")
        self.assertTrue(rec["detail"].startswith(
            "spf=pass dkim=none dmarc=none; spam=-0.5"), rec["detail"])

        mail, = self.wait_mail("s@localhost")
        self.assertIn(b"Subject: [SPF-SOFTFAIL] spf soft\r\n", mail)
        self.assertIn("spf=softfail smtp.mailfrom=soft.test",
                      self.auth_header(mail))
        self.assertIn("SPF_SOFTFAIL", header(mail, "X-Sekisho-Spam-Rules"))

        (qid, info), = self.held("dmarc").items()
        self.assertEqual(info["rule"], "DMARC reject")
        rec, = self.scanned("f@localhost")
        self.assertIn("spf=fail dkim=none dmarc=fail (p=reject)",
                      rec["detail"])
        self.assertIn("SPF_FAIL", rec["detail"])
        self.assertIn("DMARC_REJECT", rec["detail"])
        self.assertEqual(self.mailbox("f@localhost"), [])
        # The spf condition matched too (the quarantine decided).
        rules = {r["rule"] for r in self.log_query(
            "--to", "f@localhost", "--event", "rule_matched")}
        self.assertEqual(rules, {"DMARC reject", "SPF fail"})
        # Delivered where the policy lets it through: the failures in
        # the header, the score and the rules.
        self.submit(message("spf fail", BUSINESS, sender="a@fail.test",
                            to="seen@localhost"), ["seen@localhost"],
                    sender="a@fail.test")
        mail, = self.wait_mail("seen@localhost")
        self.assertIn(b"Subject: [DMARC-REJECT] [SPF-FAIL] spf fail\r\n",
                      mail)
        self.assertEqual(self.auth_header(mail), "gw.example; spf=fail "
                         "smtp.mailfrom=fail.test; dkim=none; dmarc=fail "
                         "header.from=fail.test")
        rules = header(mail, "X-Sekisho-Spam-Rules")
        self.assertIn("SPF_FAIL", rules)
        self.assertIn("DMARC_REJECT", rules)

    def test_dkim_pass_and_fail_after_alteration(self):
        raw = message("signed", BUSINESS, sender="news@signed.test",
                      to="d@localhost").encode()
        signed = self.sign(raw)
        self.assertTrue(signed.startswith(b"DKIM-Signature:"))
        # Envelope sender without SPF: DMARC passes on the aligned DKIM.
        self.submit(signed, ["d@localhost"], sender="bounce@other.test")
        rec, = self.scanned("d@localhost")
        self.assertIn("dkim=pass", rec["detail"])
        mail, = self.wait_mail("d@localhost")
        self.assertIn(b"Subject: [DKIM-OK] signed\r\n", mail)
        ar = self.auth_header(mail)
        self.assertIn("dkim=pass header.d=signed.test", ar)
        self.assertIn("dmarc=pass header.from=signed.test", ar)
        self.assertIn("DKIM_VALID", header(mail, "X-Sekisho-Spam-Rules"))
        # Altered after signing: DKIM fails, DMARC fails, p=reject holds it.
        altered = signed.replace(b"two laptops", b"ten laptops")
        self.assertNotEqual(altered, signed)
        self.submit(altered.replace(b"d@localhost", b"e@localhost"),
                    ["e@localhost"], sender="bounce@other.test")
        self.held("dmarc")
        rec, = self.scanned("e@localhost")
        self.assertIn("dkim=fail", rec["detail"])
        self.assertIn("dmarc=fail (p=reject)", rec["detail"])
        self.assertIn("DKIM_INVALID", rec["detail"])
        self.assertEqual(self.mailbox("e@localhost"), [])
        rules = {r["rule"] for r in self.log_query(
            "--to", "e@localhost", "--event", "rule_matched")}
        self.assertEqual(rules, {"DMARC reject", "DKIM broken"})
        self.submit(altered.replace(b"d@localhost", b"seen2@localhost"),
                    ["seen2@localhost"], sender="bounce@other.test")
        mail, = self.wait_mail("seen2@localhost")
        self.assertIn(b"Subject: [DMARC-REJECT] [DKIM-BAD] signed\r\n",
                      mail)
        self.assertIn("dkim=fail header.d=signed.test",
                      self.auth_header(mail))
        self.assertIn("DKIM_INVALID", header(mail, "X-Sekisho-Spam-Rules"))

    def test_forged_authentication_results_replaced(self):
        forged = ("Authentication-Results: gw.example; spf=pass; "
                  "dkim=pass; dmarc=pass\r\n"
                  "Authentication-Results: other.example; spf=none\r\n")
        self.submit(message("forged", BUSINESS, sender="a@soft.test",
                            to="g@localhost", extra=forged),
                    ["g@localhost"], sender="a@soft.test")
        mail, = self.wait_mail("g@localhost")
        head = mail.split(b"\r\n\r\n", 1)[0]
        self.assertEqual(head.count(b"Authentication-Results: gw.example"),
                         1)
        self.assertIn("spf=softfail", self.auth_header(mail))
        # Another host's result stays: it is not ours to judge.
        self.assertIn(b"Authentication-Results: other.example; spf=none",
                      head)


PKG = '''version %s
body     SEKISHO_PKG_MARK     /SEKISHO-PKG-%s/
score    SEKISHO_PKG_MARK     50
describe SEKISHO_PKG_MARK     marker of package %s
'''


class TestRulePackages(SpamCase):
    RULES = '''
[rule "spam"]
spam = low
intercept = quarantine spam
'''

    def package(self, version, marker):
        d = os.path.join(self.suite.dir, "pkg-" + version)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "sekisho-%s.rules" % version)
        with open(path, "w") as f:
            f.write(PKG % (version, marker, version))
        return path

    def rules(self, *args):
        r = self.ctl("--json", "rules", *args)
        return r, (json.loads(r.stdout) if r.stdout.strip() else None)

    def active(self):
        r, o = self.rules("status")
        self.assertEqual(r.returncode, 0, r.stderr)
        return o

    def marker_held(self, marker, rcpt):
        """Send a message carrying the marker; True if held as spam."""
        self.submit(message("pkg", "mark SEKISHO-PKG-%s\r\n" % marker,
                            to=rcpt), [rcpt])
        rec, = self.scanned(rcpt)
        return "SEKISHO_PKG_MARK" in rec["detail"]

    def wait_loaded(self, version):
        wait_for(lambda: "event=antispam package=%s " % version in
                 self.suite.scanner.log(), 20,
                 what="the scanner loads %s" % version)

    def test_seed41_minor_update_applies_older_does_not_rollback_works(self):
        self.start_spam(rules=self.RULES)
        self.assertEqual(self.active()["active"], "1.001")
        one = self.package("17000.001", "ONE")
        two = self.package("17000.002", "TWO")

        r, o = self.rules("update", one)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(o["changed"])
        self.assertEqual((o["active"], o["previous"]),
                         ("17000.001", "1.001"))
        self.wait_loaded("17000.001")

        # Only the minor number grows: still newer, applied (seed 41).
        r, o = self.rules("update", two)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(o["changed"])
        self.assertEqual((o["active"], o["previous"]),
                         ("17000.002", "17000.001"))
        self.wait_loaded("17000.002")
        self.assertTrue(self.marker_held("TWO", "two@localhost"))
        self.held("spam")

        # The older package over the newer one: nothing changes.
        r, o = self.rules("update", one)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(o["changed"])
        self.assertEqual(o["active"], "17000.002")
        self.assertIn("not newer", o["result"])
        st = self.active()
        self.assertEqual(st["active"], "17000.002")
        self.assertEqual(st["installed"], ["1.001", "17000.001",
                                           "17000.002"])

        # The scanner reports the package it runs.
        r = self.ctl("--json", "scanner", "status")
        self.assertEqual(json.loads(r.stdout)["antispam"]["version"],
                         "17000.002")

        # Rollback: 17000.001 again, and its rules apply.
        r, o = self.rules("rollback")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((o["active"], o["previous"]),
                         ("17000.001", "17000.002"))
        self.wait_loaded("17000.001")
        self.assertFalse(self.marker_held("TWO", "two-after@localhost"))
        self.assertTrue(self.marker_held("ONE", "one-after@localhost"))
        self.assertEqual(self.active()["active"], "17000.001")

        # Human-readable status marks the active package.
        r = self.ctl("rules", "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("active     17000.001 (", r.stdout)
        self.assertIn(" 17000.001* ", r.stdout + " ")

    def test_broken_package_is_refused_and_changes_nothing(self):
        self.start_spam(rules=self.RULES)
        path = os.path.join(self.suite.dir, "broken.rules")
        with open(path, "w") as f:
            f.write("version 99999.001\nbody BAD /unclosed(/\n"
                    "header X Subject =~ /a/q\n")
        r = self.ctl("rules", "update", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("broken.rules:2:", r.stderr)
        self.assertIn("broken.rules:3:", r.stderr)
        self.assertIn("not installed", r.stderr)
        self.assertEqual(self.active()["active"], "1.001")
        self.assertFalse(os.path.exists(os.path.join(
            self.suite.confdir, "spamrules", "99999.001.rules")))
        # Usage errors.
        self.assertEqual(self.ctl("rules", "update").returncode, 2)
        self.assertEqual(self.ctl("rules", "frobnicate").returncode, 2)
        # Nothing older than the shipped package to go back to.
        r = self.ctl("rules", "rollback")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no package older than the active 1.001", r.stderr)


RSPAMD_CONF = """
options {
    pidfile = "%(dir)s/rspamd.pid";
    filters = "";
    dns { nameserver = ["127.0.0.1:1"]; timeout = 0.2s; retransmits = 1; }
}
logging { type = "file"; filename = "%(dir)s/rspamd.log"; level = "info"; }
worker "normal" { bind_socket = "127.0.0.1:%(port)d"; count = 1; }
actions { reject = 15; add_header = 6; greylist = 4; }
lua = "%(dir)s/mark.lua";
"""

RSPAMD_LUA = """
rspamd_config.SEKISHO_RSPAMD_MARK = {
  callback = function(task)
    local c = tostring(task:get_content())
    return c:find('SEKISHO-RSPAMD-MARK', 1, true) ~= nil
  end,
  score = 7.5,
  description = 'The sekisho test marker',
}
"""


@unittest.skipUnless(shutil.which("rspamd"), "needs rspamd")
class TestRspamd(SpamCase):
    """[antispam] rspamd: a real rspamd (Debian's) started by the test,
    with one rule of its own, scores the message alone or with the
    package; when it cannot be asked, combine falls back to the package
    and only leaves the message unscored."""

    RULES = """
[rule "spam"]
spam = medium
intercept = quarantine spam
"""

    def start_rspamd(self):
        s = self.suite
        d = os.path.join(s.dir, "rspamd")
        os.makedirs(d)
        port = free_port()
        with open(os.path.join(d, "rspamd.conf"), "w") as f:
            f.write(RSPAMD_CONF % {"dir": d, "port": port})
        with open(os.path.join(d, "mark.lua"), "w") as f:
            f.write(RSPAMD_LUA)
        cmd = ["rspamd", "-f", "-c", os.path.join(d, "rspamd.conf"),
               "--var=DBDIR=" + d, "--var=RUNDIR=" + d, "--var=LOGDIR=" + d]
        if is_root():
            pw = pwd.getpwnam("_rspamd")
            for n in [d] + [os.path.join(d, x) for x in os.listdir(d)]:
                os.chown(n, pw.pw_uid, pw.pw_gid)
            cmd += ["-u", "_rspamd", "-g", "_rspamd"]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL,
                             start_new_session=True)
        s.extra_procs.append(p)

        def ping():
            try:
                with socket.create_connection(("127.0.0.1", port), 1) as c:
                    c.sendall(b"GET /ping HTTP/1.0\r\n\r\n")
                    return b"pong" in c.recv(4096)
            except OSError:
                return False
        wait_for(ping, 60, step=0.2, what="rspamd /ping")
        return port

    def test_only_combine_and_unreachable(self):
        port = self.start_rspamd()
        self.start_spam(rules=self.RULES, rspamd="only",
                        rspamd_address="127.0.0.1:%d" % port)
        # rspamd alone: its rule decides (7.5 >= medium 6).
        self.submit(message("Hi", "SEKISHO-RSPAMD-MARK\r\n" + BUSINESS,
                            to="a@localhost"), ["a@localhost"])
        self.held("spam")
        rec, = self.scanned("a@localhost")
        self.assertRegex(rec["detail"], r"^spam=7\.\d \(rspamd=7\.\d: "
                         r"SEKISHO_RSPAMD_MARK\(7\.5\)")
        # The package is not used: the spammy text alone is not enough.
        self.submit(message("Offer", SPAMMY, to="b@localhost"),
                    ["b@localhost"])
        mail, = self.wait_mail("b@localhost")
        self.assertNotIn("BODY_LOTTERY", header(mail,
                                                "X-Sekisho-Spam-Rules"))
        self.assertIn("rspamd=", header(mail, "X-Sekisho-Spam-Rules"))
        # Combined: the package's score and rspamd's add up.
        s = self.suite
        s.set("policy.ini", "antispam", "rspamd", "combine")
        before = s.scanner.log().count("event=reloaded")
        s.scanner.signal(signal.SIGHUP)
        wait_for(lambda: s.scanner.log().count("event=reloaded") > before,
                 20, what="reload")
        self.submit(message("Hi", "SEKISHO-RSPAMD-MARK click here\r\n",
                            to="c@localhost"), ["c@localhost"])
        rec, = self.scanned("c@localhost")
        self.assertIn("BODY_CLICK_HERE", rec["detail"])
        self.assertIn("rspamd=7.", rec["detail"])
        # rspamd gone: combine scores with the package alone, and says so.
        s.stop_extra()
        self.submit(message("Offer", SPAMMY, to="d@localhost"),
                    ["d@localhost"])
        rec, = self.scanned("d@localhost")
        self.assertIn("BODY_LOTTERY", rec["detail"])
        # (refused, or reset while the killed worker's socket goes away)
        self.assertIn("rspamd not asked (rspamd 127.0.0.1:%d: " % port,
                      rec["detail"])
        self.assertIn("event=rspamd-failed", s.scanner.log())
        # only, unreachable: not scored, delivered, and the log says why.
        s.set("policy.ini", "antispam", "rspamd", "only")
        before = s.scanner.log().count("event=reloaded")
        s.scanner.signal(signal.SIGHUP)
        wait_for(lambda: s.scanner.log().count("event=reloaded") > before,
                 20, what="reload")
        self.submit(message("Offer", SPAMMY, to="e@localhost"),
                    ["e@localhost"])
        mail, = self.wait_mail("e@localhost")
        self.assertNotIn(b"X-Sekisho-Spam-Score", mail)
        rec, = self.scanned("e@localhost")
        self.assertIn("spam: not scored (rspamd", rec["detail"])


class TestSpamcheck(SpamCase):
    """sekisho-spamcheck scores files offline with the active package or
    one given with -p."""

    def test_scores_files_and_directories(self):
        s = self.suite
        d = os.path.join(s.dir, "msgs")
        os.makedirs(d)
        for name, text in (("1-gtube.eml", message("x", GTUBE + "\r\n")),
                           ("2-business.eml", message("Order", BUSINESS)),
                           ("3-mbox.eml", "From a@b Sun Nov 29 2026\n" +
                            message("Offer", SPAMMY))):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        r = s.run("sekisho-spamcheck", "-c", s.confdir, "-j", d)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual([os.path.basename(x["file"]) for x in rows],
                         ["1-gtube.eml", "2-business.eml", "3-mbox.eml"])
        self.assertTrue(rows[0]["low"] and "GTUBE" in rows[0]["rules"])
        self.assertFalse(rows[1]["high"])
        self.assertTrue(rows[2]["medium"], rows[2])
        self.assertIn("BODY_LOTTERY", rows[2]["rules"])
        # Text output, and a package of one's own.
        pkg = os.path.join(s.dir, "mine.rules")
        with open(pkg, "w") as f:
            f.write("version 1.0\nbody MINE /Tanaka/\nscore MINE 9\n")
        r = s.run("sekisho-spamcheck", "-c", s.confdir, "-p", pkg,
                  os.path.join(d, "2-business.eml"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^ +9\.00 low +\S+2-business\.eml "
                         r"MINE\(9\)\n$")
        # A broken package, a missing file, usage.
        with open(pkg, "w") as f:
            f.write("version 1.0\nbody BAD /(/\n")
        r = s.run("sekisho-spamcheck", "-c", s.confdir, "-p", pkg, d)
        self.assertEqual(r.returncode, 1)
        self.assertIn("mine.rules:2:", r.stderr)
        r = s.run("sekisho-spamcheck", "-c", s.confdir,
                  os.path.join(d, "missing.eml"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("missing.eml", r.stderr)
        self.assertEqual(s.run("sekisho-spamcheck").returncode, 2)


if __name__ == "__main__":
    unittest.main()
