"""Signed configuration bundles end to end through sekishoctl (issue 9,
central controller; docs/central.md): two configuration directories in
a temporary directory stand for the controller and a scanner host.

The controller makes a key pair and a bundle of its configuration; the
host verifies and applies it atomically, keeps its own scanner_ip_addr
(seed 21) and paths, and refuses a tampered, replayed, foreign-key or
invalid bundle without changing a file.  A rollback puts back the
files the last apply replaced, once, and does not reopen replays.
"""

import os
import shutil
import stat
import subprocess
import tempfile
import unittest

from harness import BIN, ETC, ini_set, tree_digest



class BundleTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sekisho-bundle-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.ctl = self.confdir("controller", "127.0.0.1")
        self.host = self.confdir("host", "127.0.0.2")
        self.keys = os.path.join(self.tmp, "keys")
        r = self.run_ctl("config", "keygen", self.keys)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.priv = os.path.join(self.keys, "bundle.key")
        self.pub = os.path.join(self.keys, "bundle.pub")

    def confdir(self, name, ip):
        """A copy of etc/ with its own paths and scanner_ip_addr."""
        d = os.path.join(self.tmp, name)
        shutil.copytree(ETC, d)
        p = os.path.join(d, "imss.ini")
        with open(p) as f:
            text = f.read()
        text = ini_set(text, "general", "data_dir",
                       os.path.join(self.tmp, name + "-data"))
        text = ini_set(text, "general", "run_dir",
                       os.path.join(self.tmp, name + "-run"))
        text = ini_set(text, "imss_manager", "scanner_ip_addr", ip)
        with open(p, "w") as f:
            f.write(text)
        return d

    def run_ctl(self, *args):
        return subprocess.run([os.path.join(BIN, "sekishoctl")] + list(args),
                              capture_output=True, text=True, timeout=60)

    def edit(self, d, name, section, key, value):
        p = os.path.join(d, name)
        with open(p) as f:
            text = f.read()
        with open(p, "w") as f:
            f.write(ini_set(text, section, key, value))

    def create(self, version, out=None):
        out = out or os.path.join(self.tmp, "b%d" % version)
        r = self.run_ctl("-c", self.ctl, "config", "bundle", "create",
                         "--key", self.priv, "--version", str(version),
                         "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        return out

    def apply(self, path, pub=None):
        return self.run_ctl("-c", self.host, "config", "bundle", "apply",
                            "--pubkey", pub or self.pub, path)

    def get(self, d, *key):
        r = self.run_ctl("-c", d, "config", "get", *key)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def test_keygen_private_key_is_0600(self):
        self.assertEqual(stat.S_IMODE(os.stat(self.priv).st_mode), 0o600)
        r = self.run_ctl("config", "keygen", self.keys)
        self.assertEqual(r.returncode, 1)
        self.assertIn("exists", r.stderr)

    def test_seed21_apply_keeps_host_scanner_ip_addr(self):
        self.edit(self.ctl, "tsmtpd.ini", "SmtpServer", "Port", "2599")
        with open(os.path.join(self.ctl, "keywords", "casino.txt"),
                  "w") as f:
            f.write("casino\n")
        b = self.create(1)
        r = self.run_ctl("config", "bundle", "verify", "--pubkey", self.pub, b)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("valid bundle version 1", r.stdout)
        self.assertIn("keywords/casino.txt", r.stdout)
        self.assertNotIn("tls/", r.stdout)
        r = self.apply(b)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("applied bundle version 1", r.stdout)
        r = self.run_ctl("-c", self.host, "config", "check")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.get(self.host, "tsmtpd.ini", "SmtpServer",
                                  "Port"), "2599")
        self.assertTrue(os.path.exists(
            os.path.join(self.host, "keywords", "casino.txt")))
        # The host's own keys stay its own.
        self.assertEqual(self.get(self.host, "imss.ini", "imss_manager",
                                  "scanner_ip_addr"), "127.0.0.2")
        self.assertEqual(self.get(self.host, "imss.ini", "general",
                                  "data_dir"),
                         os.path.join(self.tmp, "host-data"))
        with open(os.path.join(self.host, ".bundle-version")) as f:
            self.assertEqual(f.read(), "1\n")
        # The same bundle again is a replay; a newer one applies.
        r = self.apply(b)
        self.assertEqual(r.returncode, 1)
        self.assertIn("replay refused", r.stderr)
        r = self.apply(self.create(2))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_tampered_bundle_refused_host_unchanged(self):
        b = self.create(5)
        with open(b, "rb") as f:
            data = bytearray(f.read())
        before = tree_digest(self.host)
        for off in (20, len(data) // 2, len(data) - 1):
            data[off] ^= 0x20
            bad = os.path.join(self.tmp, "bad")
            with open(bad, "wb") as f:
                f.write(bytes(data))
            data[off] ^= 0x20
            r = self.apply(bad)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertIn("refused", r.stderr)
        # Truncated, and without its signature.
        for n in (len(data) - 66, len(data) // 3):
            with open(bad, "wb") as f:
                f.write(bytes(data[:n]))
            r = self.apply(bad)
            self.assertEqual(r.returncode, 1)
            self.assertIn("refused", r.stderr)
        self.assertEqual(tree_digest(self.host), before)
        self.assertFalse(os.path.exists(
            os.path.join(self.host, ".bundle-version")))

    def test_unknown_key_refused(self):
        b = self.create(1)
        r = self.run_ctl("config", "keygen", os.path.join(self.tmp, "k2"))
        self.assertEqual(r.returncode, 0, r.stderr)
        before = tree_digest(self.host)
        r = self.apply(b, os.path.join(self.tmp, "k2", "bundle.pub"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown key", r.stderr)
        self.assertEqual(tree_digest(self.host), before)

    def test_invalid_policy_refused_old_config_stays(self):
        # conf_load accepts it (rules are the scanner's); the apply's
        # policy check does not.
        with open(os.path.join(self.ctl, "policy.ini"), "a") as f:
            f.write('\n[rule "broken"]\nenabled=maybe\n')
        b = self.create(3)
        before = tree_digest(self.host)
        r = self.apply(b)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"refused: .*policy\.ini:\d+: enabled")
        self.assertEqual(tree_digest(self.host), before)
        # Nothing left beside it: no stage, no rollback copy.
        self.assertEqual([n for n in os.listdir(self.tmp)
                          if n.startswith(".host.")], [])

    def test_usage_errors_exit_2(self):
        for args in (["config", "bundle"], ["config", "bundle", "frob"],
                     ["config", "keygen"],
                     ["config", "bundle", "create", "--version", "1"],
                     ["config", "bundle", "create", "--key", self.priv,
                      "--version", "zero"],
                     ["config", "bundle", "apply", "somefile"],
                     ["config", "bundle", "verify", "--pubkey"],
                     ["config", "bundle", "rollback", "extra"]):
            r = self.run_ctl("-c", self.ctl, *args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn("usage", r.stderr)

    def test_rollback_restores_previous_once_and_keeps_floor(self):
        rollback = ("-c", self.host, "config", "bundle", "rollback")
        r = self.run_ctl(*rollback)
        self.assertEqual(r.returncode, 1)
        self.assertIn("nothing to roll back", r.stderr)
        self.edit(self.ctl, "tsmtpd.ini", "SmtpServer", "Port", "2601")
        b1 = self.create(1)
        self.assertEqual(self.apply(b1).returncode, 0)
        self.edit(self.ctl, "tsmtpd.ini", "SmtpServer", "Port", "2602")
        with open(os.path.join(self.ctl, "keywords", "v2.txt"), "w") as f:
            f.write("casino\n")
        b2 = self.create(2)
        r = self.apply(b2)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_ctl(*rollback)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("rolled back to bundle version 1", r.stdout)
        self.assertEqual(self.get(self.host, "tsmtpd.ini", "SmtpServer",
                                  "Port"), "2601")
        self.assertFalse(os.path.exists(
            os.path.join(self.host, "keywords", "v2.txt")))
        self.assertEqual(self.get(self.host, "imss.ini", "imss_manager",
                                  "scanner_ip_addr"), "127.0.0.2")
        with open(os.path.join(self.host, ".bundle-version")) as f:
            self.assertEqual(f.read(), "1\n")
        r = self.run_ctl("-c", self.host, "config", "check")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([n for n in os.listdir(self.tmp)
                          if n.startswith(".host.")], [])
        # Once only; and neither superseded bundle applies again.
        before = tree_digest(self.host)
        r = self.run_ctl(*rollback)
        self.assertEqual(r.returncode, 1)
        self.assertIn("nothing to roll back", r.stderr)
        for b in (b2, b1):
            r = self.apply(b)
            self.assertEqual(r.returncode, 1)
            self.assertIn("replay refused", r.stderr)
        self.assertEqual(tree_digest(self.host), before)
        r = self.apply(self.create(3))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.get(self.host, "tsmtpd.ini", "SmtpServer",
                                  "Port"), "2602")

    def test_private_key_readable_by_others_refused(self):
        os.chmod(self.priv, 0o644)
        r = self.run_ctl("-c", self.ctl, "config", "bundle", "create",
                         "--key", self.priv, "--version", "1", "-o",
                         os.path.join(self.tmp, "b"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("chmod 600", r.stderr)


if __name__ == "__main__":
    unittest.main()
