"""smtpsink.py: a scriptable SMTP server for delivery tests (stdlib only).

It listens on a loopback port in a thread, records every connection and
transaction (EHLO name, MAIL, RCPT, the message bytes as received after
dot-unstuffing or BDAT), and answers as the test scripts it:

    sink = Sink()                       # 250 to everything
    sink.rcpt_reply = lambda addr, n: "550 5.1.1 no such user" \
        if addr.startswith("bad") else None
    sink.data_reply = lambda n: "451 4.3.0 try later" if n == 1 else None
    sink.start(); ...; sink.wait_messages(1); sink.stop()

n counts calls from 1.  A reply function returning None means the default
250.  With tls=(certfile, keyfile) it offers STARTTLS.  Bytes are checked
strictly: a client that sends a bare LF in a command line or data that is
not CRLF-terminated fails the test through sink.errors.
"""

import socket
import ssl
import threading
import time


class Transaction:
    def __init__(self, conn_id, helo, tls):
        self.conn_id = conn_id
        self.helo = helo
        self.tls = tls
        self.mail_from = None
        self.mail_params = []
        self.rcpt_to = []          # accepted recipients
        self.data = None           # bytes, after unstuffing

    def __repr__(self):
        return "<tx conn=%d from=%r to=%r %s bytes>" % (
            self.conn_id, self.mail_from, self.rcpt_to,
            len(self.data) if self.data is not None else "no")


class Sink:
    def __init__(self, host="127.0.0.1", tls=None, chunking=False,
                 pipelining=True, size=None, greeting=None, port=0):
        self.host = host
        self.tls = tls
        self.chunking = chunking
        self.pipelining = pipelining
        self.size = size
        self.greeting = greeting or "220 sink.test ESMTP"
        self.rcpt_reply = lambda addr, n: None
        self.data_reply = lambda n: None
        self.messages = []         # finished transactions
        self.connections = 0
        self.errors = []
        self.lock = threading.Lock()
        self._rcpt_calls = 0
        self._data_calls = 0
        self._stop = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.threads = []

    def start(self):
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def stop(self):
        self._stop = True
        for t in self.threads:
            t.join(5)
        self.sock.close()

    def wait_messages(self, n, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError("sink: %d of %d messages after %.0fs: %r" % (
            len(self.messages), n, timeout, self.messages))

    # -- server side ------------------------------------------------------

    def _accept_loop(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
                cid = self.connections
            t = threading.Thread(target=self._serve, args=(c, cid),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, c, cid):
        try:
            c.settimeout(30)
            Conn(self, c, cid).run()
        except Exception as e:     # recorded, the test decides
            if not self._stop:
                self.errors.append("conn %d: %r" % (cid, e))
        finally:
            try:
                c.close()
            except OSError:
                pass


class Conn:
    def __init__(self, sink, sock, cid):
        self.sink = sink
        self.sock = sock
        self.cid = cid
        self.buf = b""
        self.helo = None
        self.tls = False
        self.tx = None

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def readline(self):
        while b"\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("client closed")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        if b"\n" in line or b"\r" in line:
            self.sink.errors.append("bare CR/LF in command %r" % line)
        return line.decode("utf-8", "replace")

    def read_exact(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("client closed in BDAT")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_data(self):
        lines = []
        while True:
            line = self._raw_line()
            if line == b".":
                break
            if line.startswith(b"."):
                line = line[1:]
            lines.append(line)
        return b"".join(l + b"\r\n" for l in lines)

    def _raw_line(self):
        while b"\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("client closed in DATA")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        if b"\n" in line or b"\r" in line:
            self.sink.errors.append("bare CR/LF in data line %r" % line[:80])
        return line

    def ehlo_lines(self):
        ext = []
        if self.sink.pipelining:
            ext.append("PIPELINING")
        if self.sink.size:
            ext.append("SIZE %d" % self.sink.size)
        ext += ["8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"]
        if self.sink.chunking:
            ext.append("CHUNKING")
        if self.sink.tls and not self.tls:
            ext.append("STARTTLS")
        return ext

    def run(self):
        self.send(self.sink.greeting)
        if not self.sink.greeting.startswith("2"):
            return
        while True:
            line = self.readline()
            verb = line.split(" ", 1)[0].upper()
            arg = line[len(verb):].strip()
            if verb == "EHLO":
                self.helo = arg
                ext = self.ehlo_lines()
                self.send("250-sink.test" if ext else "250 sink.test")
                for i, e in enumerate(ext):
                    self.send(("250 " if i == len(ext) - 1 else "250-") + e)
            elif verb == "HELO":
                self.helo = arg
                self.send("250 sink.test")
            elif verb == "STARTTLS" and self.sink.tls and not self.tls:
                self.send("220 2.0.0 go ahead")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(*self.sink.tls)
                self.sock = ctx.wrap_socket(self.sock, server_side=True)
                self.tls = True
                self.buf = b""
                self.helo = None
            elif verb == "MAIL":
                self.tx = Transaction(self.cid, self.helo, self.tls)
                path, _, params = arg[5:].partition(" ")
                self.tx.mail_from = path.strip()
                self.tx.mail_params = params.split()
                self.send("250 2.1.0 ok")
            elif verb == "RCPT":
                addr = arg[3:].strip().strip("<>")
                with self.sink.lock:
                    self.sink._rcpt_calls += 1
                    n = self.sink._rcpt_calls
                r = self.sink.rcpt_reply(addr, n)
                if r is None:
                    self.tx.rcpt_to.append(addr)
                    r = "250 2.1.5 ok"
                self.send(r)
            elif verb == "DATA":
                if not self.tx or not self.tx.rcpt_to:
                    self.send("554 5.5.1 no valid recipients")
                    continue
                self.send("354 go ahead")
                self.finish(self.read_data())
            elif verb == "BDAT":
                parts = arg.split()
                chunk = self.read_exact(int(parts[0]))
                self.tx.data = (self.tx.data or b"") + chunk
                if len(parts) > 1 and parts[1].upper() == "LAST":
                    data, self.tx.data = self.tx.data, None
                    self.finish(data)
                else:
                    self.send("250 2.0.0 chunk ok")
            elif verb == "RSET":
                self.tx = None
                self.send("250 2.0.0 ok")
            elif verb == "NOOP":
                self.send("250 2.0.0 ok")
            elif verb == "QUIT":
                self.send("221 2.0.0 bye")
                return
            else:
                self.send("502 5.5.2 what")

    def finish(self, data):
        with self.sink.lock:
            self.sink._data_calls += 1
            n = self.sink._data_calls
        r = self.sink.data_reply(n)
        if r is None:
            self.tx.data = data
            with self.sink.lock:
                self.sink.messages.append(self.tx)
            r = "250 2.0.0 queued at sink"
        self.send(r)
        self.tx = None
