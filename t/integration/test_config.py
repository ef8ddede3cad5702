"""Configuration checking from the outside: sekishoctl config check/get
and sekisho-smtpd -n (issue 2; DESIGN.md section 5).

Every problem is reported as "file:line: message"; unknown keys are
warnings, invalid values make the check fail.
"""

import os
import re
import socket
import unittest

from harness import BIN, ETC, Suite, SuiteTestCase


def line_of(text, needle):
    """1-based number of the first line of text that starts with needle."""
    for i, ln in enumerate(text.splitlines(), 1):
        if ln.startswith(needle):
            return i
    raise AssertionError("%r not in file" % needle)


def have_smtpd():
    return os.access(os.path.join(BIN, "sekisho-smtpd"), os.X_OK)


class SekishoctlConfigTest(SuiteTestCase):

    def check(self):
        return self.suite.run("sekishoctl", "-c", self.suite.confdir,
                              "config", "check")

    def test_shipped_etc_is_valid(self):
        r = self.suite.run("sekishoctl", "-c", ETC, "config", "check")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotRegex(r.stderr, r"tsmtpd\.ini:\d+:|imss\.ini:\d+:")
        # The suite's generated copy (temporary paths, TLS pair) as well.
        r = self.check()
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_out_of_range_value_is_an_error_with_file_and_line(self):
        self.suite.smtpd_config(RecvBufferSize="8000")
        n = line_of(self.suite.read("tsmtpd.ini"), "RecvBufferSize=8000")
        r = self.check()
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"(^|\n|/)tsmtpd\.ini:%d: RecvBufferSize: "
                         r"8000 is out of range" % n)

    def test_wrong_type_is_an_error_with_file_and_line(self):
        self.suite.smtpd_config(MaxRcptPerMsg="many")
        n = line_of(self.suite.read("tsmtpd.ini"), "MaxRcptPerMsg=many")
        r = self.check()
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"tsmtpd\.ini:%d: .*MaxRcptPerMsg" % n)

    def test_unknown_key_is_a_warning_with_file_and_line(self):
        self.suite.smtpd_config(NoSuchKey="1")
        n = line_of(self.suite.read("tsmtpd.ini"), "NoSuchKey=1")
        r = self.check()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"tsmtpd\.ini:%d: .*NoSuchKey" % n)

    def test_syntax_error_reports_file_and_line(self):
        text = self.suite.read("tsmtpd.ini").replace(
            "[SmtpServer]\n", "[SmtpServer]\nthis line has no equals sign\n",
            1)
        self.suite.write("tsmtpd.ini", text)
        n = line_of(text, "this line has no equals sign")
        r = self.check()
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"tsmtpd\.ini:%d: " % n)

    def test_config_get_prints_defaults(self):
        def get(*a):
            r = self.suite.run("sekishoctl", "-c", self.suite.confdir,
                               "config", "get", *a)
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stdout.strip()
        # Absent (commented out) in the shipped file: the defaults.
        self.assertEqual(get("tsmtpd.ini", "SmtpServer", "MaxRcptPerMsg"),
                         "100")
        self.assertEqual(get("tsmtpd.ini", "SmtpServer", "RecvBufferSize"),
                         "8196")
        # Case-insensitive section and key names.
        self.assertEqual(get("tsmtpd.ini", "smtpserver", "maxrcptpermsg"),
                         "100")

    def test_config_get_resolves_relative_paths_against_confdir(self):
        def get(*a):
            r = self.suite.run("sekishoctl", "-c", self.suite.confdir,
                               "config", "get", *a)
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stdout.strip()
        conf = os.path.realpath(self.suite.confdir)
        v = get("tsmtpd.ini", "SmtpServer", "TlsCertFile")
        self.assertTrue(os.path.isabs(v), v)
        self.assertEqual(os.path.realpath(v),
                         os.path.join(conf, "tls", "server.crt"))
        self.suite.set("imss.ini", "general", "data_dir", "somedata")
        v = get("imss.ini", "general", "data_dir")
        self.assertTrue(os.path.isabs(v), v)
        self.assertEqual(os.path.realpath(v), os.path.join(conf, "somedata"))


@unittest.skipUnless(have_smtpd(), "sekisho-smtpd not built")
class SmtpdCheckTest(SuiteTestCase):

    def check(self):
        return self.suite.run("sekisho-smtpd", "-n", "-c", self.suite.confdir)

    def test_n_accepts_a_good_configuration(self):
        r = self.check()
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_n_reports_the_same_file_line_as_sekishoctl(self):
        self.suite.smtpd_config(RecvBufferSize="8000")
        n = line_of(self.suite.read("tsmtpd.ini"), "RecvBufferSize=8000")
        r = self.check()
        self.assertEqual(r.returncode, 1, r.stderr)
        pat = r"\S*tsmtpd\.ini:%d: RecvBufferSize: 8000 is out of range.*" % n
        self.assertRegex(r.stderr, pat)
        c = self.suite.run("sekishoctl", "-c", self.suite.confdir, "config",
                           "check")
        self.assertEqual(re.search(pat, r.stderr).group(0),
                         re.search(pat, c.stderr).group(0))

    def test_n_fails_when_tls_certificate_is_missing(self):
        self.suite.smtpd_config(TlsCertFile="tls/missing.crt")
        r = self.check()
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("tsmtpd.ini", r.stderr)
        self.assertIn("TlsCertFile", r.stderr)

    def test_n_accepts_missing_certificate_when_ssl_is_disabled(self):
        self.suite.smtpd_config(TlsCertFile="tls/missing.crt",
                                TlsKeyFile="tls/missing.key",
                                DisableSvrSSLSupport="1")
        r = self.check()
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_n_creates_no_spool_and_binds_no_port(self):
        # Hold the configured port: an -n that tried to bind would fail.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            self.suite.smtpd_config(BindAddress="127.0.0.1", Port=port,
                                    SmtpsPort=0)
            r = self.check()
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.listdir(self.suite.data_dir), [])
        self.assertEqual(os.listdir(self.suite.run_dir), [])


class ConfigDirTest(unittest.TestCase):
    """A missing configuration directory is an error, not a crash."""

    def test_missing_confdir_fails_cleanly(self):
        s = Suite()
        self.addCleanup(s.close)
        r = s.run("sekishoctl", "-c", os.path.join(s.dir, "nope"), "config",
                  "check")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("nope", r.stderr)


if __name__ == "__main__":
    unittest.main()
