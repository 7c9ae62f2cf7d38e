#!/usr/bin/env python3
"""stream {} side by side: each case under testdata/stream/NAME (nginx.conf and sessions)
runs through nginx 1.22.1 and through ngxlite, with the same TCP echo upstreams (plain and
TLS), and everything observable must match: what each client session received, the error
log's warn-and-above lines (and, in a case that logs at info, each session's own info lines:
client and proxy connected, a side disconnected), and the bytes each upstream received.

sessions: client connections separated by a line "----". A connection may start with
"{{port N}}" (to %%PORTN%% instead of %%PORT%%, N from 2 to 5), then "{{tls ...}}" (the
options of http_conformance.client_tls); "{{pause MS}}" sends what
follows later; a last line "{{shutdown}}" half-closes the client's side after sending, or
"{{echoed}}{{shutdown}}" once the echo of everything sent has come back; "{{echoed}}" alone
waits for the echo, then closes (a TLS client, which cannot half-close here).
A connection that is only "{{bulk N}}" sends N pseudo-random bytes at full speed while
it reads the echo, and closes once N came back: what it records is whether every byte
came back unchanged (SHA-256 of what was sent, and of what came back after the greeting);
"{{bulk N at-least S}}" also records whether it took at least S seconds (a rate's pacing,
with S far from both the paced and the unpaced time); "... slow MS}}" reads at most 64 KiB
every MS milliseconds (a slow reader: the proxy must hold back, and lose nothing).
Lines end in "\\n". The access log (logs/access.log, when the case writes one) is compared
with times and ports masked. Upstreams answer their name (and the source address, when it is not
127.0.0.1) and ":" once (TLS ones also say whether
the client certificate checked out and whether the session was resumed, and a PROXY
protocol line that came before the handshake), then echo; %%TLSBACKEND%%..3 require a
client certificate signed by the test root (nginx's guide). %%DNS%% is the port of a name
server with a fixed zone (conformance/dns_responder.py), for `resolver`. In a PROXY line the client's
port is masked, and the port the session connected to."""
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import struct
import ssl
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_conformance as hc  # noqa: E402

TIMEOUT = hc.TIMEOUT

# A session's own [info] lines (ngx_stream_init_connection, ngx_stream_proxy_init_upstream
# and _process), compared when the case logs at info; the ephemeral ports they name are masked.
SESSION_INFO = re.compile(r"^(udp )?(client \S+ connected to|proxy \S+ connected to|(client|upstream) disconnected,)")
EPHEMERAL = re.compile(r"\b(client|proxy) (\S+):\d+ connected to")


class EchoUpstream(hc.EchoBackend):
    """A TCP upstream: "NAME:" once, then an echo, until the client's side ends (the
    HTTP echo backend's listener and counters, its own answer). A `dying` one answers
    its first read, then resets the connection (an upstream dying mid-session)."""

    def __init__(self, name, tls=None, dying=False):
        super().__init__(name, tls)
        self.dying = dying

    def answer(self, conn):
        conn.settimeout(TIMEOUT)
        proxy_line = b""
        if self.tls:
            try:
                proxy_line = read_proxy_line(conn)
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                conn.close()
                return
        greeting = self.name
        source = conn.getpeername()[0]
        if source != "127.0.0.1":  # proxy_bind chose it
            greeting += b" from " + source.encode()
        if self.tls:  # the client's certificate as checked, and a resumed session, as nginx's $ssl_session_reused
            greeting += b" client=%s%s" % (b"SUCCESS" if conn.getpeercert() else b"NONE", b" reused" if conn.session_reused else b"")
            if proxy_line:
                greeting += b" after " + proxy_line.rstrip(b"\r\n")
        with conn:
            first = True
            for _ in range(1 << 20):  # enough for a {{bulk}} GiB in 64 KiB reads
                try:
                    data = conn.recv(65536)
                except (OSError, ssl.SSLError):
                    return
                if not data:
                    return
                self.received += len(data)
                try:
                    conn.sendall((greeting + b":" if first else b"") + data)
                except OSError:
                    return
                first = False
                if self.dying:  # SO_LINGER 0: close() sends a reset
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return


PROXY_V1_MAX = 107  # the longest v1 line, CRLF included


def read_proxy_line(conn):
    """A PROXY protocol v1 line before the TLS handshake, taken off the socket (b"" when
    the first bytes are not one): its first six bytes peeked, then the line byte by byte."""
    if conn.recv(6, socket.MSG_PEEK | socket.MSG_WAITALL) != b"PROXY ":
        return b""
    line = b""
    while len(line) < PROXY_V1_MAX and not line.endswith(b"\r\n"):
        byte = conn.recv(1)
        if not byte:
            break
        line += byte
    return line


PROXY_HEADER = re.compile(r"PROXY (TCP[46]) (\S+) (\S+) (\d+) (\d+)")


def masked_proxy_header(text, port):
    """The client's port (ephemeral) and the port connected to (one per server run) masked."""
    return PROXY_HEADER.sub(lambda m: "PROXY %s %s %s CLIENTPORT %s" % (
        m.group(1), m.group(2), m.group(3), "PORT" if int(m.group(5)) == port else m.group(5)), text)


PORT_LINE = re.compile(r"^\{\{port ([2-5])\}\}\n")
BULK = re.compile(r"^\{\{bulk (\d+)(?: at-least ([\d.]+))?(?: slow (\d+))?\}\}\n?$")
SLOW_READ = 65536  # what a slow reader takes at a time
BULK_SECONDS = 300  # at most, for one bulk session


def bulk_exchange(port, size, tls, sessions, at_least=None, slow_ms=None):
    """Sends `size` bytes (a seeded 1 MiB block, repeated) from a thread while reading
    the echo here; returns what the session shows: sizes and whether the SHA-256 of what
    came back (after the upstream's greeting) is the SHA-256 of what was sent."""
    block = random.Random(size).randbytes(1 << 20)
    started = time.monotonic()
    sent_hash = hashlib.sha256()
    received_hash = hashlib.sha256()
    deadline = time.monotonic() + BULK_SECONDS
    with socket.create_connection(("127.0.0.1", port), timeout=hc.TIMEOUT) as raw:
        s = tls[0].wrap_socket(raw, **tls[1]) if tls else raw

        def send():
            left = size
            try:
                while left > 0 and time.monotonic() < deadline:
                    chunk = block[:min(left, len(block))]
                    s.sendall(chunk)
                    sent_hash.update(chunk)
                    left -= len(chunk)
            except OSError:
                pass

        sender = threading.Thread(target=send)
        sender.start()
        greeting = b""
        received = 0
        s.settimeout(hc.TIMEOUT)
        while received < size and time.monotonic() < deadline:
            try:
                data = s.recv(SLOW_READ if slow_ms else 1 << 20)
            except (OSError, ssl.SSLError):
                break
            if not data:
                break
            if b":" not in greeting and received == 0:  # the greeting ends at its first ':'
                head, sep, rest = data.partition(b":")
                greeting, data = head + sep, rest
            received += len(data)
            received_hash.update(data)
            if slow_ms:
                time.sleep(int(slow_ms) / 1000)  # the pace of a slow reader, not a wait for an event
        sender.join(timeout=max(1, deadline - time.monotonic()))
    intact = received == size and received_hash.digest() == sent_hash.digest()
    paced = "" if at_least is None else ", took at least %s s: %s" % (
        at_least, "yes" if time.monotonic() - started >= float(at_least) else "no")
    return "bulk %d bytes: greeting %s, %d bytes back, %s%s\n" % (
        size, greeting.decode("latin-1"), received, "SHA-256 equal" if intact else "SHA-256 DIFFERENT", paced)


TIMES = [(re.compile(r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]"), "[TIME]"),  # $time_local
         (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"), "TIME"),  # $time_iso8601
         (re.compile(r"\b\d+\.\d{3}\b"), "S.MS")]  # $session_time, $upstream_*_time, $msec


def access_log(prefix, ports):
    path = os.path.join(prefix, "logs", "access.log")
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path, encoding="latin-1").read().splitlines():
        for pattern, mask in TIMES:
            line = pattern.sub(mask, line)
        for port in ports:
            line = re.sub(r"\b%d\b" % port, "PORT", line)
        out.append(line)
    return out


def sessions_of(case_dir):
    out = []
    for block, (to,), tls in hc.connection_blocks(os.path.join(case_dir, "sessions"), [PORT_LINE]):
        bulk = BULK.match(block)
        if bulk:
            out.append((to or "", (int(bulk.group(1)), bulk.group(2), bulk.group(3)), False, False, tls))
            continue
        shutdown = block.rstrip("\n").endswith("{{shutdown}}")
        if shutdown:
            block = block.rstrip("\n")[:-len("{{shutdown}}")]
        echoed = block.rstrip("\n").endswith("{{echoed}}")
        if echoed:
            block = block.rstrip("\n")[:-len("{{echoed}}")]
        parts = hc.PAUSE.split(block)
        segments = [(int(parts[i - 1]) if i else 0, parts[i].encode("latin-1")) for i in range(0, len(parts), 2)]
        out.append((to or "", segments, echoed, shutdown, tls))
    return out


def run_case(ngxlite, case_dir, certs):
    work = tempfile.mkdtemp(prefix="ngxlite-stream.")
    os.chmod(work, 0o755)
    upstreams = [EchoUpstream("b%d" % i) for i in (1, 2, 3)]
    upstreams += [EchoUpstream("tls%d" % i, hc.named_backend_tls(certs, "require-client")) for i in (1, 2, 3)]
    upstreams.append(EchoUpstream("dying", dying=True))
    dead = hc.DeadPort()
    subs = {"%%BACKEND%%": str(upstreams[0].port), "%%BACKEND2%%": str(upstreams[1].port),
            "%%BACKEND3%%": str(upstreams[2].port), "%%TLSBACKEND%%": str(upstreams[3].port),
            "%%TLSBACKEND2%%": str(upstreams[4].port), "%%TLSBACKEND3%%": str(upstreams[5].port),
            "%%DYINGBACKEND%%": str(upstreams[6].port), "%%DEADPORT%%": str(dead.port), "%%CERTS%%": certs}
    extra_ports = dict(zip(("2", "3", "4", "5"), hc.free_ports(4)))
    for n, p in extra_ports.items():
        subs["%%PORT" + n + "%%"] = str(p)
    conf_text = open(os.path.join(case_dir, "nginx.conf")).read()
    for name in sorted(set(hc.NAMED_TLS_BACKEND.findall(conf_text))):
        u = EchoUpstream(name, hc.named_backend_tls(certs, name))
        upstreams.append(u)
        subs["%%TLSBACKEND:" + name + "%%"] = str(u.port)
    dns = hc.DnsResponder() if "%%DNS%%" in conf_text else None  # resolver 127.0.0.1:%%DNS%%
    if dns:
        subs["%%DNS%%"] = str(dns.port)
    try:
        results = {}
        for binary in (hc.NGINX, ngxlite):
            for u in upstreams:
                u.received = 0
            # Five distinct free ports, at most four of them the extra ones: one is left.
            port = next(p for p in hc.free_ports(5) if p not in extra_ports.values())
            proc, prefix = hc.start(binary, case_dir, work, port, subs)
            try:
                tls_sessions = {}
                got = []
                for to, segments, echoed, shutdown, tls in sessions_of(case_dir):
                    client_tls = None if tls is None else hc.client_tls(tls, certs, tls_sessions)
                    to_port = extra_ports[to] if to else port
                    if isinstance(segments, tuple):
                        got.append(bulk_exchange(to_port, segments[0], client_tls, tls_sessions, *segments[1:]))
                    else:
                        got.append(masked_proxy_header(
                            hc.exchange(to_port, segments, client_tls, tls_sessions, shutdown, echoed).decode("latin-1"), to_port))
            finally:
                # Gracefully: every client has closed, so each session ends and writes its
                # log line before the process exits (a fast stop races the last ones).
                hc.stop(proc, signal.SIGQUIT)
            ports = [port] + list(extra_ports.values()) + [u.port for u in upstreams] + [int(subs["%%DEADPORT%%"])]
            session_info = hc.CLIENT_INFO_OPT_IN.search(open(os.path.join(prefix, "nginx.conf")).read()) is not None
            errors = [EPHEMERAL.sub(r"\1 \2:PORT connected to", line)
                      for line in hc.error_log(prefix, ports, session_info, SESSION_INFO)]
            results[binary] = got + ["error log:\n" + "\n".join(errors),
                                     "access log:\n" + "\n".join(access_log(prefix, ports)),
                                     "bytes received by the upstreams:\n" +
                                     "\n".join("%s: %d" % (u.name.decode(), u.received) for u in upstreams)]
            # A unix socket's path is in the server's prefix ($upstream_addr, "server: unix:...").
            results[binary] = [r.replace(prefix, "PREFIX") for r in results[binary]]
        return results[hc.NGINX], results[ngxlite]
    finally:
        for u in upstreams:
            u.close()
        dead.close()
        if dns:
            dns.close()
        shutil.rmtree(work, ignore_errors=True)


def main():
    hc.run_all(run_case, lambda expected: len(expected) - 3, "sessions")


if __name__ == "__main__":
    main()
