"""sekisho-manager's administration console and JSON API over HTTPS
(docs/manager.md "Console and JSON API").

The manager runs with fake services (shell scripts in a bin directory of
the test's own, as test_manager.py does) so that a restart is quick; the
console is a real HTTPS server on a free loopback port, with an
administrator made by sekishoctl console passwd.  Python's http.client
speaks to it without checking the self-signed certificate.
"""

import base64
import http.client
import json
import os
import pwd
import socket
import ssl
import stat
import time

from harness import (SuiteTestCase, free_port, is_root, proc_children,
                     proc_status, wait_for)

# A service that runs until SIGTERM.
SLEEPER = """#!/bin/sh
echo "sleeper $$ runs: $*"
trap 'exit 0' TERM
while :; do sleep 0.1; done
"""

PASSWORD = "correct horse battery"

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; "
    "connect-src 'self'; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000",
    "Cache-Control": "no-store",
}


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


class ConsoleCase(SuiteTestCase):

    def setUp(self):
        super().setUp()
        s = self.suite
        s.set("imss.ini", "imss_manager", "notify_interval_mins", "0")
        self.port = free_port()
        s.set("imss.ini", "imss_manager", "console_port", str(self.port))
        self.fake = os.path.join(s.dir, "fakebin")
        os.makedirs(self.fake)
        path = os.path.join(self.fake, "sekisho-scanner")
        with open(path, "w") as f:
            f.write(SLEEPER)
        os.chmod(path, 0o755)
        s.set("imss.ini", "imss_manager", "services", "scanner")

    def ctl(self, *args, input=None):
        return self.suite.run("sekishoctl", "-c", self.suite.confdir, *args,
                              input=input)

    def passwd(self, name, password=PASSWORD):
        r = self.ctl("console", "passwd", name, "--stdin",
                     input=password + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def start(self):
        m = self.suite.start_manager(bindir=self.fake, service_stop_timeout=5)
        wait_for(lambda: "event=console-listening" in m.log(), 10,
                 what="the console listens")
        wait_for(lambda: "sleeper" in self.suite.service_log("scanner"), 10,
                 what="the fake scanner runs")
        return m

    def request(self, method, path, user="admin", password=PASSWORD,
                headers=None, body=None, auth=True):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        h = dict(headers or {})
        if auth:
            tok = base64.b64encode(("%s:%s" % (user, password)).encode())
            h["Authorization"] = "Basic " + tok.decode()
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx,
                                        timeout=30)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return Reply(r.status, r.headers, r.read().decode())
        finally:
            c.close()

    def post(self, path, **kw):
        h = {"X-Sekisho-Request": "1"}
        h.update(kw.pop("headers", {}))
        return self.request("POST", path, headers=h, **kw)

    def console_pid(self, m):
        pids = proc_children(m.pid).get("manager.console", [])
        return pids[0] if len(pids) == 1 else None

    def assertSecurityHeaders(self, r):
        for k, v in SECURITY_HEADERS.items():
            self.assertEqual(r.headers.get(k), v, k)


class TestConsole(ConsoleCase):

    def test_api_auth_services_and_page(self):
        self.passwd("admin")
        users = os.path.join(self.suite.confdir, "console.users")
        self.assertEqual(stat.S_IMODE(os.stat(users).st_mode), 0o600)
        m = self.start()
        self.assertIn("event=console-listening address=127.0.0.1 port=%d"
                      % self.port, m.log())

        # Without credentials, and with wrong ones: 401 and the realm.
        r = self.request("GET", "/api/v1/status", auth=False)
        self.assertEqual(r.status, 401)
        self.assertEqual(r.headers["WWW-Authenticate"],
                         'Basic realm="sekisho", charset="UTF-8"')
        self.assertSecurityHeaders(r)
        r = self.request("GET", "/api/v1/status", password="wrong password")
        self.assertEqual(r.status, 401)
        r = self.request("GET", "/api/v1/status", user="nobody")
        self.assertEqual(r.status, 401)
        wait_for(lambda: "event=console-login-failed user=nobody "
                 "peer=127.0.0.1" in m.log(), 5, what="the failure logged")

        # The version, and the status with the services.
        r = self.request("GET", "/api/v1/version")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers["Content-Type"],
                         "application/json; charset=utf-8")
        self.assertSecurityHeaders(r)
        self.assertIn("product", r.json())
        r = self.request("GET", "/api/v1/status")
        self.assertEqual(r.status, 200, r.body)
        st = r.json()
        self.assertEqual((st["status"], st["message"]), (0, "1 service"))
        self.assertEqual([e["service"] for e in st["entries"]], ["scanner"])
        scanner = st["entries"][0]
        self.assertEqual(scanner["state"], "running")
        old = scanner["pid"]

        # A POST without the header a cross-site form cannot send: 403.
        r = self.request("POST", "/api/v1/services/scanner/restart")
        self.assertEqual(r.status, 403, r.body)
        self.assertEqual(self.request("GET", "/api/v1/status").json()
                         ["entries"][0]["pid"], old)
        # With it: restarted, answered when done.
        r = self.post("/api/v1/services/scanner/restart")
        self.assertEqual(r.status, 200, r.body)
        self.assertRegex(r.json()["message"], r"^scanner restarted: pid \d+")
        new = self.request("GET", "/api/v1/status").json()["entries"][0]
        self.assertEqual(new["state"], "running")
        self.assertNotEqual(new["pid"], old)
        wait_for(lambda: "event=console-request user=admin method=POST "
                 "path=/api/v1/services/scanner/restart status=200"
                 in m.log(), 5, what="the request logged")
        # Starting a running service does nothing; an unknown one is 400.
        r = self.post("/api/v1/services/scanner/start")
        self.assertEqual(r.status, 200, r.body)
        r = self.post("/api/v1/services/nosuch/stop")
        self.assertEqual(r.status, 400, r.body)
        self.assertIn("unknown service", r.json()["message"])
        # A POST takes no body, or an empty JSON object.
        r = self.post("/api/v1/reload", body=b'{"x": 1}',
                      headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 400, r.body)
        r = self.post("/api/v1/reload", body=b"{}",
                      headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.json()["message"].startswith("reloaded"))
        r = self.request("GET", "/api/v1/hosts")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["entries"], [])

        # Paths and methods.
        self.assertEqual(self.request("GET", "/api/v1/nothing").status, 404)
        self.assertEqual(self.request("GET", "/nothing").status, 404)
        self.assertEqual(self.request("PUT", "/api/v1/status").status, 405)
        self.assertEqual(self.request("DELETE", "/").status, 405)
        self.assertEqual(self.request("GET", "/api/v1/reload").status, 405)
        self.assertEqual(self.post("/api/v1/status").status, 405)
        # A body over 4096 bytes is refused by the HTTP layer (413, or the
        # connection closed); the console still answers.
        try:
            r = self.post("/api/v1/reload", body=b"x" * 5000)
            self.assertGreaterEqual(r.status, 400)
            self.assertLess(r.status, 500)
        except (ConnectionError, http.client.HTTPException, ssl.SSLError):
            pass
        self.assertEqual(self.request("GET", "/api/v1/version").status, 200)

        # A client that leaves before the answer: the answer is dropped,
        # the console goes on.
        pid = self.console_pid(m)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        tok = base64.b64encode(("admin:" + PASSWORD).encode()).decode()
        with ctx.wrap_socket(socket.create_connection(
                ("127.0.0.1", self.port))) as raw:
            raw.sendall(("POST /api/v1/services/scanner/restart HTTP/1.1\r\n"
                         "Host: x\r\nAuthorization: Basic %s\r\n"
                         "X-Sekisho-Request: 1\r\nContent-Length: 0\r\n"
                         "\r\n" % tok).encode())
            time.sleep(0.2)
        wait_for(lambda: m.log().count("path=/api/v1/services/scanner/"
                                       "restart status=200") == 2, 10,
                 what="the restart done")
        self.assertEqual(self.request("GET", "/api/v1/version").status, 200)
        self.assertEqual(self.console_pid(m), pid)

        # The page and its script, with the same headers.
        r = self.request("GET", "/", auth=False)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["Content-Type"], "text/html; charset=utf-8")
        self.assertIn('<script src="/console.js"', r.body)
        self.assertSecurityHeaders(r)
        r = self.request("GET", "/console.js", auth=False)
        self.assertEqual(r.status, 200)
        self.assertIn("X-Sekisho-Request", r.body)
        self.assertSecurityHeaders(r)

        # The console process: its name, its user.
        pid = self.console_pid(m)
        self.assertIsNotNone(pid, proc_children(m.pid))
        if is_root():
            uid = pwd.getpwnam("_sekisho-mgr").pw_uid
            self.assertEqual(proc_status(pid)["Uid"].split()[0], str(uid))
            self.assertEqual(os.readlink("/proc/%d/root" % pid),
                             os.path.join(self.suite.data_dir, "empty"))
        self.assertEqual(m.stop(), 0)
        self.assertIn("event=exit status=0", m.log())

    def test_lockout_after_ten_failures(self):
        self.passwd("admin")
        m = self.start()
        for _ in range(10):
            r = self.request("GET", "/api/v1/status", password="guess guess")
            self.assertEqual(r.status, 401)
        r = self.request("GET", "/api/v1/status", password="guess guess")
        self.assertEqual(r.status, 429)
        self.assertSecurityHeaders(r)
        # The right password is refused too, without being looked at.
        r = self.request("GET", "/api/v1/status")
        self.assertEqual(r.status, 429)
        self.assertIn("event=console-locked peer=127.0.0.1", m.log())
        # Pages outside the API are still served.
        self.assertEqual(self.request("GET", "/", auth=False).status, 200)

    def test_reload_restarts_console_with_new_administrators(self):
        self.passwd("admin")
        m = self.start()
        self.assertEqual(self.request("GET", "/api/v1/status",
                                      user="second").status, 401)
        old = self.console_pid(m)
        self.assertIsNotNone(old)
        r = self.passwd("second", "another long password")
        self.assertIn("added", r.stdout)
        self.assertIn("sekishoctl reload", r.stdout)
        r = self.ctl("console", "users")
        self.assertEqual(r.stdout.split(), ["admin", "second"])
        r = self.ctl("--json", "console", "users")
        self.assertEqual(json.loads(r.stdout), ["admin", "second"])
        # Nothing changes until the reload.
        self.assertEqual(self.console_pid(m), old)
        r = self.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: self.console_pid(m) not in (None, old), 10,
                 what="a new console process")
        wait_for(lambda: m.log().count("event=console-listening") == 2, 10,
                 what="the new console listens")
        r = self.request("GET", "/api/v1/status", user="second",
                         password="another long password")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.request("GET", "/api/v1/status").status, 200)
        # A reload that changes nothing of the console keeps it.
        pid = self.console_pid(m)
        self.assertEqual(self.ctl("reload").returncode, 0)
        time.sleep(1)
        self.assertEqual(self.console_pid(m), pid)
        # Removed, then reloaded: refused.
        r = self.ctl("console", "remove", "second")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.ctl("console", "remove", "second").returncode,
                         1)
        self.assertEqual(self.ctl("reload").returncode, 0)
        wait_for(lambda: self.console_pid(m) not in (None, pid), 10,
                 what="a new console process")
        wait_for(lambda: m.log().count("event=console-listening") == 3, 10,
                 what="the new console listens")
        self.assertEqual(self.request("GET", "/api/v1/status", user="second",
                                      password="another long password")
                         .status, 401)
        # A console that dies is started again.
        pid = self.console_pid(m)
        os.kill(pid, 9)
        wait_for(lambda: "event=console-died" in m.log(), 5,
                 what="the death logged")
        wait_for(lambda: self.console_pid(m) not in (None, pid), 10,
                 what="the console started again")
        wait_for(lambda: self.request("GET", "/api/v1/version").status == 200,
                 10, what="the console answers again")
        self.assertEqual(m.stop(), 0)

    def test_no_administrators_no_console(self):
        m = self.start_without_console()
        self.assertIn('event=console-off detail="no administrators: '
                      'sekishoctl console passwd NAME"', m.log())
        self.assertIsNone(self.console_pid(m))
        # Logged once per configuration, not at every reload.
        self.assertEqual(self.ctl("reload").returncode, 0)
        self.assertEqual(m.log().count("event=console-off"), 1)
        self.passwd("admin")
        self.assertEqual(self.ctl("reload").returncode, 0)
        wait_for(lambda: "event=console-listening" in m.log(), 10,
                 what="the console listens")
        self.assertEqual(self.request("GET", "/api/v1/version").status, 200)

    def start_without_console(self):
        m = self.suite.start_manager(bindir=self.fake)
        wait_for(lambda: "event=console-off" in m.log(), 10,
                 what="console-off")
        return m

    def test_passwd_checks(self):
        r = self.ctl("console", "passwd", "admin", "--stdin",
                     input="too short\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("too short", r.stderr)
        r = self.ctl("console", "passwd", "Admin", "--stdin",
                     input=PASSWORD + "\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot be an administrator's name", r.stderr)
        r = self.ctl("console", "passwd", "admin", "--stdin", input="")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.ctl("console", "users").stdout, "")
        self.assertEqual(self.ctl("console", "frob").returncode, 2)
        self.passwd("admin")
        with open(os.path.join(self.suite.confdir, "console.users")) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^admin:\$y\$")
        self.assertNotIn(PASSWORD, text)
        r = self.passwd("admin", "a different password")
        self.assertIn("has a new password", r.stdout)
        # A broken file is named with its line.
        with open(os.path.join(self.suite.confdir, "console.users"),
                  "a") as f:
            f.write("broken\n")
        r = self.ctl("console", "users")
        self.assertEqual(r.returncode, 1)
        self.assertIn("console.users:3: not NAME:HASH", r.stderr)
