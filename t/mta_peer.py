#!/usr/bin/env python3
"""mta_peer.py: a scriptable SMTP server for the mta tests (loopback only).

Usage: mta_peer.py DIR [option=value ...]

Listens on 127.0.0.1 (and ::1 with v6=1) on a free port, writes the port
to DIR/port when ready, and logs what it sees to DIR/log, one event per
line, for the C tests to read:

    CONNECT <conn>            a connection was accepted
    CMD <conn> <line>         a command line, as received
    PIPE <conn> <n>           complete lines already buffered when MAIL came
    TLS <conn>                STARTTLS handshake done
    MSG <conn> <k>            message k complete, content in DIR/msg-<k>
    ENV <k> <sender> <rcpt,rcpt...>

Options (all optional):
    greeting="220 peer ESMTP"   caps=PIPELINING,SIZE 1000,...
    ehlo=250 | "502 5.5.2 no"   rcpt_fail=addr:reply;addr:reply
    mail="250 2.1.0 Ok"         eod="250 2.0.0 Ok"
    cert=FILE key=FILE          (STARTTLS)  v6=1  v4=0
    rset_close=1                close the connection after RSET's reply
Standard library only.
"""
import os
import socket
import ssl
import sys
import threading
import time


class Conn:
    """Line reader over a socket (or its TLS wrapper) with a byte buffer."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 100000:
                raise EOFError
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")


class Peer:
    def __init__(self, d, opts):
        self.dir = d
        self.opts = opts
        self.lock = threading.Lock()
        self.nconn = 0
        self.nmsg = 0
        self.logf = open(os.path.join(d, "log"), "a", buffering=1)

    def log(self, text):
        with self.lock:
            self.logf.write(text + "\n")
            self.logf.flush()

    def serve(self, sock):
        with self.lock:
            self.nconn += 1
            n = self.nconn
        self.log("CONNECT %d" % n)
        try:
            self.session(n, Conn(sock))
        except (EOFError, OSError, ssl.SSLError):
            pass
        finally:
            sock.close()

    def session(self, n, c):
        o = self.opts
        c.send(o.get("greeting", "220 peer ESMTP"))
        if not o.get("greeting", "220").startswith("2"):
            c.line()
            return
        caps = [x for x in o.get("caps", "").split(",") if x]
        fails = {}
        for item in [x for x in o.get("rcpt_fail", "").split(";") if x]:
            addr, reply = item.split(":", 1)
            fails[addr] = reply
        tls = False
        sender, rcpts = None, []
        while True:
            line = c.line()
            text = line.decode("utf-8", "replace")
            self.log("CMD %d %s" % (n, text))
            verb = text.split(" ", 1)[0].upper()
            if verb == "EHLO":
                if o.get("ehlo", "250") != "250":
                    c.send(o["ehlo"])
                    continue
                shown = [x for x in caps if not (tls and x == "STARTTLS")]
                lines = ["peer"] + shown
                for i, x in enumerate(lines):
                    c.send("250%s%s" % ("-" if i < len(lines) - 1 else " ", x))
            elif verb == "HELO":
                c.send("250 peer")
            elif verb == "STARTTLS" and "STARTTLS" in caps and not tls:
                c.send("220 2.0.0 go ahead")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(o["cert"], o["key"])
                c.sock = ctx.wrap_socket(c.sock, server_side=True)
                c.buf = b""
                tls = True
                self.log("TLS %d" % n)
            elif verb == "MAIL":
                sender, rcpts = text[10:].split(">", 1)[0].lstrip("<"), []
                if "PIPELINING" in caps:
                    time.sleep(0.2)
                    c.sock.setblocking(False)
                    try:
                        c.fill()
                    except (BlockingIOError, ssl.SSLWantReadError, EOFError):
                        pass
                    c.sock.setblocking(True)
                    self.log("PIPE %d %d" % (n, c.buf.count(b"\r\n")))
                c.send(o.get("mail", "250 2.1.0 Ok"))
            elif verb == "RCPT":
                addr = text[8:].split(">", 1)[0].lstrip("<")
                if addr in fails:
                    c.send(fails[addr])
                else:
                    rcpts.append(addr)
                    c.send("250 2.1.5 Ok")
            elif verb == "DATA":
                if not rcpts:
                    c.send("554 5.5.1 no valid recipients")
                    continue
                c.send("354 go ahead")
                body = []
                while True:
                    ln = c.line()
                    if ln == b".":
                        break
                    if ln.startswith(b"."):
                        ln = ln[1:]
                    body.append(ln + b"\r\n")
                self.message(n, sender, rcpts, b"".join(body))
                c.send(o.get("eod", "250 2.0.0 Ok: queued"))
            elif verb == "BDAT" and "CHUNKING" in caps:
                parts = text.split()
                data = c.exact(int(parts[1]))
                self.chunks = getattr(self, "chunks", b"") + data
                if len(parts) > 2 and parts[2].upper() == "LAST":
                    self.message(n, sender, rcpts, self.chunks)
                    self.chunks = b""
                    c.send(o.get("eod", "250 2.0.0 Ok: queued"))
                else:
                    c.send("250 2.0.0 chunk ok")
            elif verb == "RSET":
                sender, rcpts = None, []
                c.send("250 2.0.0 Ok")
                if o.get("rset_close") == "1":
                    return
            elif verb == "QUIT":
                c.send("221 2.0.0 Bye")
                return
            else:
                c.send("502 5.5.2 unknown command")

    def message(self, n, sender, rcpts, data):
        with self.lock:
            self.nmsg += 1
            k = self.nmsg
        with open(os.path.join(self.dir, "msg-%d" % k), "wb") as f:
            f.write(data)
        self.log("ENV %d %s %s" % (k, sender, ",".join(rcpts)))
        self.log("MSG %d %d" % (n, k))


def main():
    d = sys.argv[1]
    opts = dict(a.split("=", 1) for a in sys.argv[2:])
    peer = Peer(d, opts)
    socks = []
    port = 0
    families = []
    if opts.get("v4", "1") == "1":
        families.append((socket.AF_INET, "127.0.0.1"))
    if opts.get("v6", "0") == "1":
        families.append((socket.AF_INET6, "::1"))
    for fam, addr in families:
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        port = s.getsockname()[1]
        s.listen(16)
        socks.append(s)
    tmp = os.path.join(d, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, os.path.join(d, "port"))

    def accept_loop(s):
        while True:
            cs, _ = s.accept()
            threading.Thread(target=peer.serve, args=(cs,), daemon=True).start()

    for s in socks[1:]:
        threading.Thread(target=accept_loop, args=(s,), daemon=True).start()
    accept_loop(socks[0])


if __name__ == "__main__":
    main()
