"""smtpsink.py: a scriptable SMTP server for tests (Python 3 stdlib only).

The one SMTP server core of the test suite.  It is used in-process by the
integration tests (t/integration/test_delivery.py) and, through the thin
command-line adapter t/mta_peer.py, as a subprocess by the C unit tests
(t/unit/test_mta_e2e.c).

It listens on loopback ports in threads, records every connection and
transaction (EHLO name, MAIL, RCPT, the message bytes as received after
dot-unstuffing or BDAT), and answers as the test scripts it:

    sink = Sink()                       # 250 to everything
    sink.rcpt_reply = lambda addr, n: "550 5.1.1 no such user" \
        if addr.startswith("bad") else None
    sink.data_reply = lambda n: "451 4.3.0 try later" if n == 1 else None
    sink.start(); ...; sink.wait_messages(1); sink.stop()

n counts calls from 1, over all connections.  A reply function returning
None means the default reply, REPLIES[...] (mail_reply(sender, n) works
the same way for MAIL).  Bytes are checked strictly: a client that sends a
bare CR or LF in a command line or data that is not CRLF-terminated fails
the test through sink.errors.

Constructor options (all optional):

    host          a loopback address, or a list of them (IPv4 and/or IPv6,
                  all on the same port)
    port          0 for a free one; the port is sink.port
    tls           (certfile, keyfile): offer and accept STARTTLS
    pipelining, size, chunking
                  extensions offered (8BITMIME, ENHANCEDSTATUSCODES and
                  SMTPUTF8 always are)
    caps          a list of EHLO keywords offered verbatim instead
                  (STARTTLS in it is hidden once in TLS; BDAT is accepted
                  only with CHUNKING offered, STARTTLS only with tls)
    greeting      the banner; not 2xx: the session ends there (after one
                  line from the client with reject_wait=True)
    hostname      the name in the default banner and the EHLO/HELO replies
    ehlo_reply    a reply to EHLO instead of the capability list
    replies       overrides for entries of REPLIES (default replies)
    rset_close    close the connection after RSET's reply
    timeout       socket timeout per connection (None: wait forever)
    max_line      a line longer than this (unterminated) ends the session
    pipe_probe    at MAIL, with PIPELINING offered, wait 0.2 s and report
                  how many complete lines the client already sent (PIPE)

Events: sink.on_event(kind, cid, *args), if set, is called in the
connection's thread, before any reply that follows:

    ("CONNECT", cid)            a connection was accepted (cid from 1)
    ("CMD", cid, line)          a command line, as received (str)
    ("PIPE", cid, nlines)       see pipe_probe
    ("TLS", cid)                STARTTLS handshake done
    ("MSG", cid, n, tx, data)   message complete (before data_reply(n));
                                tx.sender and tx.rcpt_to its envelope
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
        self.mail_from = None      # the path as sent, "<a@b>" or "<>"
        self.mail_params = []
        self.rcpt_to = []          # accepted recipients
        self.data = None           # bytes, after unstuffing

    @property
    def sender(self):
        """The reverse path without its angle brackets."""
        return self.mail_from.split(">", 1)[0].lstrip("<")

    def __repr__(self):
        return "<tx conn=%d from=%r to=%r %s bytes>" % (
            self.conn_id, self.mail_from, self.rcpt_to,
            len(self.data) if self.data is not None else "no")


class Sink:
    REPLIES = {
        "mail": "250 2.1.0 ok",
        "rcpt": "250 2.1.5 ok",
        "data": "250 2.0.0 queued at sink",
        "rset": "250 2.0.0 ok",
        "noop": "250 2.0.0 ok",
        "quit": "221 2.0.0 bye",
        "unknown": "502 5.5.2 what",
    }

    def __init__(self, host="127.0.0.1", tls=None, chunking=False,
                 pipelining=True, size=None, greeting=None, port=0,
                 caps=None, hostname="sink.test", ehlo_reply=None,
                 replies=None, rset_close=False, timeout=30,
                 max_line=None, pipe_probe=False, reject_wait=False):
        self.hosts = [host] if isinstance(host, str) else list(host)
        self.host = self.hosts[0]
        self.tls = tls
        self.chunking = chunking
        self.pipelining = pipelining
        self.size = size
        self.caps = caps
        self.hostname = hostname
        self.greeting = greeting or "220 %s ESMTP" % hostname
        self.ehlo_reply = ehlo_reply
        self.replies = dict(self.REPLIES, **(replies or {}))
        self.rset_close = rset_close
        self.timeout = timeout
        self.max_line = max_line
        self.pipe_probe = pipe_probe
        self.reject_wait = reject_wait
        self.mail_reply = lambda sender, n: None
        self.rcpt_reply = lambda addr, n: None
        self.data_reply = lambda n: None
        self.on_event = None
        self.messages = []         # finished transactions
        self.connections = 0
        self.errors = []
        self.lock = threading.Lock()
        self._mail_calls = 0
        self._rcpt_calls = 0
        self._data_calls = 0
        self._stop = False
        self.socks = []
        self.port = port
        try:
            for h in self.hosts:
                fam = socket.AF_INET6 if ":" in h else socket.AF_INET
                s = socket.socket(fam, socket.SOCK_STREAM)
                self.socks.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((h, self.port))
                self.port = s.getsockname()[1]
                s.listen(64)
                s.settimeout(0.2)
        except OSError:
            for s in self.socks:
                s.close()
            raise
        self.sock = self.socks[0]
        self.threads = []

    def start(self):
        for s in self.socks:
            t = threading.Thread(target=self._accept_loop, args=(s,),
                                 daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        self._stop = True
        for t in self.threads:
            t.join(5)
        for s in self.socks:
            s.close()

    def wait_messages(self, n, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError("sink: %d of %d messages after %.0fs: %r" % (
            len(self.messages), n, timeout, self.messages))

    def count(self, name):
        """The next number of a per-sink call counter (from 1)."""
        with self.lock:
            n = getattr(self, name) + 1
            setattr(self, name, n)
        return n

    def event(self, kind, cid, *args):
        if self.on_event is not None:
            self.on_event(kind, cid, *args)

    # -- server side ------------------------------------------------------

    def _accept_loop(self, sock):
        while not self._stop:
            try:
                c, _ = sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            cid = self.count("connections")
            t = threading.Thread(target=self._serve, args=(c, cid),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, c, cid):
        try:
            c.settimeout(self.timeout)
            self.event("CONNECT", cid)
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

    def reply(self, key):
        self.send(self.sink.replies[key])

    def event(self, kind, *args):
        self.sink.event(kind, self.cid, *args)

    def fill(self, where=""):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("client closed" + where)
        self.buf += d

    def raw_line(self, what, where=""):
        """One CRLF-terminated line (bytes), without the CRLF."""
        while b"\r\n" not in self.buf:
            if self.sink.max_line and len(self.buf) > self.sink.max_line:
                raise EOFError("line too long" + where)
            self.fill(where)
        line, self.buf = self.buf.split(b"\r\n", 1)
        if b"\n" in line or b"\r" in line:
            self.sink.errors.append("bare CR/LF in %s %r" % (what, line[:80]))
        return line

    def readline(self):
        return self.raw_line("command").decode("utf-8", "replace")

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill(" in BDAT")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_data(self):
        lines = []
        while True:
            line = self.raw_line("data line", " in DATA")
            if line == b".":
                break
            if line.startswith(b"."):
                line = line[1:]
            lines.append(line)
        return b"".join(l + b"\r\n" for l in lines)

    def probe_pipeline(self):
        """How many complete lines the client sent ahead, after 0.2 s."""
        time.sleep(0.2)
        timeout = self.sock.gettimeout()
        self.sock.setblocking(False)
        try:
            self.fill()
        except (BlockingIOError, ssl.SSLWantReadError, EOFError):
            pass
        finally:
            self.sock.settimeout(timeout)
        return self.buf.count(b"\r\n")

    def ehlo_lines(self):
        if self.sink.caps is not None:
            ext = list(self.sink.caps)
        else:
            ext = []
            if self.sink.pipelining:
                ext.append("PIPELINING")
            if self.sink.size:
                ext.append("SIZE %d" % self.sink.size)
            ext += ["8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"]
            if self.sink.chunking:
                ext.append("CHUNKING")
            if self.sink.tls:
                ext.append("STARTTLS")
        if self.tls:
            ext = [e for e in ext if e != "STARTTLS"]
        return ext

    def offers(self, keyword):
        return keyword in self.ehlo_lines()

    def need_tx(self, verb):
        if self.tx is None:
            self.sink.errors.append("conn %d: %s without MAIL" %
                                    (self.cid, verb))
            self.send("503 5.5.1 MAIL first")
            return False
        return True

    def run(self):
        sink = self.sink
        self.send(sink.greeting)
        if not sink.greeting.startswith("2"):
            if sink.reject_wait:
                self.readline()
            return
        while True:
            line = self.readline()
            self.event("CMD", line)
            verb = line.split(" ", 1)[0].upper()
            arg = line[len(verb):].strip()
            if verb == "EHLO":
                if sink.ehlo_reply is not None:
                    self.send(sink.ehlo_reply)
                    continue
                self.helo = arg
                ext = self.ehlo_lines()
                name = sink.hostname
                self.send("250-" + name if ext else "250 " + name)
                for i, e in enumerate(ext):
                    self.send(("250 " if i == len(ext) - 1 else "250-") + e)
            elif verb == "HELO":
                self.helo = arg
                self.send("250 " + sink.hostname)
            elif verb == "STARTTLS" and sink.tls and not self.tls \
                    and self.offers("STARTTLS"):
                self.send("220 2.0.0 go ahead")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(*sink.tls)
                self.sock = ctx.wrap_socket(self.sock, server_side=True)
                self.tls = True
                self.buf = b""
                self.helo = None
                self.event("TLS")
            elif verb == "MAIL":
                self.tx = Transaction(self.cid, self.helo, self.tls)
                path, _, params = arg[5:].strip().partition(" ")
                self.tx.mail_from = path.strip()
                self.tx.mail_params = params.split()
                if sink.pipe_probe and self.offers("PIPELINING"):
                    self.event("PIPE", self.probe_pipeline())
                n = sink.count("_mail_calls")
                self.send(sink.mail_reply(self.tx.sender, n) or
                          sink.replies["mail"])
            elif verb == "RCPT":
                if not self.need_tx(verb):
                    continue
                addr = arg[3:].strip()
                addr = addr.split(">", 1)[0].lstrip("<") \
                    if addr.startswith("<") else addr.strip("<>")
                r = sink.rcpt_reply(addr, sink.count("_rcpt_calls"))
                if r is None:
                    self.tx.rcpt_to.append(addr)
                    r = sink.replies["rcpt"]
                self.send(r)
            elif verb == "DATA":
                if not self.tx or not self.tx.rcpt_to:
                    self.send("554 5.5.1 no valid recipients")
                    continue
                self.send("354 go ahead")
                self.finish(self.read_data())
            elif verb == "BDAT" and self.offers("CHUNKING"):
                parts = arg.split()
                chunk = self.read_exact(int(parts[0]))
                if not self.need_tx(verb):
                    continue
                self.tx.data = (self.tx.data or b"") + chunk
                if len(parts) > 1 and parts[1].upper() == "LAST":
                    data, self.tx.data = self.tx.data, None
                    self.finish(data)
                else:
                    self.send("250 2.0.0 chunk ok")
            elif verb == "RSET":
                self.tx = None
                self.reply("rset")
                if sink.rset_close:
                    return
            elif verb == "NOOP":
                self.reply("noop")
            elif verb == "QUIT":
                self.reply("quit")
                return
            else:
                self.reply("unknown")

    def finish(self, data):
        sink = self.sink
        n = sink.count("_data_calls")
        self.event("MSG", n, self.tx, data)
        r = sink.data_reply(n)
        if r is None:
            self.tx.data = data
            with sink.lock:
                sink.messages.append(self.tx)
            r = sink.replies["data"]
        self.send(r)
        self.tx = None
