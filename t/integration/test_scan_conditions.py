"""test_scan_conditions.py: every condition, scope key and action of
docs/policy.md that test_scan_seeds.py and test_scan_server.py do not
already cover, end to end.

sekisho-scanner and sekisho-smtpd run for real, one pair per test class
(the ScanCase base class of test_scan_seeds.py); mail goes in over SMTP
and what comes out is read as bytes: the Maildir deliveries, the
quarantine store and the tracking log (sekishoctl --json log query).
Every rule is scoped to its own recipient addresses (`recipients =
cX-*@localhost`, ...) or, where the recipient is what is tested, to its
own sender, so the tests of a class share one scanner.

Recipients @localhost are inbound (AcceptedDomains = localhost); those
@remote.test, @sender.test and @admin.test are outbound and delivered
into the same Maildir.
"""

import email
import email.header
import html
import json
import os
import re
import unittest

from harness import BIN, Suite, split_received, wait_for
from test_scan_seeds import (ADMIN, SENDER, ScanCase, _b64, as_bytes,
                             decoded_subject, header_block, header_values,
                             original, parse, parts_by_name, pe_executable,
                             pseudo_random, raw_message, strip_delivery,
                             with_attachments, zip_bytes)


def msg(rcpt, subject, body="hello\r\n", extra=(), sender=SENDER):
    """A simple text/plain message (raw bytes)."""
    hdrs = [("From", sender), ("To", rcpt)]
    if subject is not None:
        hdrs.append(("Subject", subject))
    return raw_message(hdrs + list(extra), body)


def text_of(data, subtype="plain"):
    """The decoded text of the first text/SUBTYPE body part."""
    part = parse(strip_delivery(data)).get_body((subtype,))
    if part is None:
        raise AssertionError("no text/%s body part in %r" % (subtype,
                                                            data[:400]))
    return part.get_content().replace("\r\n", "\n")


def json_text(x):
    return json.dumps(x, ensure_ascii=False)


def tags_of(subject, base):
    """The tags put before base in a subject ("" when untagged)."""
    if subject == base:
        return ""
    if subject is None or not subject.endswith(" " + base):
        raise AssertionError("subject %r does not end with %r"
                             % (subject, base))
    return subject[:-len(base) - 1]


# =============================================================================
# Conditions, scope and actions: one scanner for the whole class.
# =============================================================================

FLAGS = """# header values of X-Spam-Flag that count
#!caseless
^yes$
^spam$
"""

LIST_A = """# list a: caseless
#!caseless
\\bproject\\s+falcon\\b
"""

LIST_B = """# list b: case-sensitive
機密情報
\\bCODE-\\d{4}\\b
"""

FOOTER = ("-- \n"
          "This message was checked by the sekisho gateway.\n"
          "社外秘の情報は送らないでください。\n")

# A footer an administrator saved in Shift_JIS: not UTF-8.
FOOTER_SJIS = "社外秘情報\n".encode("shift_jis")

RULES = r"""
; ---- header -------------------------------------------------------------
[rule "c header present"]
recipients = ch1-*@localhost
header = X-Sekisho-Flag
tag_subject = [hdr-present]

[rule "c header pattern"]
recipients = ch2-*@localhost
header = X-Mailer pattern: ^BulkMailer\b
tag_subject = [bulk]

[rule "c header keywords"]
recipients = ch3-*@localhost
header = X-Spam-Flag keywords: c-flags
tag_subject = [flagged]

; ---- headers --------------------------------------------------------------
[rule "c headers"]
recipients = chs-*@localhost
headers = pattern: (?i)^Reply-To:.*@evil\.test$
tag_subject = [reply-evil]

; ---- body -----------------------------------------------------------------
[rule "c body"]
recipients = cb-*@localhost
body = pattern: SEKISHO-BODY-KW
tag_subject = [body]

[rule "c body html visible text"]
recipients = cbh-*@localhost
body = pattern: (?i)wire\s+transfer|至急送金
tag_subject = [visible]

; ---- attachment_text ------------------------------------------------------
[rule "c attachment text"]
recipients = cat-*@localhost
attachment_text = pattern: SEKISHO-ATT-KW
strip_attachments = yes
tag_subject = [att-text]

; ---- content ----------------------------------------------------------------
[rule "c content inline"]
recipients = cci-*@localhost
content = pattern: (?i)SEKISHO-CONTENT-KW
tag_subject = [content]

[rule "c content keywords"]
recipients = cck-*@localhost
content = keywords: c-list-a, c-list-b
tag_subject = [content-kw]

; ---- sizes and counts -------------------------------------------------------
[rule "c message big"]
recipients = cms-*@localhost
message_size = > 20K
tag_subject = [big]

[rule "c message small"]
recipients = cms-*@localhost
message_size = < 2K
tag_subject = [small]

[rule "c many attachments"]
recipients = cac-*@localhost
attachment_count = >= 2
tag_subject = [many-att]

[rule "c no attachment"]
recipients = cac-*@localhost
attachment_count = < 1
tag_subject = [no-att]

[rule "c attachment size"]
recipients = cas-*@localhost
attachment_size = > 10K
strip_attachments = yes
tag_subject = [large-att]

[rule "c three or more recipients"]
recipients = crc-*@localhost
recipient_count = envelope >= 3
tag_subject = [3+]

[rule "c one recipient"]
recipients = crc-*@localhost
recipient_count = envelope = 1
tag_subject = [single]

[rule "c header recipients"]
recipients = crc-*@localhost
recipient_count = header <= 0
tag_subject = [no-to]

; ---- attachment_in_archive --------------------------------------------------
[rule "c archive include"]
recipients = cai-inc@localhost
attachment_name = *.exe
strip_attachments = yes
tag_subject = [exe]

[rule "c archive exclude"]
recipients = cai-exc@localhost
attachment_in_archive = exclude
attachment_name = *.exe
strip_attachments = yes
tag_subject = [exe]

[rule "c archive only"]
recipients = cai-only@localhost
attachment_in_archive = only
attachment_name = *.exe
strip_attachments = yes
tag_subject = [exe]

; ---- labelled conditions ----------------------------------------------------
[rule "c labelled"]
recipients = clb-*@localhost
body.fraud = pattern: SEKISHO-FRAUD
body.2 = pattern: SEKISHO-SECOND
tag_subject = [labelled]

; ---- direction --------------------------------------------------------------
[rule "c inbound"]
recipients = cdir-*@*
direction = inbound
tag_subject = [in]

[rule "c outbound"]
recipients = cdir-*@*
direction = outbound
tag_subject = [out]

[rule "c both"]
recipients = cdir-*@*
direction = both
tag_subject = [both]

[rule "c default direction"]
recipients = cdir-*@*
tag_subject = [dflt]

; ---- senders ----------------------------------------------------------------
[rule "c sender exact"]
recipients = csnd-*@localhost
senders = boss@sender.test
tag_subject = [exact]

[rule "c sender domain"]
recipients = csnd-*@localhost
senders = @corp.test
tag_subject = [domain]

[rule "c sender subdomains"]
recipients = csnd-*@localhost
senders = .corp.test
tag_subject = [subdomain]

[rule "c sender glob"]
recipients = csnd-*@localhost
senders = sales-*@sender.test, *@*.glob.test
tag_subject = [glob]

[rule "c sender null"]
recipients = csnd-*@localhost
senders = <>
tag_subject = [null]

[rule "c sender star"]
recipients = csnd-*@localhost
senders = *
tag_subject = [any-sender]

[rule "c except senders"]
recipients = cexs-*@localhost
except_senders = @trusted.test, <>
tag_subject = [untrusted]

; ---- recipients -------------------------------------------------------------
[rule "c recipients exact and glob"]
recipients = crp-exact@localhost, crp-g?@localhost
except_recipients = crp-gx@localhost
tag_subject = [rcpt]

[rule "c recipients domain"]
senders = crpd@sender.test
recipients = @remote.test
tag_subject = [at-remote]

[rule "c recipients subdomains"]
senders = crpd@sender.test
recipients = .test
tag_subject = [dot-test]

[rule "c recipients except domain"]
senders = crpd@sender.test
except_recipients = @localhost
tag_subject = [not-local]

; ---- enabled ----------------------------------------------------------------
[rule "c disabled delete"]
recipients = cen-*@localhost
enabled = no
intercept = delete

[rule "c disabled zero"]
recipients = cen-*@localhost
enabled = 0
tag_subject = [zero]

[rule "c disabled off"]
recipients = cen-*@localhost
enabled = off
tag_subject = [off]

[rule "c enabled yes"]
recipients = cen-*@localhost
enabled = yes
tag_subject = [on]

; ---- final ------------------------------------------------------------------
[rule "c before final"]
recipients = cfin-*@localhost
tag_subject = [before]

[rule "c final exemption"]
recipients = cfin-*@localhost
subject = pattern: EXEMPT
final = yes
tag_subject = [exempt]

[rule "c after final"]
recipients = cfin-*@localhost
tag_subject = [after]
intercept = quarantine cfinarea

; ---- match any / all --------------------------------------------------------
[rule "c match all"]
recipients = cm-*@localhost
match = all
subject = pattern: ALPHA
body = pattern: BETA
header = X-Gamma
tag_subject = [all]

[rule "c match any"]
recipients = cm-*@localhost
match = any
subject = pattern: ALPHA
body = pattern: BETA
header = X-Gamma
tag_subject = [any]

[rule "c match all mixed"]
recipients = cm-*@localhost
match = all
subject = pattern: ALPHA
attachment_name = *.pdf
attachment_size = > 1K
tag_subject = [pdf]

; ---- stamps -----------------------------------------------------------------
[rule "c stamp top"]
recipients = cst-*@localhost
stamp_top = <b>Caution</b> & "external" — 社外 mail

[rule "c stamp template"]
recipients = cstt-*@localhost
stamp_bottom = template:c-footer

[rule "c stamp template crlf"]
recipients = cstc-*@localhost
stamp_bottom = template:c-footer-crlf

[rule "c stamp template not utf8"]
recipients = csts-*@localhost
stamp_bottom = template:c-footer-sjis

; ---- tag_subject in Japanese ------------------------------------------------
[rule "c japanese tag"]
recipients = ctj-*@localhost
tag_subject = 【社外】

; ---- modifications accumulate -----------------------------------------------
[rule "c acc one"]
recipients = cacc-*@localhost
tag_subject = [A]
stamp_top = TOP-ONE
stamp_bottom = BOTTOM-ONE

[rule "c acc two"]
recipients = cacc-*@localhost
stamp_bottom = BOTTOM-TWO
tag_subject = [B]
stamp_top = TOP-TWO

[rule "c acc three"]
recipients = cacc-*@localhost
tag_subject = [A]
stamp_bottom = BOTTOM-ONE

[rule "c acc four"]
recipients = cacc-*@localhost
tag_subject = [C]

; ---- identical actions of two rules: once -----------------------------------
[rule "c dup one"]
recipients = cdup-*@localhost
tag_subject = [dup]
bcc = cdup-copy@localhost
notify_admin = policy-violation

[rule "c dup two"]
recipients = cdup-*@localhost
tag_subject = [dup]
bcc = CDUP-copy@localhost
notify_admin = policy-violation

; ---- a deleted message: not modified, notifications still go ----------------
[rule "c delete and tell"]
recipients = cdn-*@localhost
intercept = delete
tag_subject = [never seen]
notify_admin = policy-violation
notify_sender = quarantined

; ---- match = any strips every attachment meeting one condition --------------
[rule "c strip any"]
recipients = cany-*@localhost
match = any
attachment_name = *.exe
attachment_size = > 5K
strip_attachments = yes

; ---- notify_recipients with %ATTACHMENT% ------------------------------------
[rule "c strip and tell"]
recipients = cnr-*@localhost
attachment_name = *.exe, *.scr
strip_attachments = yes
notify_recipients = attachment-removed

; ---- one message, several groups --------------------------------------------
[rule "c mix quarantine"]
recipients = cmix-q@localhost
intercept = quarantine cmixarea

[rule "c mix tag"]
recipients = cmix-t@localhost
tag_subject = [mix]

[rule "c mix delete"]
recipients = cmix-d@localhost
intercept = delete

; ---- malformed MIME ---------------------------------------------------------
[rule "c malformed keyword"]
recipients = cmal-*@localhost
content = pattern: SEKISHO-MALFORMED-KW|至急送金
intercept = quarantine cmalformed
"""


class TestConditions(ScanCase):
    RULES = RULES
    KEYWORDS = {"c-flags": FLAGS, "c-list-a": LIST_A, "c-list-b": LIST_B}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Stamp templates are read when a message is scanned.
        with open(os.path.join(cls.suite.confdir, "templates", "c-footer"),
                  "w", encoding="utf-8") as f:
            f.write(FOOTER)
        with open(os.path.join(cls.suite.confdir, "templates",
                               "c-footer-crlf"), "wb") as f:
            f.write(FOOTER.replace("\n", "\r\n").encode("utf-8"))
        with open(os.path.join(cls.suite.confdir, "templates",
                               "c-footer-sjis"), "wb") as f:
            f.write(FOOTER_SJIS)

    # --- helpers -------------------------------------------------------------

    def subjects(self, cases):
        """Send {rcpt: message bytes} (one message each); {rcpt: decoded
        subject of what rcpt got}."""
        for rcpt, m in cases.items():
            self.send(m, [rcpt])
        return {rcpt: decoded_subject(strip_delivery(self.wait_mail(rcpt)))
                for rcpt in cases}

    def assertTags(self, cases, base="subject"):
        """cases: {rcpt: (message, expected tags)}; every recipient got
        one message whose subject is the expected tags + base."""
        got = self.subjects({r: m for r, (m, _) in cases.items()})
        wrong = {}
        for rcpt, (_, want) in cases.items():
            subj = got[rcpt]
            want_subj = (want + " " + base) if want else base
            if subj != want_subj:
                wrong[rcpt] = (subj, want_subj)
        self.assertEqual(wrong, {}, "got (subject, expected)")
        for rcpt in cases:
            self.assertEqual(len(self.mails(rcpt)), 1, rcpt)

    # --- header --------------------------------------------------------------

    def test_header_present(self):
        """header = NAME: the field is there (any value, any case of the
        name); a field of another name or the name in the body is not."""
        cases = {
            "ch1-yes@localhost": (msg("x", "subject", extra=[
                ("X-Sekisho-Flag", "1")]), "[hdr-present]"),
            "ch1-case@localhost": (msg("x", "subject", extra=[
                ("x-sekisho-flag", "whatever")]), "[hdr-present]"),
            "ch1-empty@localhost": (msg("x", "subject", extra=[
                ("X-Sekisho-Flag", "")]), "[hdr-present]"),
            "ch1-other@localhost": (msg("x", "subject", extra=[
                ("X-Sekisho-Flags", "1")]), ""),
            "ch1-body@localhost": (msg("x", "subject",
                                       "X-Sekisho-Flag: 1\r\n"), ""),
        }
        self.assertTags(cases)

    def test_header_pattern(self):
        """header = NAME pattern: P looks at that field's decoded value
        only."""
        enc = "=?UTF-8?B?" + _b64("BulkMailer 日本".encode()).decode() \
            .strip() + "?="
        cases = {
            "ch2-yes@localhost": (msg("x", "subject", extra=[
                ("X-Mailer", "BulkMailer 2.0")]), "[bulk]"),
            "ch2-encoded@localhost": (msg("x", "subject", extra=[
                ("X-Mailer", enc)]), "[bulk]"),
            "ch2-second@localhost": (msg("x", "subject", extra=[
                ("X-Mailer", "Thunderbird"),
                ("X-Mailer", "BulkMailer 3")]), "[bulk]"),
            "ch2-notstart@localhost": (msg("x", "subject", extra=[
                ("X-Mailer", "Not BulkMailer")]), ""),
            "ch2-word@localhost": (msg("x", "subject", extra=[
                ("X-Mailer", "BulkMailerPro")]), ""),
            "ch2-otherfield@localhost": (msg("x", "BulkMailer", extra=[
                ("X-Agent", "BulkMailer 2.0")]), ""),
        }
        got = self.subjects({r: m for r, (m, _) in cases.items()})
        self.assertEqual(got["ch2-yes@localhost"], "[bulk] subject")
        self.assertEqual(got["ch2-encoded@localhost"], "[bulk] subject")
        self.assertEqual(got["ch2-second@localhost"], "[bulk] subject")
        self.assertEqual(got["ch2-notstart@localhost"], "subject")
        self.assertEqual(got["ch2-word@localhost"], "subject")
        self.assertEqual(got["ch2-otherfield@localhost"], "BulkMailer")

    def test_header_keywords(self):
        cases = {
            "ch3-yes@localhost": (msg("x", "subject", extra=[
                ("X-Spam-Flag", "YES")]), "[flagged]"),
            "ch3-spam@localhost": (msg("x", "subject", extra=[
                ("X-Spam-Flag", "spam")]), "[flagged]"),
            "ch3-no@localhost": (msg("x", "subject", extra=[
                ("X-Spam-Flag", "NO")]), ""),
            "ch3-longer@localhost": (msg("x", "subject", extra=[
                ("X-Spam-Flag", "yes please")]), ""),
            "ch3-missing@localhost": (msg("x", "subject"), ""),
        }
        self.assertTags(cases)

    # --- headers -------------------------------------------------------------

    def test_headers_pattern_over_all_fields(self):
        """headers: every field as "Name: value" lines; ^ and $ at each
        line; the body is not looked at."""
        cases = {
            "chs-yes@localhost": (msg("x", "subject", extra=[
                ("Reply-To", "x@evil.test"),
                ("X-After", "something")]), "[reply-evil]"),
            "chs-case@localhost": (msg("x", "subject", extra=[
                ("reply-to", "X@EVIL.TEST")]), "[reply-evil]"),
            "chs-folded@localhost": (msg("x", "subject", extra=[
                ("Reply-To", "a@good.test,\r\n b@evil.test")]),
                "[reply-evil]"),
            "chs-body@localhost": (msg("x", "subject",
                                       "Reply-To: x@evil.test\r\n"), ""),
            "chs-notend@localhost": (msg("x", "subject", extra=[
                ("Reply-To", "x@evil.test.example")]), ""),
            "chs-otherfield@localhost": (msg("x", "subject", extra=[
                ("X-Reply-To", "x@evil.test")]), ""),
        }
        self.assertTags(cases)

    # --- body ----------------------------------------------------------------

    def test_body_plain_and_html(self):
        kw = "SEKISHO-BODY-KW"
        alt = ("From: %s\r\nTo: x\r\nSubject: subject\r\nMIME-Version: 1.0\r\n"
               "Content-Type: multipart/alternative; boundary=ALT\r\n\r\n"
               "--ALT\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
               "nothing in the plain version\r\n"
               "--ALT\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
               "<html><body><p>the %s is here</p></body></html>\r\n"
               "--ALT--\r\n" % (SENDER, kw)).encode()
        html_only = msg("x", "subject",
                        "<html><body><p>%s</p></body></html>\r\n" % kw,
                        extra=[("MIME-Version", "1.0"),
                               ("Content-Type",
                                "text/html; charset=UTF-8")])
        att = as_bytes(with_attachments(
            "x", "subject", "clean body\n",
            [("notes.txt", ("note: %s\n" % kw).encode(), "text",
              "plain")]))
        cases = {
            "cb-plain@localhost": (msg("x", "subject",
                                       "line one\r\nthe %s\r\n" % kw),
                                   "[body]"),
            "cb-b64@localhost": (msg("x", "subject",
                                     _b64(("base64 %s\r\n" % kw).encode()),
                                     extra=[("MIME-Version", "1.0"),
                                            ("Content-Type", "text/plain"),
                                            ("Content-Transfer-Encoding",
                                             "base64")]), "[body]"),
            "cb-qp@localhost": (msg("x", "subject",
                                    "a soft break SEKISHO-BO=\r\nDY-KW\r\n",
                                    extra=[("MIME-Version", "1.0"),
                                           ("Content-Type", "text/plain"),
                                           ("Content-Transfer-Encoding",
                                            "quoted-printable")]),
                                "[body]"),
            "cb-alt@localhost": (alt, "[body]"),
            "cb-html@localhost": (html_only, "[body]"),
            # Not the body: the subject, a header, an attachment.
            "cb-subject@localhost": (msg("x", kw, "clean\r\n"), None),
            "cb-header@localhost": (msg("x", "subject", "clean\r\n",
                                        extra=[("X-Note", kw)]), ""),
            "cb-att@localhost": (att, ""),
        }
        got = self.subjects({r: m for r, (m, _) in cases.items()})
        for rcpt, (m, want) in cases.items():
            if want is None:
                self.assertEqual(got[rcpt], kw, rcpt)
            else:
                self.assertEqual(got[rcpt],
                                 (want + " subject") if want else "subject",
                                 rcpt)
        # The untagged ones are delivered as sent.
        for rcpt in ("cb-subject@localhost", "cb-header@localhost",
                     "cb-att@localhost"):
            self.assertEqual(original(self.mails(rcpt)[0]), cases[rcpt][0])

    def test_body_html_visible_text(self):
        """body looks at the text a reader of a text/html part sees:
        character references decoded, tags between words not in the
        way.  (A keyword written as &#x81F3;&#x6025;... or split by <b>
        tags shows as plain words in every mail reader.)"""
        def h(body):
            return msg("x", "subject", body, extra=[
                ("MIME-Version", "1.0"),
                ("Content-Type", "text/html; charset=UTF-8")])
        cases = {
            "cbh-plain@localhost": h("<html><body><p>please wire "
                                     "transfer now</p></body></html>\r\n"),
            "cbh-refs@localhost": h("<html><body><p>&#x81F3;&#x6025;"
                                    "&#36865;&#37329;&#12434;</p>"
                                    "</body></html>\r\n"),
            "cbh-tags@localhost": h("<html><body><p>please <b>wire</b> "
                                    "<i>transfer</i> now</p></body>"
                                    "</html>\r\n"),
            "cbh-named@localhost": h("<html><body><p>wire&nbsp;transfer"
                                     "</p></body></html>\r\n"),
            "cbh-lines@localhost": h("<html><body><p>wire<br>\r\n"
                                     "transfer</p></body></html>\r\n"),
        }
        got = self.subjects(cases)
        wrong = {r: s for r, s in got.items() if s != "[visible] subject"}
        self.assertEqual(wrong, {}, "keyword in the visible text of an "
                         "HTML body not found")

    # --- attachment_text -----------------------------------------------------

    def test_attachment_text_in_file_and_archive_member(self):
        kw = b"SEKISHO-ATT-KW"
        other = b"a clean text file\n"
        pdf = b"%PDF-1.4\n" + pseudo_random(3000, 21)
        cases = {
            "cat-txt@localhost": [("notes.txt", b"notes\n" + kw + b"\n",
                                   "text", "plain"),
                                  ("other.txt", other, "text", "plain")],
            "cat-zip@localhost": [("bundle.zip", zip_bytes(
                {"docs/readme.txt": b"read me\n",
                 "docs/secret.txt": b"x " + kw + b" y\n"}),
                "application", "zip"),
                ("other.txt", other, "text", "plain")],
            "cat-csv@localhost": [("data.csv", b"a,b\n1," + kw + b"\n",
                                   "text", "csv"),
                                  ("report.pdf", pdf, "application", "pdf")],
        }
        for rcpt, atts in cases.items():
            self.send(with_attachments(rcpt, "att text", "see files\n",
                                       atts), [rcpt])
        body_only = msg("cat-body@localhost", "att text",
                        "the body has SEKISHO-ATT-KW\r\n")
        self.send(body_only, ["cat-body@localhost"])
        clean_zip = as_bytes(with_attachments(
            "cat-clean@localhost", "att text", "see files\n",
            [("bundle.zip", zip_bytes({"a.txt": b"nothing\n"}),
              "application", "zip")]))
        self.send(clean_zip, ["cat-clean@localhost"])

        want_left = {"cat-txt@localhost": {"other.txt"},
                     "cat-zip@localhost": {"other.txt"},
                     "cat-csv@localhost": {"report.pdf"}}
        removed = {"cat-txt@localhost": "notes.txt",
                   "cat-zip@localhost": "bundle.zip",
                   "cat-csv@localhost": "data.csv"}
        for rcpt, left in want_left.items():
            got = strip_delivery(self.wait_mail(rcpt))
            self.assertEqual(decoded_subject(got), "[att-text] att text",
                             rcpt)
            m = parse(got)
            names = parts_by_name(m)
            self.assertEqual(set(names), left, rcpt)
            for n in left:
                self.assertEqual(names[n].get_payload(decode=True),
                                 {"other.txt": other,
                                  "report.pdf": pdf}[n], rcpt)
            notes = [p.get_content() for p in m.walk()
                     if p.get_content_type() == "text/plain" and
                     not p.get_filename() and "removed" in p.get_content()]
            self.assertEqual(len(notes), 1, rcpt)
            self.assertIn('"%s"' % removed[rcpt], notes[0])
            self.assertNotIn(kw, got, rcpt)
        self.assertEqual(original(self.wait_mail("cat-body@localhost")),
                         body_only, "the body is not an attachment")
        self.assertEqual(original(self.wait_mail("cat-clean@localhost")),
                         clean_zip)

    # --- content -------------------------------------------------------------

    def test_content_inline_pattern(self):
        """content: subject, body and attachment text together (not the
        other header fields)."""
        kw = "sekisho-content-kw"     # the rule says (?i)
        cases = {
            "cci-subject@localhost": (msg("x", "a " + kw), True),
            "cci-body@localhost": (msg("x", "subject",
                                       "body %s\r\n" % kw.upper()), True),
            "cci-att@localhost": (as_bytes(with_attachments(
                "x", "subject", "clean\n",
                [("a.txt", ("text " + kw + "\n").encode(), "text",
                  "plain")])), True),
            "cci-zip@localhost": (as_bytes(with_attachments(
                "x", "subject", "clean\n",
                [("a.zip", zip_bytes({"in/a.txt": kw.encode()}),
                  "application", "zip")])), True),
            "cci-header@localhost": (msg("x", "subject", "clean\r\n",
                                         extra=[("X-Note", kw)]), False),
            "cci-clean@localhost": (msg("x", "subject", "clean\r\n"), False),
        }
        got = self.subjects({r: m for r, (m, _) in cases.items()})
        wrong = {}
        for rcpt, (m, hit) in cases.items():
            base = "a " + kw if rcpt.startswith("cci-subject") else "subject"
            want = ("[content] " + base) if hit else base
            if got[rcpt] != want:
                wrong[rcpt] = (got[rcpt], want)
        self.assertEqual(wrong, {})
        self.assertEqual(original(self.mails("cci-clean@localhost")[0]),
                         cases["cci-clean@localhost"][0])

    def test_content_keyword_lists(self):
        """content = keywords: a, b: any pattern of either list, in the
        subject, the body (any charset) or an attachment; #!caseless
        applies to its list only."""
        jis = "ご連絡\r\n機密情報を含みます。\r\n".encode("iso-2022-jp")
        cases = {
            "cck-subject@localhost": (msg("x", "PROJECT   Falcon update"),
                                      "[content-kw] PROJECT   Falcon update"),
            "cck-jis@localhost": (msg("x", "subject", jis, extra=[
                ("MIME-Version", "1.0"),
                ("Content-Type", "text/plain; charset=ISO-2022-JP")]),
                "[content-kw] subject"),
            "cck-att@localhost": (as_bytes(with_attachments(
                "x", "subject", "clean\n",
                [("codes.txt", b"the code is CODE-1234.\n", "text",
                  "plain")])), "[content-kw] subject"),
            # List b is case-sensitive; "falcon project" is not the phrase.
            "cck-lower@localhost": (msg("x", "subject",
                                        "the code is code-1234\r\n"),
                                    "subject"),
            "cck-order@localhost": (msg("x", "falcon project"),
                                    "falcon project"),
        }
        got = self.subjects({r: m for r, (m, _) in cases.items()})
        self.assertEqual(got, {r: w for r, (_, w) in cases.items()})

    # --- message_size, attachment_count, attachment_size, recipient_count ----

    def test_message_size_greater_and_less(self):
        small = msg("x", "subject", "tiny\r\n")
        mid = msg("x", "subject", ("x" * 70 + "\r\n") * 100)      # 7 KiB
        big = msg("x", "subject", ("y" * 70 + "\r\n") * 400)      # 28 KiB
        self.assertLess(len(small) + 1000, 2048)
        self.assertGreater(len(mid), 2048)
        self.assertLess(len(mid) + 1000, 20480)
        self.assertGreater(len(big), 20480)
        self.assertTags({"cms-small@localhost": (small, "[small]"),
                         "cms-mid@localhost": (mid, ""),
                         "cms-big@localhost": (big, "[big]")})

    def test_attachment_count(self):
        def att(n):
            return [("f%d.bin" % i, pseudo_random(100, i + 1),
                     "application", "octet-stream") for i in range(n)]
        three_in_zip = [("three.zip", zip_bytes({"a.txt": b"a",
                                                 "b.txt": b"b",
                                                 "c.txt": b"c"}),
                         "application", "zip")]
        cases = {
            "cac-zero@localhost": (msg("x", "subject"), "[no-att]"),
            "cac-one@localhost": (as_bytes(with_attachments(
                "x", "subject", "one\n", att(1))), ""),
            "cac-two@localhost": (as_bytes(with_attachments(
                "x", "subject", "two\n", att(2))), "[many-att]"),
            "cac-five@localhost": (as_bytes(with_attachments(
                "x", "subject", "five\n", att(5))), "[many-att]"),
            # Archive members are not counted: one attachment.
            "cac-zip@localhost": (as_bytes(with_attachments(
                "x", "subject", "zip\n", three_in_zip)), ""),
        }
        self.assertTags(cases)

    def test_attachment_size_strips_only_the_large(self):
        rcpt = "cas-a@localhost"
        exact = pseudo_random(10240, 31)        # = 10K: not > 10K
        over = pseudo_random(10241, 32)
        tiny = pseudo_random(200, 33)
        self.send(with_attachments(rcpt, "sizes", "three files\n",
                                   [("exact.bin", exact, "application",
                                     "octet-stream"),
                                    ("over.bin", over, "application",
                                     "octet-stream"),
                                    ("tiny.bin", tiny, "application",
                                     "octet-stream")]), [rcpt])
        small_only = as_bytes(with_attachments(
            "cas-b@localhost", "sizes", "small files\n",
            [("exact.bin", exact, "application", "octet-stream")]))
        self.send(small_only, ["cas-b@localhost"])
        got = strip_delivery(self.wait_mail(rcpt))
        self.assertEqual(decoded_subject(got), "[large-att] sizes")
        names = parts_by_name(parse(got))
        self.assertEqual(set(names), {"exact.bin", "tiny.bin"})
        self.assertEqual(names["exact.bin"].get_content(), exact)
        self.assertEqual(names["tiny.bin"].get_content(), tiny)
        self.assertEqual(original(self.wait_mail("cas-b@localhost")),
                         small_only)

    def test_recipient_count_envelope_comparisons(self):
        """recipient_count = envelope >= 3 counts every envelope recipient
        of the message, also those outside the rule's scope; = 1 exactly
        one; header <= 0 no To/Cc address at all."""
        base = "count"
        m1 = msg("crc-a@localhost", base)
        self.send(m1, ["crc-a@localhost"])
        m2 = msg("crc-b@localhost", base)
        self.send(m2, ["crc-b@localhost", "crc-c@localhost"])
        m3 = msg("crc-d@localhost", base)
        self.send(m3, ["crc-d@localhost", "crc-e@localhost",
                       "crcx-other@localhost"])
        m4 = raw_message([("From", SENDER), ("Subject", base)], "no To\r\n")
        self.send(m4, ["crc-f@localhost", "crc-g@localhost"])
        want = {"crc-a@localhost": "[single]", "crc-b@localhost": "",
                "crc-c@localhost": "", "crc-d@localhost": "[3+]",
                "crc-e@localhost": "[3+]", "crcx-other@localhost": "",
                "crc-f@localhost": "[no-to]", "crc-g@localhost": "[no-to]"}
        got = {r: tags_of(decoded_subject(strip_delivery(
            self.wait_mail(r))), base) for r in want}
        self.assertEqual(got, want)

    # --- attachment_in_archive -----------------------------------------------

    def test_attachment_in_archive_include_exclude_only(self):
        """include: top level and members; exclude: top level only; only:
        members only.  A matching member removes its archive."""
        top = pe_executable()
        z = zip_bytes({"bin/tool.exe": pe_executable(),
                       "readme.txt": b"read me\n"})
        keep = pseudo_random(500, 41)
        for rcpt in ("cai-inc@localhost", "cai-exc@localhost",
                     "cai-only@localhost"):
            self.send(with_attachments(
                rcpt, "archive scope", "files\n",
                [("setup.exe", top, "application", "octet-stream"),
                 ("tools.zip", z, "application", "zip"),
                 ("keep.dat", keep, "application", "octet-stream")]),
                [rcpt])
        want = {"cai-inc@localhost": {"keep.dat"},
                "cai-exc@localhost": {"tools.zip", "keep.dat"},
                "cai-only@localhost": {"setup.exe", "keep.dat"}}
        for rcpt, left in want.items():
            got = strip_delivery(self.wait_mail(rcpt))
            self.assertEqual(decoded_subject(got), "[exe] archive scope",
                             rcpt)
            names = parts_by_name(parse(got))
            self.assertEqual(set(names), left, rcpt)
            self.assertEqual(names["keep.dat"].get_content(), keep)
            if "tools.zip" in left:
                self.assertEqual(names["tools.zip"].get_content(), z)
            if "setup.exe" in left:
                self.assertEqual(names["setup.exe"].get_content(), top)

    # --- labelled conditions -------------------------------------------------

    def test_labelled_conditions(self):
        """KEY.LABEL repeats a condition; each counts on its own (match =
        any), and the key as written names the condition in the tracking
        log."""
        q1 = self.send(msg("x", "lbl", "SEKISHO-FRAUD here\r\n"),
                       ["clb-a@localhost"])
        q2 = self.send(msg("x", "lbl", "SEKISHO-SECOND here\r\n"),
                       ["clb-b@localhost"])
        self.send(msg("x", "lbl", "neither\r\n"), ["clb-c@localhost"])
        for r, want in (("clb-a@localhost", "[labelled] lbl"),
                        ("clb-b@localhost", "[labelled] lbl"),
                        ("clb-c@localhost", "lbl")):
            self.assertEqual(decoded_subject(strip_delivery(
                self.wait_mail(r))), want, r)
        for qid, key in ((q1, "body.fraud"), (q2, "body.2")):
            ev = self.wait_settled(qid)
            matched = [e for e in ev if e["event"] == "rule_matched"]
            self.assertEqual([e["rule"] for e in matched], ["c labelled"])
            text = json_text(matched[0]) + json_text(
                [e for e in ev if e["event"] == "scanned"])
            self.assertIn(key, text, "docs/policy.md: the key as written "
                          "names the condition in the tracking log; "
                          "events: %r" % ev)

    # --- direction -----------------------------------------------------------

    def test_direction_inbound_outbound_both(self):
        """Recipients in AcceptedDomains (localhost) are inbound, the rest
        outbound; one message to both gets two copies."""
        rcpts = ["cdir-in@localhost", "cdir-out@remote.test",
                 "cdir-out2@sender.test"]
        qid = self.send(msg(", ".join(rcpts), "dir"), rcpts)
        want = {"cdir-in@localhost": "[in] [both] [dflt]",
                "cdir-out@remote.test": "[out] [both] [dflt]",
                "cdir-out2@sender.test": "[out] [both] [dflt]"}
        got = {r: tags_of(decoded_subject(strip_delivery(self.wait_mail(r))),
                          "dir") for r in rcpts}
        self.assertEqual(got, want)
        ev = self.wait_settled(qid)
        matched = {}
        for e in ev:
            if e["event"] == "rule_matched":
                matched.setdefault(e["rcpt"], []).append(e["rule"])
        self.assertEqual(matched["cdir-in@localhost"],
                         ["c inbound", "c both", "c default direction"])
        self.assertEqual(matched["cdir-out@remote.test"],
                         ["c outbound", "c both", "c default direction"])
        for r in rcpts:
            self.assertEqual(len(self.mails(r)), 1)

    # --- senders -------------------------------------------------------------

    def test_sender_patterns(self):
        cases = {
            # rcpt: (envelope sender, expected tags)
            "csnd-exact@localhost": ("boss@sender.test",
                                     "[exact] [any-sender]"),
            "csnd-exactcase@localhost": ("BOSS@Sender.TEST",
                                         "[exact] [any-sender]"),
            "csnd-notexact@localhost": ("boss2@sender.test",
                                        "[any-sender]"),
            "csnd-domain@localhost": ("x@corp.test",
                                      "[domain] [any-sender]"),
            "csnd-domaincase@localhost": ("x@CORP.Test",
                                          "[domain] [any-sender]"),
            "csnd-sub@localhost": ("x@mail.corp.test",
                                   "[subdomain] [any-sender]"),
            "csnd-subsub@localhost": ("x@a.b.corp.test",
                                      "[subdomain] [any-sender]"),
            "csnd-notsub@localhost": ("x@notcorp.test", "[any-sender]"),
            "csnd-glob@localhost": ("sales-jp@sender.test",
                                    "[glob] [any-sender]"),
            "csnd-notglob@localhost": ("sales@sender.test",
                                       "[any-sender]"),
            "csnd-glob2@localhost": ("y@x.glob.test",
                                     "[glob] [any-sender]"),
            "csnd-notglob2@localhost": ("y@glob.test", "[any-sender]"),
            "csnd-null@localhost": ("", "[null] [any-sender]"),
        }
        for rcpt, (sender, _) in cases.items():
            self.send(msg(rcpt, "snd", sender=sender or "mailer@x.test"),
                      [rcpt], sender=sender)
        got = {r: tags_of(decoded_subject(strip_delivery(self.wait_mail(r))),
                          "snd") for r in cases}
        self.assertEqual(got, {r: w for r, (_, w) in cases.items()})

    def test_except_senders(self):
        cases = {"cexs-a@localhost": ("a@trusted.test", ""),
                 "cexs-b@localhost": ("a@sub.trusted.test", "[untrusted]"),
                 "cexs-c@localhost": ("a@sender.test", "[untrusted]"),
                 "cexs-d@localhost": ("", "")}
        for rcpt, (sender, _) in cases.items():
            self.send(msg(rcpt, "exs"), [rcpt], sender=sender)
        got = {r: tags_of(decoded_subject(strip_delivery(self.wait_mail(r))),
                          "exs") for r in cases}
        self.assertEqual(got, {r: w for r, (_, w) in cases.items()})

    # --- recipients ----------------------------------------------------------

    def test_recipient_patterns_per_recipient(self):
        """The scope is per recipient: one message, each recipient gets
        the tags of the rules whose recipients cover it."""
        rcpts = ["crp-exact@localhost", "crp-g1@localhost",
                 "crp-gx@localhost", "crp-g12@localhost",
                 "crp-other@localhost"]
        qid = self.send(msg("x", "rp"), rcpts)
        got = {r: tags_of(decoded_subject(strip_delivery(self.wait_mail(r))),
                          "rp") for r in rcpts}
        self.assertEqual(got, {"crp-exact@localhost": "[rcpt]",
                               "crp-g1@localhost": "[rcpt]",
                               "crp-gx@localhost": "",
                               "crp-g12@localhost": "",
                               "crp-other@localhost": ""})
        self.wait_settled(qid)
        for r in rcpts:
            self.assertEqual(len(self.mails(r)), 1, r)

    def test_recipient_domain_patterns(self):
        """@domain (that domain), .domain (its subdomains), and
        except_recipients with a domain; here the rules are scoped by the
        sender."""
        rcpts = ["crpd@remote.test", "crpd@localhost", "crpd@sender.test"]
        qid = self.send(msg("x", "rpd", sender="crpd@sender.test"), rcpts,
                        sender="crpd@sender.test")
        got = {r: tags_of(decoded_subject(strip_delivery(self.wait_mail(r))),
                          "rpd") for r in rcpts}
        self.assertEqual(got, {
            "crpd@remote.test": "[at-remote] [dot-test] [not-local]",
            "crpd@localhost": "",
            "crpd@sender.test": "[dot-test] [not-local]"})
        self.wait_settled(qid)

    # --- enabled -------------------------------------------------------------

    def test_disabled_rules_do_nothing(self):
        content = msg("cen-a@localhost", "en")
        qid = self.send(content, ["cen-a@localhost"])
        got = strip_delivery(self.wait_mail("cen-a@localhost"))
        self.assertEqual(decoded_subject(got), "[on] en",
                         "enabled = no / 0 / off are skipped, not deleted")
        ev = self.wait_settled(qid)
        self.assertEqual([e["rule"] for e in ev
                          if e["event"] == "rule_matched"], ["c enabled yes"])
        self.assertEqual([e for e in ev if e["event"] == "deleted"], [])

    # --- final ---------------------------------------------------------------

    def test_final_stops_later_rules(self):
        ex = msg("x", "EXEMPT report")
        q1 = self.send(ex, ["cfin-a@localhost"])
        other = msg("x", "ordinary report")
        q2 = self.send(other, ["cfin-b@localhost"])
        got = strip_delivery(self.wait_mail("cfin-a@localhost"))
        self.assertEqual(decoded_subject(got),
                         "[before] [exempt] EXEMPT report")
        ev = self.wait_settled(q1)
        self.assertEqual([e["rule"] for e in ev
                          if e["event"] == "rule_matched"],
                         ["c before final", "c final exemption"])
        self.assertEqual(self.quarantined_for(q1), [])
        # Without the exemption the later rule quarantines.
        entries = self.wait_quarantined(q2, "cfinarea")
        self.assertEqual(entries[0]["info"]["rule"], "c after final")
        self.assertEqual(split_received(entries[0]["msg"])[1], other)
        ev = self.wait_settled(q2)
        self.assertEqual([e["rule"] for e in ev
                          if e["event"] == "rule_matched"],
                         ["c before final", "c after final"])
        self.assertEqual(self.mails("cfin-b@localhost"), [])

    # --- match any / all -----------------------------------------------------

    def test_match_any_and_all(self):
        pdf = b"%PDF-1.4\n" + pseudo_random(4000, 51)
        small_pdf = b"%PDF-1.4\n" + pseudo_random(100, 52)
        cases = {
            "cm-none@localhost": (msg("x", "nothing", "nothing\r\n"),
                                  "nothing", ""),
            "cm-a@localhost": (msg("x", "ALPHA", "nothing\r\n"), "ALPHA",
                               "[any]"),
            "cm-ab@localhost": (msg("x", "ALPHA", "BETA\r\n"), "ALPHA",
                                "[any]"),
            "cm-c@localhost": (msg("x", "x", "y\r\n",
                                   extra=[("X-Gamma", "1")]), "x", "[any]"),
            "cm-abc@localhost": (msg("x", "ALPHA", "BETA\r\n",
                                     extra=[("X-Gamma", "1")]), "ALPHA",
                                 "[all] [any]"),
            "cm-pdf@localhost": (as_bytes(with_attachments(
                "x", "ALPHA", "no beta\n",
                [("doc.pdf", pdf, "application", "pdf")])), "ALPHA",
                "[any] [pdf]"),
            # all: one attachment must meet both attachment conditions.
            "cm-split@localhost": (as_bytes(with_attachments(
                "x", "ALPHA", "no beta\n",
                [("doc.pdf", small_pdf, "application", "pdf"),
                 ("big.bin", pseudo_random(4000, 53), "application",
                  "octet-stream")])), "ALPHA", "[any]"),
            "cm-nosubj@localhost": (as_bytes(with_attachments(
                "x", "beta", "no\n",
                [("doc.pdf", pdf, "application", "pdf")])), "beta", ""),
        }
        for rcpt, (m, _, _) in cases.items():
            self.send(m, [rcpt])
        got = {r: tags_of(decoded_subject(strip_delivery(self.wait_mail(r))),
                          base) for r, (_, base, _) in cases.items()}
        self.assertEqual(got, {r: w for r, (_, _, w) in cases.items()})

    # --- stamps --------------------------------------------------------------

    STAMP = '<b>Caution</b> & "external" — 社外 mail'

    def test_stamp_top_plain_and_html_escaped(self):
        rcpt = "cst-alt@localhost"
        content = (
            "From: %s\r\nTo: %s\r\nSubject: stamp top\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/alternative; boundary=ALT\r\n\r\n"
            "--ALT\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            "plain original text\r\n"
            "--ALT\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
            "<html><head><title>t</title></head>"
            "<body class=\"x\"><p>html original text</p></body></html>\r\n"
            "--ALT--\r\n" % (SENDER, rcpt)).encode()
        self.send(content, [rcpt])
        got = strip_delivery(self.wait_mail(rcpt))
        m = parse(got)
        plain = m.get_body(("plain",)).get_content().replace("\r\n", "\n")
        self.assertTrue(plain.startswith(self.STAMP + "\n\n"), plain)
        self.assertLess(plain.index(self.STAMP),
                        plain.index("plain original text"))
        self.assertEqual(str(m.get_body(("plain",)).get_param("charset"))
                         .lower(), "utf-8", "the stamp does not fit ASCII")
        hpart = m.get_body(("html",))
        raw_html = hpart.get_payload(decode=True)
        self.assertTrue(all(c < 0x80 for c in raw_html),
                        "HTML stamp uses character references")
        self.assertEqual(str(hpart.get_param("charset")).lower(), "us-ascii",
                         "the HTML part's charset is not touched")
        h = raw_html.decode("ascii")
        self.assertNotIn("<b>Caution</b>", h, "the stamp is escaped")
        paras = re.findall(r"<p>(.*?)</p>", h, re.S)
        self.assertIn(self.STAMP, [html.unescape(p) for p in paras])
        stamp_at = h.index("Caution")
        self.assertLess(h.index('<body class="x">'), stamp_at)
        self.assertLess(stamp_at, h.index("html original text"))
        self.assertIn("&lt;b&gt;Caution&lt;/b&gt; &amp; &quot;external"
                      "&quot;", h)

    def test_stamp_top_plain_only_message(self):
        rcpt = "cst-plain@localhost"
        body = "Dear customer,\r\nthe original text.\r\n"
        self.send(msg(rcpt, "stamp plain", body), [rcpt])
        got = strip_delivery(self.wait_mail(rcpt))
        text = text_of(got)
        self.assertTrue(text.startswith(self.STAMP + "\n\n"), text)
        self.assertTrue(text.endswith(body.replace("\r\n", "\n")), text)
        self.assertEqual(decoded_subject(got), "stamp plain")

    def test_stamp_bottom_template(self):
        rcpt = "cstt-alt@localhost"
        content = (
            "From: %s\r\nTo: %s\r\nSubject: template stamp\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/alternative; boundary=ALT\r\n\r\n"
            "--ALT\r\nContent-Type: text/plain; charset=UTF-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            "本文です。\r\n"
            "--ALT\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n"
            "<html><body><p>html text</p></body></html>\r\n"
            "--ALT--\r\n" % (SENDER, rcpt)).encode()
        self.send(content, [rcpt])
        got = strip_delivery(self.wait_mail(rcpt))
        m = parse(got)
        plain = m.get_body(("plain",)).get_content().replace("\r\n", "\n")
        footer_lines = FOOTER.rstrip("\n").split("\n")
        self.assertTrue(plain.startswith("本文です。"), plain)
        lines = plain.rstrip("\n").split("\n")
        self.assertEqual(lines[-len(footer_lines):], footer_lines, plain)
        h = m.get_body(("html",)).get_payload(decode=True).decode("ascii")
        paras = [html.unescape(re.sub(r"<br>\s*", "\n", p))
                 for p in re.findall(r"<p>(.*?)</p>", h, re.S)]
        self.assertIn(FOOTER.rstrip("\n"), [p.rstrip("\n") for p in paras],
                      h)
        self.assertLess(h.index("html text"), h.index("sekisho gateway"))
        self.assertLess(h.index("sekisho gateway"), h.index("</body>"))

    def alt_message(self, rcpt, subject):
        return (
            "From: %s\r\nTo: %s\r\nSubject: %s\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/alternative; boundary=ALT\r\n\r\n"
            "--ALT\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            "plain text\r\n"
            "--ALT\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
            "<html><body><p>html text</p></body></html>\r\n"
            "--ALT--\r\n" % (SENDER, rcpt, subject)).encode()

    def test_stamp_template_with_crlf_line_ends(self):
        """A template written with CRLF line ends (as notification
        templates may be) gives the same stamp: no bare CR in the
        message."""
        rcpt = "cstc-a@localhost"
        self.send(self.alt_message(rcpt, "crlf template"), [rcpt])
        got = strip_delivery(self.wait_mail(rcpt))
        self.assertIsNone(re.search(rb"\r(?!\n)|(?<!\r)\n", got),
                          "bare CR or LF in %r" % got)
        m = parse(got)
        plain = m.get_body(("plain",)).get_payload(decode=True)
        self.assertNotIn(b"\r\r", plain)
        text = plain.decode("utf-8").replace("\r\n", "\n")
        self.assertIn(FOOTER.rstrip("\n"), text)
        h = m.get_body(("html",)).get_payload(decode=True).decode("ascii")
        self.assertIn("sekisho gateway.<br>", h)

    def test_stamp_template_not_utf8(self):
        """A stamp template that is not UTF-8 (here Shift_JIS) must not
        put bytes into a part that contradict its charset, nor read past
        the template (act_html walks it with g_utf8_next_char)."""
        rcpt = "csts-a@localhost"
        qid = self.send(self.alt_message(rcpt, "sjis template"), [rcpt])
        # Delivered with a repaired stamp, or held as a failed scan: either
        # is a defined outcome.  (scanner/actions.c now repairs it.)
        wait_for(lambda: self.mails(rcpt) or
                 self.qid_events(qid, "scan_failed"), 20, step=0.1,
                 what="%s delivered or its scan failed" % qid)
        for d in self.mails(rcpt):
            m = parse(strip_delivery(d))
            for p in m.walk():
                if p.get_content_maintype() != "text":
                    continue
                cs = str(p.get_param("charset") or "us-ascii")
                raw = p.get_payload(decode=True)
                try:
                    raw.decode(cs)
                except UnicodeDecodeError as e:
                    self.fail("%s part in %s holds other bytes: %s %r"
                              % (p.get_content_type(), cs, e, raw))

    # --- tag_subject ---------------------------------------------------------

    def test_japanese_tag_on_ascii_and_encoded_subjects(self):
        tag = "【社外】"
        jp = "請求書の件について"
        cases = {
            "ctj-ascii@localhost": ("Quarterly report", tag +
                                    " Quarterly report"),
            "ctj-b@localhost": (email.header.Header(jp, "iso-2022-jp")
                                .encode(), tag + " " + jp),
            "ctj-q@localhost": ("=?UTF-8?Q?" + "".join(
                "=%02X" % c for c in jp.encode()) + "?=", tag + " " + jp),
            "ctj-mixed@localhost": ("Re: =?UTF-8?B?" + _b64(
                jp.encode()).decode().strip() + "?= (2)",
                tag + " Re: " + jp + " (2)"),
            "ctj-long@localhost": ("A very long ASCII subject line " * 4 +
                                   "end", tag + " " +
                                   "A very long ASCII subject line " * 4 +
                                   "end"),
            # Raw 8-bit subjects (no RFC 2047), UTF-8 and Shift_JIS.
            "ctj-raw8@localhost": (jp.encode("utf-8"), tag + " " + jp),
            "ctj-rawsjis@localhost": (jp.encode("shift_jis"),
                                      tag + " " + jp),
            # No Subject at all: the tag is the subject.
            "ctj-none@localhost": (None, tag),
        }
        for rcpt, (subj, _) in cases.items():
            self.send(msg(rcpt, subj), [rcpt])
        for rcpt, (_, want) in cases.items():
            got = strip_delivery(self.wait_mail(rcpt))
            self.assertTrue(all(c < 0x80 for c in header_block(got)),
                            "RFC 2047, no raw 8-bit: %r" % header_block(got))
            self.assertEqual(decoded_subject(got), want, rcpt)
            # The email package reads the same.
            self.assertEqual(str(parse(got)["Subject"]), want, rcpt)
            self.assertEqual(len(header_values(got, "Subject")), 1)
            self.assertTrue(all(len(ln) <= 998 for ln in
                                header_block(got).split(b"\r\n")))
            # The body is not touched.
            self.assertIn(b"\r\n\r\nhello\r\n", got)

    # --- several rules' modifications ----------------------------------------

    def test_modifications_accumulate_in_rule_order(self):
        """Tags and stamps of every rule, in rule order; the same tag
        from two rules once; the same stamp text once."""
        rcpt = "cacc-a@localhost"
        body = "the original\r\n"
        qid = self.send(msg(rcpt, "acc", body), [rcpt])
        got = strip_delivery(self.wait_mail(rcpt))
        self.assertEqual(decoded_subject(got), "[A] [B] [C] acc")
        text = text_of(got)
        self.assertEqual(text, "TOP-ONE\nTOP-TWO\n\nthe original\n\n"
                         "BOTTOM-ONE\nBOTTOM-TWO\n")
        ev = self.wait_settled(qid)
        matched = [(e["rule"], e["action"]) for e in ev
                   if e["event"] == "rule_matched"]
        self.assertEqual([r for r, _ in matched],
                         ["c acc one", "c acc two", "c acc three",
                          "c acc four"])
        self.assertEqual(len(self.mails(rcpt)), 1)

    def test_identical_actions_of_two_rules_kept_once(self):
        """The same tag, Bcc address (case-insensitive) and notification
        template from two rules: once each."""
        rcpt = "cdup-a@localhost"
        qid = self.send(msg(rcpt, "dup"), [rcpt])
        self.wait_settled(qid)
        got = self.wait_mail(rcpt)
        self.assertEqual(decoded_subject(strip_delivery(got)), "[dup] dup")
        self.assertEqual(len(self.mails(rcpt)), 1)
        copies = self.wait_mails("cdup-copy@localhost")
        self.assertEqual(len(copies), 1, "one Bcc copy")
        self.assertEqual(decoded_subject(strip_delivery(copies[0])),
                         "[dup] dup")
        notes = [d for d in self.mails(ADMIN) if qid.encode() in d]
        self.assertEqual(len(notes), 1, "one administrator notice")
        self.assertNotification(notes[0], ADMIN, rule="c dup one")

    def test_deleted_message_is_not_modified_but_notifications_go(self):
        rcpt = "cdn-a@localhost"
        sender = "cdn-sender@sender.test"
        content = msg(rcpt, "delete me", sender=sender)
        qid = self.send(content, [rcpt], sender=sender)
        ev = self.wait_settled(qid)
        self.assertEqual(self.mails(rcpt), [])
        self.assertEqual([e["rcpt"] for e in ev if e["event"] == "deleted"],
                         [rcpt])
        self.assertEqual(self.quarantined_for(qid), [])
        notes = [d for d in self.mails(ADMIN) if qid.encode() in d]
        self.assertEqual(len(notes), 1)
        n = self.assertNotification(notes[0], ADMIN,
                                    rule="c delete and tell")
        body = n.get_body(("plain",)).get_content()
        self.assertRegex(body, r"Action: +Deleted")
        self.assertIn("Subject:     delete me", body,
                      "the original subject, not a tagged one")
        to_sender = self.wait_mails(sender)
        self.assertEqual(len(to_sender), 1)
        self.assertNotification(to_sender[0], sender,
                                rule="c delete and tell")
        self.assertEqual(decoded_subject(strip_delivery(to_sender[0])),
                         "Your message was not delivered: delete me")

    def test_match_any_strips_every_attachment_meeting_one_condition(self):
        rcpt = "cany-a@localhost"
        small_exe = pseudo_random(1000, 71)
        big = pseudo_random(8000, 72)
        small = pseudo_random(1000, 73)
        self.send(with_attachments(rcpt, "any", "three\n",
                                   [("a.exe", small_exe, "application",
                                     "octet-stream"),
                                    ("big.dat", big, "application",
                                     "octet-stream"),
                                    ("small.dat", small, "application",
                                     "octet-stream")]), [rcpt])
        got = parse(strip_delivery(self.wait_mail(rcpt)))
        names = parts_by_name(got)
        self.assertEqual(set(names), {"small.dat"})
        self.assertEqual(names["small.dat"].get_content(), small)
        notes = " ".join(p.get_content() for p in got.walk()
                         if p.get_content_type() == "text/plain" and
                         "removed" in p.get_content())
        self.assertIn('"a.exe"', notes)
        self.assertIn('"big.dat"', notes)

    # --- notify_recipients ---------------------------------------------------

    def test_notify_recipients_names_stripped_attachment(self):
        rcpts = ["cnr-a@localhost", "cnr-b@localhost"]
        pdf = b"%PDF-1.4\n" + pseudo_random(2000, 61)
        m = with_attachments(", ".join(rcpts), "files for you",
                             "two files\n",
                             [("請求書.exe", pseudo_random(1000, 62),
                               "application", "octet-stream"),
                              ("manual.pdf", pdf, "application", "pdf")])
        qid = self.send(m, rcpts)
        self.wait_settled(qid)
        for r in rcpts:
            mails = self.wait_mails(r, 2)
            self.assertEqual(len(mails), 2, r)
            notes = [d for d in mails if d.startswith(b"Return-Path: <>")]
            self.assertEqual(len(notes), 1, r)
            delivered = [d for d in mails if d not in notes][0]
            names = parts_by_name(parse(strip_delivery(delivered)))
            self.assertEqual(set(names), {"manual.pdf"}, r)
            self.assertEqual(names["manual.pdf"].get_content(), pdf)
            n = parse(strip_delivery(notes[0]))
            tos = [a.strip() for a in header_values(
                strip_delivery(notes[0]), "To")[0].split(",")]
            self.assertEqual(sorted(tos), sorted(rcpts))
            self.assertEqual(decoded_subject(strip_delivery(notes[0])),
                             "Attachment removed: files for you")
            text = n.get_body(("plain",)).get_content()
            removed = [ln for ln in text.split("\n")
                       if ln.strip().startswith("Removed:")]
            self.assertEqual(len(removed), 1, text)
            self.assertEqual(removed[0].split(":", 1)[1].strip(),
                             "請求書.exe", text)
            self.assertNotIn("manual.pdf", text)
            self.assertIn('"c strip and tell"', text)
            self.assertIn(qid, text)

    def test_notify_recipients_names_the_removed_archive(self):
        """A member matched inside an archive removes the whole archive;
        the notice must name what the recipient lost (the archive), not
        only the member the rule matched."""
        rcpt = "cnr-zip@localhost"
        z = zip_bytes({"bin/tool.exe": pe_executable(),
                       "docs/manual.txt": b"the manual\n"})
        qid = self.send(with_attachments(rcpt, "tools", "a zip\n",
                                         [("tools.zip", z, "application",
                                           "zip")]), [rcpt])
        self.wait_settled(qid)
        mails = self.wait_mails(rcpt, 2)
        notes = [d for d in mails if d.startswith(b"Return-Path: <>")]
        self.assertEqual(len(notes), 1)
        delivered = parse(strip_delivery(
            [d for d in mails if d not in notes][0]))
        self.assertEqual(set(parts_by_name(delivered)), set(),
                         "the archive is removed")
        text = parse(strip_delivery(notes[0])).get_body(("plain",)) \
            .get_content()
        removed = [ln for ln in text.split("\n")
                   if ln.strip().startswith("Removed:")]
        self.assertEqual(len(removed), 1, text)
        self.assertIn("tools.zip", removed[0],
                      "the notice names only the member: %r" % removed[0])

    # --- one message, several outcomes ---------------------------------------

    def test_recipients_in_different_groups_each_one_outcome(self):
        rcpts = ["cmix-q@localhost", "cmix-t@localhost", "cmix-d@localhost",
                 "cmix-p@localhost"]
        content = msg(", ".join(rcpts), "mixed outcomes", "one message\r\n",
                      extra=[("Message-ID", "<cmix@sender.test>")])
        qid = self.send(content, rcpts)
        ev = self.wait_settled(qid)
        # Maildir.
        self.assertEqual(decoded_subject(strip_delivery(
            self.wait_mail("cmix-t@localhost"))), "[mix] mixed outcomes")
        self.assertEqual(original(self.wait_mail("cmix-p@localhost")),
                         content)
        self.assertEqual(self.mails("cmix-q@localhost"), [])
        self.assertEqual(self.mails("cmix-d@localhost"), [])
        self.assertEqual(len(self.mails("cmix-t@localhost")), 1)
        self.assertEqual(len(self.mails("cmix-p@localhost")), 1)
        # The quarantine store: one entry, for cmix-q only, the original.
        entries = self.quarantined_for(qid)
        self.assertEqual(len(entries), 1, entries)
        self.assertEqual(entries[0]["info"]["area"], "cmixarea")
        self.assertEqual(entries[0]["info"]["rule"], "c mix quarantine")
        self.assertEqual([r[0] for r in entries[0]["env"]["rcpt"]],
                         ["cmix-q@localhost"])
        self.assertEqual(split_received(entries[0]["msg"])[1], content)
        # The tracking log: one scan verdict per recipient.
        scanned = {}
        for e in ev:
            if e["event"] == "scanned":
                self.assertNotIn(e["rcpt"], scanned, ev)
                scanned[e["rcpt"]] = e["action"]
        self.assertEqual(scanned, {
            "cmix-q@localhost": "Quarantined (cmixarea)",
            "cmix-t@localhost": "Delivered",
            "cmix-d@localhost": "Deleted",
            "cmix-p@localhost": "Passed sekisho scan"})
        # The summary: per recipient exactly one outcome, following the
        # copies made under new queue ids.
        final = self.summary_outcomes(qid, ev)
        self.assertEqual({r: o for r, (o, _) in final.items()}, {
            "cmix-q@localhost": "quarantined",
            "cmix-t@localhost": "delivered",
            "cmix-d@localhost": "deleted",
            "cmix-p@localhost": "delivered"})
        self.assertEqual(final["cmix-q@localhost"][1],
                         "Quarantined (cmixarea)")
        self.assertEqual(final["cmix-t@localhost"][1], "Delivered")
        self.assertEqual(final["cmix-d@localhost"][1], "Deleted")

    def summary_outcomes(self, qid, ev):
        """{rcpt: (outcome, scan verdict)} from sekishoctl log query
        --messages of qid and of every copy made from it; a recipient's
        "scanned" row whose copy went on under another id is followed."""
        ids = {qid}
        for e in ev:
            mm = re.match(r"^queued as ([0-9a-f]{16})", e.get("detail") or "")
            if e["event"] == "scanned" and mm:
                ids.add(mm.group(1))
        rows = []
        for q in sorted(ids):
            rows += [r for r in self.events("--messages", "--qid", q)
                     if r.get("rcpt")]
        final = {}
        for r in rows:
            if r["outcome"] == "scanned" and (r.get("detail") or "") \
                    .startswith("queued as "):
                continue
            self.assertNotIn(r["rcpt"], final, rows)
            final[r["rcpt"]] = (r["outcome"], r["scan"])
        return final

    def test_summary_of_a_copy_under_a_new_id_has_its_scan_verdict(self):
        """A group delivered under a new queue id (not the first delivered
        group) was scanned like the others: its line in the --messages
        summary must carry the scan verdict, not "not scanned"."""
        rcpts = ["cmix-t@localhost", "cmix-p@localhost"]
        qid = self.send(msg(", ".join(rcpts), "copy verdict"), rcpts)
        ev = self.wait_settled(qid)
        final = self.summary_outcomes(qid, ev)
        self.assertEqual(final, {
            "cmix-t@localhost": ("delivered", "Delivered"),
            "cmix-p@localhost": ("delivered", "Passed sekisho scan")})
        r = self.suite.run("sekishoctl", "-c", self.suite.confdir, "log",
                           "query", "--messages", "--to", "cmix-p")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("not scanned", r.stdout)

    # --- malformed MIME ------------------------------------------------------

    def malformed_cases(self, kw):
        """{rcpt suffix: message bytes} of broken messages; kw (bytes) is
        where a reader would see it (None: no keyword)."""
        def with_kw(text):
            return text.replace(b"@KW@", kw) if kw else \
                text.replace(b"@KW@", b"nothing")
        b64 = _b64(b"attachment text @KW@ inside\n".replace(
            b"@KW@", kw or b"nothing"))
        lines = b64.split(b"\r\n")
        bad_b64 = lines[0][:8] + b"!!*\x01" + lines[0][8:] + b"\r\n" + \
            b"\r\n".join(lines[1:]) + b"=\r\n"
        return {
            # The closing boundary is missing; the keyword is in the
            # last part.
            "noend": with_kw(
                b"From: a@sender.test\r\nTo: x\r\nSubject: no end\r\n"
                b"MIME-Version: 1.0\r\n"
                b"Content-Type: multipart/mixed; boundary=\"B1\"\r\n\r\n"
                b"--B1\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n"
                b"--B1\r\nContent-Type: text/plain\r\n\r\n"
                b"second part @KW@\r\n"),
            # Base64 with characters outside the alphabet, broken padding.
            "badb64": (b"From: a@sender.test\r\nTo: x\r\n"
                       b"Subject: bad base64\r\nMIME-Version: 1.0\r\n"
                       b"Content-Type: multipart/mixed; boundary=B2\r\n\r\n"
                       b"--B2\r\nContent-Type: text/plain\r\n\r\nsee file\r\n"
                       b"--B2\r\nContent-Type: text/plain; name=a.txt\r\n"
                       b"Content-Disposition: attachment; filename=a.txt\r\n"
                       b"Content-Transfer-Encoding: base64\r\n\r\n" +
                       bad_b64 + b"--B2--\r\n"),
            # A header line without a colon in the header section.
            "nocolon": with_kw(
                b"From: a@sender.test\r\nTo: x\r\n"
                b"this line has no colon\r\n"
                b"Subject: no colon\r\n\r\nbody @KW@\r\n"),
            # NUL bytes around the keyword.
            "nul": with_kw(
                b"From: a@sender.test\r\nTo: x\r\nSubject: nul\r\n\r\n"
                b"a\x00b\x00 @KW@ \x00\x00\r\nmore\x00\r\n"),
            # 8-bit bytes (Shift_JIS) in header fields, keyword in the
            # body.
            "hdr8bit": with_kw(
                b"From: " + "山田".encode("shift_jis") +
                b" <a@sender.test>\r\nTo: x\r\nSubject: " +
                "お知らせ".encode("shift_jis") + b"\r\n"
                b"X-Junk: \xff\xfe\x80\r\n\r\nbody @KW@\r\n"),
            # A Content-Type with a broken parameter list and a nested
            # multipart that never ends.
            "nested": with_kw(
                b"From: a@sender.test\r\nTo: x\r\nSubject: nested\r\n"
                b"MIME-Version: 1.0\r\n"
                b"Content-Type: multipart/mixed; boundary=\"O\"; ;;=\r\n\r\n"
                b"--O\r\nContent-Type: multipart/alternative; boundary=I\r\n"
                b"\r\n--I\r\nContent-Type: text/html; charset=\"\r\n\r\n"
                b"<p>@KW@</p>\r\n--I\r\n"),
        }

    def test_malformed_messages_are_scanned(self):
        """Broken MIME is still analysed: the keyword is found and the
        rule quarantines; nothing is delivered unscanned."""
        kw_ascii = b"SEKISHO-MALFORMED-KW"
        cases = self.malformed_cases(kw_ascii)
        # A Japanese keyword in a raw Shift_JIS Subject (8-bit header).
        cases["sjissubj"] = (b"From: a@sender.test\r\nTo: x\r\nSubject: " +
                             "至急送金のお願い".encode("shift_jis") +
                             b"\r\n\r\nplain body\r\n")
        qids = {}
        for name, content in cases.items():
            rcpt = "cmal-%s@localhost" % name
            qids[name] = self.send(content, [rcpt])
        clean = self.malformed_cases(None)
        cqids = {}
        for name, content in clean.items():
            rcpt = "cmal-clean-%s@localhost" % name
            cqids[name] = self.send(content, [rcpt])
        missed = []
        for name, qid in qids.items():
            try:
                entries = self.wait_quarantined(qid, "cmalformed",
                                                timeout=15)
            except AssertionError:
                missed.append(name)
                continue
            self.assertEqual(entries[0]["info"]["rule"],
                             "c malformed keyword")
            # The original bytes are held (CRLF as spooled).
            stored = split_received(entries[0]["msg"])[1]
            self.assertEqual(stored.replace(b"\r\n", b"\n"),
                             cases[name].replace(b"\r\n", b"\n"), name)
        limits = {}
        for name, qid in qids.items():
            ev = self.wait_settled(qid)
            self.assertEqual(self.mails("cmal-%s@localhost" % name), [],
                             "%s delivered" % name)
            limits[name] = " ".join(e["detail"] or "" for e in ev
                                    if e["event"] == "scanned")
        # The structural faults are reported as such (scan_limits
        # malformed, the "limits=" detail of the scan record).
        for name in ("noend", "badb64", "nocolon", "nested"):
            self.assertIn("malformed", limits[name], name)
        self.assertEqual(missed, [], "keyword not found in malformed "
                         "messages")
        # Without the keyword they are delivered, after a scan.
        for name, qid in cqids.items():
            self.wait_mail("cmal-clean-%s@localhost" % name)
            ev = self.wait_settled(qid)
            kinds = [e["event"] for e in ev]
            self.assertIn("scanned", kinds, name)
            self.assertLess(kinds.index("scanned"), kinds.index("delivered"),
                            name)
            self.assertEqual(self.quarantined_for(qid), [], name)


# =============================================================================
# order: every rule of this policy sets it.
# =============================================================================

RULES_ORDER = r"""
[rule "o thirty"]
order = 30
recipients = cord-*@localhost
tag_subject = [30]
intercept = quarantine late

[rule "o ten"]
order = 10
recipients = cord-*@localhost
subject = pattern: HOLD
tag_subject = [10]
intercept = quarantine early

[rule "o twenty"]
order = 20
recipients = cord-*@localhost
tag_subject = [20]

[rule "o tag c"]
order = 300
recipients = cordt-*@localhost
tag_subject = [c]

[rule "o tag a"]
order = 100
recipients = cordt-*@localhost
tag_subject = [a]

[rule "o tag b"]
order = 200
recipients = cordt-*@localhost
tag_subject = [b]
"""


class TestOrder(ScanCase):
    RULES = RULES_ORDER

    def test_order_decides_the_intercept(self):
        """The first counting rule (by order, not by file position) with
        an intercept decides; later ones are recorded, not applied."""
        hold = msg("cord-a@localhost", "HOLD this")
        q1 = self.send(hold, ["cord-a@localhost"])
        entries = self.wait_quarantined(q1)
        self.assertEqual(len(entries), 1, entries)
        self.assertEqual(entries[0]["info"]["area"], "early")
        self.assertEqual(entries[0]["info"]["rule"], "o ten")
        ev = self.wait_settled(q1)
        self.assertEqual([e["rule"] for e in ev
                          if e["event"] == "rule_matched"],
                         ["o ten", "o twenty", "o thirty"])
        self.assertEqual([e["action"] for e in ev
                          if e["event"] == "scanned"],
                         ["Quarantined (early)"])
        self.assertEqual(self.mails("cord-a@localhost"), [])
        # Without the subject, rule 10 does not count: 30 decides.
        other = msg("cord-b@localhost", "other")
        q2 = self.send(other, ["cord-b@localhost"])
        entries = self.wait_quarantined(q2)
        self.assertEqual(entries[0]["info"]["area"], "late")
        self.assertEqual(entries[0]["info"]["rule"], "o thirty")
        self.wait_settled(q2)

    def test_order_sorts_the_tags(self):
        rcpt = "cordt-a@localhost"
        self.send(msg(rcpt, "ordered"), [rcpt])
        self.assertEqual(decoded_subject(strip_delivery(
            self.wait_mail(rcpt))), "[a] [b] [c] ordered")


# =============================================================================
# What the policy check refuses (sekisho-scanner -n, no daemons).
# =============================================================================

@unittest.skipUnless(os.path.exists(os.path.join(BIN, "sekisho-scanner")),
                     "sekisho-scanner is not built")
class TestPolicyCheck(unittest.TestCase):
    def check(self, rules):
        s = Suite(tmp_prefix="sekisho-polchk-")
        self.addCleanup(s.close)
        s.set_rules(rules)
        r = s.run("sekisho-scanner", "-n", "-c", s.confdir)
        return r.returncode, r.stdout + r.stderr

    def assertRefused(self, rules, *needles):
        rc, out = self.check(rules)
        self.assertNotEqual(rc, 0, out)
        for n in needles:
            self.assertIn(n, out)
        self.assertRegex(out, r"policy\.ini:\d+: ")
        return out

    def test_valid_policy_passes(self):
        rc, out = self.check(RULES_ORDER)
        self.assertEqual(rc, 0, out)

    def test_empty_subject_no_is_refused(self):
        """empty_subject takes only yes: a "no" that silently meant yes
        (or nothing) would change what the rule does."""
        self.assertRefused('[rule "x"]\nempty_subject = no\n'
                           'tag_subject = [x]\n', "empty_subject")

    def test_order_on_some_rules_only_is_refused(self):
        self.assertRefused('[rule "a"]\norder = 1\ntag_subject = [a]\n\n'
                           '[rule "b"]\ntag_subject = [b]\n', "order")

    def test_same_order_twice_is_refused(self):
        self.assertRefused('[rule "a"]\norder = 5\ntag_subject = [a]\n\n'
                           '[rule "b"]\norder = 5\ntag_subject = [b]\n',
                           "order")

    def test_bad_and_unknown_keys_are_refused(self):
        out = self.assertRefused('[rule "a"]\nspam_score = >= 5\n'
                                 'tag_subject = [a]\n', "unknown key")
        self.assertIn("spam_score", out)
        self.assertRefused('[rule "a"]\nspam = >= 5\n', "spam: expected")
        self.assertRefused('[rule "b"]\nvirus = no\n', "virus: expected")
        self.assertRefused('[rule "c"]\nbodyy = pattern: x\n', "bodyy")

    def test_bad_scope_values_are_refused(self):
        self.assertRefused('[rule "a"]\ndirection = sideways\n', "direction")
        self.assertRefused('[rule "a"]\nmatch = most\n', "match")
        self.assertRefused('[rule "a"]\nsenders = nobody\n', "senders")
        self.assertRefused('[rule "a"]\nattachment_in_archive = maybe\n',
                           "attachment_in_archive")
        self.assertRefused('[rule "a"]\nrecipient_count = > 5\n',
                           "recipient_count")


if __name__ == "__main__":
    unittest.main()
