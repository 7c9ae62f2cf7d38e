#!/usr/bin/env python3
"""http_conformance.py NGXLITE CASES_DIR [CASE...]
http_conformance.py --write-seeds SEEDS_DIR CASE_DIR...

For each case (a directory with nginx.conf and requests), starts real nginx and ngxlite
with the same config (%%PORT%% and %%PORT2%% replaced by free loopback ports each, %%PREFIX%%
by the server's prefix directory, where the case's files are, masked as PREFIX in what is
compared: a `listen unix:%%PREFIX%%/x.sock` is the server's own; %%DNS%% by the port of a
name server with a fixed zone, conformance/dns_responder.py), the same files,
sends the same raw requests, and compares every response: status line, headers (Date
and Server values masked, ports masked) and body (the server token masked), then the
access log, the error log's warn and error lines (and its [info] lines on the client,
"client sent ...", "client prematurely closed ...", "client timed out ...", when the
case's config has an `error_log FILE info`), and the bytes each echo upstream received
on each of its connections (the server's ports masked, nothing else). Ends with
"N passed, N failed".
Requests: LF line ends become CRLF; a line "----" starts a new
connection; within one connection requests are sent in one write (pipelined), except that
"{{pause MS}}" sends what follows MS milliseconds later (slow clients, timeouts). A
connection may start with a line "# TEXT" (what it tries: the seed's name), then a line
"{{raw}}": its bytes are then exactly those written, the file's line breaks being layout
only, with the escapes of http_wire.unescape (\\r \\n \\t \\\\ \\xHH, "{{repeat N TEXT}}").
A connection whose first line is "{{tls OPTIONS}}" speaks TLS (see client_tls).
--write-seeds writes each connection of the cases named, as sent, into SEEDS_DIR/CASE-NN-TEXT
(the request parser fuzzer's seeds).
"""
import difflib
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_wire import TIMEOUT, EchoBackend, escape, unescape  # noqa: E402,F401 (EchoBackend: hc.EchoBackend)
from dns_responder import DnsResponder  # noqa: E402

NGINX = os.environ.get("NGINX", "/usr/sbin/nginx")


def free_ports(count):
    """`count` distinct ports free now: bound together, so no two are the same."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port():
    return free_ports(1)[0]


class DeadPort:
    """A port where nothing listens, held bound for the case so no server port picked later
    can be it (a proxy_pass to its own listener loops until worker_connections run out)."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]

    def close(self):
        self.socket.close()


def listening(port):
    """Whether a socket listens on `port`, read from the kernel's table: a probe connection
    would be a session of its own (a stream proxy would connect upstream for it and may log)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                return True
    return False


def wait_ports(ports, proc):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if all(listening(port) for port in ports):
            return True
        time.sleep(0.02)
    return False


LISTEN_PORT = re.compile(r"^\s*listen\s+(?:\S*:)?(\d+)[\s;]", re.M)


def start(binary, case_dir, work, port, substitutions):
    prefix = os.path.join(work, os.path.basename(binary))
    shutil.copytree(case_dir, prefix)
    os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
    conf = open(os.path.join(prefix, "nginx.conf")).read().replace("%%PORT%%", str(port)).replace("%%PREFIX%%", prefix)
    for key, value in substitutions.items():
        conf = conf.replace(key, value)
    open(os.path.join(prefix, "nginx.conf"), "w").write(conf)
    proc = subprocess.Popen([binary, "-p", prefix + "/", "-c", "nginx.conf",
                             "-g", "daemon off; pid run.pid; error_log logs/error.log warn;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not wait_ports({port} | {int(p) for p in LISTEN_PORT.findall(conf)}, proc):  # every address bound
        err = proc.stderr.read().decode(errors="replace") if proc.poll() is not None else "no listener"
        proc.kill()
        raise RuntimeError(f"{binary} did not start: {err.strip()}")
    return proc, prefix


TLS_LINE = re.compile(r"^\{\{tls( [^}]*)?\}\}\n")


def client_tls(options, certs, sessions):
    """A client TLS context and wrap arguments for a connection's "{{tls ...}}" line:
    sni=NAME, cert=NAME (NAME.pem and NAME.key of the test certificates), alpn=P1,P2,
    ciphers=LIST (TLSv1.2's), max=TLSv1.2|TLSv1.3, resume (the session of the previous
    TLS connection), verify (the server's certificate checked against the test root and
    the SNI name: a wrong one gives "TLS-ERROR: CERTIFICATE_VERIFY_FAILED")."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    wrap = {"server_hostname": None}
    for option in options.split():
        key, _, value = option.partition("=")
        if key == "sni":
            wrap["server_hostname"] = value
        elif key == "cert":
            ctx.load_cert_chain(os.path.join(certs, value + ".pem"), os.path.join(certs, value + ".key"))
        elif key == "alpn":
            ctx.set_alpn_protocols(value.split(","))
        elif key == "ciphers":
            ctx.set_ciphers(value)
        elif key == "max":
            ctx.maximum_version = getattr(ssl.TLSVersion, value.replace(".", "_"))
        elif key == "verify":
            ctx.load_verify_locations(os.path.join(certs, "ca.crt"))
            ctx.check_hostname = True  # sets CERT_REQUIRED
        elif key == "resume":
            # Python resumes a session only through the context that made it.
            ctx, wrap["session"] = sessions["context"], sessions.get("last")
        else:
            raise ValueError("unknown TLS option " + option)
    sessions["context"] = ctx
    return ctx, wrap


def exchange(port, segments, tls=None, sessions=None, half_close=False, await_echo=False):
    """Sends each (pause_ms, bytes) segment once its pause has passed since the one before,
    reading what comes meanwhile; stops sending when the server closes. Then (with
    `await_echo`, once what came back ends with everything sent; after shutting down its
    sending side with `half_close`) reads until the connection goes quiet or closes. With `tls` (a context and wrap arguments) the connection speaks TLS;
    a handshake that fails gives "TLS-ERROR: reason"."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        s = raw
        if tls:
            try:
                s = tls[0].wrap_socket(raw, **tls[1])
            except ssl.SSLError as e:
                return b"TLS-ERROR: " + (e.reason or "unknown").encode()
            except (ConnectionResetError, BrokenPipeError):
                return b"TLS-ERROR: reset"
        closed = False
        last_sent = time.monotonic()

        def read_until(until):
            while time.monotonic() < until:
                s.settimeout(max(0.01, min(0.5, until - time.monotonic())))
                try:
                    data = s.recv(65536)
                except socket.timeout:
                    return False  # a kept-alive connection goes quiet once everything is answered
                except (ConnectionResetError, ssl.SSLEOFError):
                    return True
                except ssl.SSLError as e:
                    chunks.append(b"TLS-ERROR: " + (e.reason or "unknown").encode())
                    return True
                if not data:
                    return True
                chunks.append(data)
            return False

        for pause, payload in segments:
            send_at = last_sent + pause / 1000.0
            while not closed and time.monotonic() < send_at:
                closed = read_until(send_at)
            if closed:
                break
            try:
                s.sendall(payload)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            last_sent = time.monotonic()
        sent = b"".join(payload for _, payload in segments)
        echo_deadline = time.monotonic() + TIMEOUT
        while await_echo and not closed and not b"".join(chunks).endswith(sent) and time.monotonic() < echo_deadline:
            closed = read_until(echo_deadline)
        if not closed:
            if half_close:
                try:
                    raw.shutdown(socket.SHUT_WR)
                except OSError:  # the server closed first: what it sent is still read below
                    pass
            read_until(time.monotonic() + TIMEOUT)
        if tls and sessions is not None and s.session is not None:
            sessions["last"] = s.session
    return b"".join(chunks)


def split_responses(text):
    """Splits a stream of responses into (head, body); a HEAD answer has a length but no body;
    a chunked body ends after its trailer section."""
    out = []
    while text:
        head_end = text.find("\r\n\r\n")
        if head_end < 0:
            out.append(text)
            break
        head, rest = text[:head_end + 4], text[head_end + 4:]
        m = re.search(r"(?im)^Content-Length: (\d+)\r$", head)
        if re.search(r"(?im)^Transfer-Encoding: chunked\r$", head):
            body = ""  # the chunks, framing kept as sent
            while True:
                line_end = rest.find("\r\n")
                if line_end < 0:
                    body, rest = body + rest, ""
                    break
                size = int(rest[:line_end], 16)
                if size == 0:  # the last chunk, then the trailer section up to an empty line
                    end = rest.find("\r\n\r\n", line_end) if rest[line_end + 2:line_end + 4] != "\r\n" else line_end
                    end = len(rest) if end < 0 else end + 4
                    body, rest = body + rest[:end], rest[end:]
                    break
                body += rest[:line_end + 2 + size + 2]
                rest = rest[line_end + 2 + size + 2:]
            out.append((head, body))
            text = rest
            continue
        if m is None or rest.startswith("HTTP/1.") or not rest:
            body, text = ("", rest) if m is not None or rest.startswith("HTTP/1.") else (rest, "")
        else:
            length = int(m.group(1))
            body, text = rest[:length], rest[length:]
        out.append((head, body))
    return out


TOKEN = re.compile(r"<center>(nginx|ngxlite)(/[0-9.]+)?</center>")


def relative_expires(head):
    """An Expires time made from the clock (`expires 1h`) as its distance from the
    response's Date, so runs a second apart compare equal; fixed ones stay as they are."""
    date = re.search(r"(?m)^Date: (.*)\r$", head)
    expires = re.search(r"(?m)^Expires: (.*)\r$", head)
    if not date or not expires or expires.group(1).endswith(("1970 00:00:01 GMT", "2037 23:55:55 GMT")):
        return head
    from email.utils import parsedate_to_datetime
    delta = (parsedate_to_datetime(expires.group(1)) - parsedate_to_datetime(date.group(1))).total_seconds()
    return head.replace(expires.group(0), "Expires: Date%+ds\r" % delta)


def canonical(raw, port, token_flags):
    """The responses of one connection, masked; appends to token_flags, per response,
    whether its body named the server (nginx's pages say nginx/1.22.1, ngxlite's its own
    name and version: a deliberate difference that also changes $body_bytes_sent)."""
    text = raw.decode("latin-1")
    pieces = []
    for item in split_responses(text):
        if isinstance(item, str):
            pieces.append("PARTIAL:" + item)
            continue
        head, body = item
        token_flags.append(bool(TOKEN.search(body)))
        body = TOKEN.sub("<center>SERVER</center>", body)
        head = relative_expires(head)
        head = re.sub(r"(?m)^(Date|Server): .*\r$", r"\1: *\r", head)
        head = re.sub(r"(?im)^(Content-Length): \d+\r$", lambda m: "%s: %d\r" % (m.group(1), len(body)), head)
        head = head.replace(":%d" % port, ":PORT")
        body = body.replace(":%d" % port, ":PORT")
        pieces.append(head + body)
    return "\n=====\n".join(pieces)


PAUSE = re.compile(r"\{\{pause (\d+)\}\}")


def connection_blocks(path, first_lines=()):
    """The connections of a requests or sessions file (separated by "----" lines): each
    block's text, the group of each of `first_lines` (patterns of a leading line, taken
    off in order when present, else None), and its "{{tls ...}}" options (None: plain)."""
    out = []
    for block in open(path, encoding="latin-1").read().split("\n----\n"):
        block = block.strip("\n") + "\n"
        found = []
        for pattern in first_lines:
            m = pattern.match(block)
            found.append(m.group(1) if m else None)
            if m:
                block = block[m.end():]
        tls = TLS_LINE.match(block)
        if tls:
            block = block[tls.end():]
        out.append((block, found, tls.group(1) or "" if tls else None))
    return out


COMMENT_LINE = re.compile(r"^# (.*)\n")
RAW_LINE = re.compile(r"^\{\{(raw)\}\}\n")


def requests_of(case_dir):
    """Each connection of a case: its (pause_ms, bytes) segments, "{{tls}}" options and comment."""
    conns = []
    for block, (comment, raw), tls_options in connection_blocks(os.path.join(case_dir, "requests"),
                                                                 (COMMENT_LINE, RAW_LINE)):
        if raw:
            parts = PAUSE.split(block.replace("\n", ""))
            conns.append(([(int(parts[i - 1]) if i else 0, unescape(parts[i])) for i in range(0, len(parts), 2)],
                          tls_options, comment))
            continue
        block = block.strip("\n")
        # A header block gets its closing blank line back; a trailing body is sent as is.
        last = block.rsplit("\n\n", 1)[-1]
        if not PAUSE.search(last) and (re.match(r"^[A-Z]+( |$)", last) or ":" in last.split("\n")[0]):
            block += "\n\n"
        # "{{pause MS}}" sends what follows MS milliseconds later (slow clients, timeouts).
        parts = PAUSE.split(block)
        segments = [(int(parts[i - 1]) if i else 0, parts[i].replace("\n", "\r\n").encode("latin-1"))
                    for i in range(0, len(parts), 2)]
        conns.append((segments, tls_options, comment))
    return conns


def access_log(prefix, port, token_flags):
    """The access log's lines with the time and the port masked, and the byte count of
    responses that carried the server's name (error pages name it, and are compared whole
    as responses)."""
    path = os.path.join(prefix, "logs", "access.log")
    if not os.path.exists(path):
        return []
    out = []
    for i, line in enumerate(open(path, encoding="latin-1").read().splitlines()):
        line = re.sub(r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]", "[TIME]", line).replace(":%d" % port, ":PORT")
        if (i < len(token_flags) and token_flags[i]) or re.search(r'" [45]\d\d \d+ ', line):
            line = re.sub(r'(" \d{3}) \d+ ', r"\1 BYTES ", line, count=1)
        out.append(line)
    return out


def other_logs(prefix):
    """The other files in logs/ (access logs a case names, used or not), each with its count
    of lines."""
    logs = os.path.join(prefix, "logs")
    names = sorted(n for n in os.listdir(logs) if n not in ("access.log", "nginx.pid") and not n.endswith("error.log")) if os.path.isdir(logs) else []
    return ["%s: %d lines" % (n, open(os.path.join(logs, n), "rb").read().count(b"\n")) for n in names]


ERROR_LINE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*)$")
CLIENT_INFO_OPT_IN = re.compile(r"^\s*error_log\s+\S+\s+info\s*;", re.M)
# The [info] lines of a request refused for what its client sent, or did not send in time
# (or without basic authentication credentials, or held back by auth_delay).
CLIENT_INFO = re.compile(r"^(client (sent|intended to send|prematurely closed|timed out)|epoll_wait\(\) reported that client|"
                         r"no user/password was provided for basic authentication|delaying unauthorized request)")


def error_log(prefix, ports, client_info=False, info_lines=CLIENT_INFO):
    """The error logs' lines as "[level] message": time, pid, thread and connection
    numbers masked (nginx counts upstream connections too), ports masked. Every
    logs/*error.log (a case's error_log per server or location) after logs/error.log,
    each under its name. With `client_info`, the [info] lines `info_lines` matches too
    (by default those of a refused client)."""
    logs = os.path.join(prefix, "logs")
    names = sorted(n for n in os.listdir(logs) if n.endswith("error.log")) if os.path.isdir(logs) else []
    out = []
    for name in sorted(names, key=lambda n: n != "error.log"):
        if name != "error.log":
            out.append("== " + name)
        for line in open(os.path.join(logs, name), encoding="latin-1").read().splitlines():
            m = ERROR_LINE.match(line)
            if not m or m.group(1) in ("notice", "info", "debug") and not (
                    client_info and m.group(1) == "info" and info_lines.match(m.group(2))):
                continue
            text = "[%s] %s" % (m.group(1), m.group(2))
            for port in ports:
                text = text.replace(":%d" % port, ":PORT")
            out.append(text.replace(prefix, "PREFIX"))
    return out


def stop(proc, sig=signal.SIGTERM):
    """Stops a server (SIGQUIT: once its connections have ended and logged), killing it
    when it is not gone in TIMEOUT."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def backend_tls(certs):
    """The TLS upstream's context: the chain for localhost and backend{1,2,3}.example.com,
    client certificates asked for and checked against the test root, SNI noted."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(certs, "server.crt"), os.path.join(certs, "server.key"))
    ctx.load_verify_locations(os.path.join(certs, "ca.crt"))
    ctx.verify_mode = ssl.CERT_OPTIONAL

    def note_sni(sock, name, _ctx):
        sock.sni = name
    ctx.sni_callback = note_sni
    return ctx


NAMED_TLS_BACKEND = re.compile(r"%%TLSBACKEND:([\w-]+)%%")


def named_backend_tls(certs, name):
    """A TLS upstream of the negative matrix: NAME.pem and NAME.key, or "require-client":
    the usual certificate, with a client certificate required."""
    if name == "require-client":
        ctx = backend_tls(certs)
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(certs, name + ".pem"), os.path.join(certs, name + ".key"))
    return ctx


SHOWN = 16384  # bytes of one upstream connection shown; past that, a count and a digest


def upstream_received(backends):
    """What each echo upstream received, connection by connection, in the escapes of a
    raw request: so a proxy that forwards what nginx refuses (or forwards it otherwise)
    differs even when its client sees the same answer."""
    lines = ["upstream received:"]
    for b in backends:
        for number, data in enumerate(b.recorded(), 1):
            lines.append("== %s connection %d: %d bytes" % (b.name.decode(), number, len(data)))
            if data.startswith(b"\x16\x03"):  # a TLS client's hello to a plain upstream: random bytes
                lines.append("(a TLS handshake)")
                continue
            lines.append(escape(data[:SHOWN]))
            if len(data) > SHOWN:
                lines.append("... sha256 of all: " + hashlib.sha256(data).hexdigest())
    return "\n".join(lines)


def run_case(ngxlite, case_dir, certs):
    work = tempfile.mkdtemp(prefix="ngxlite-http.")
    os.chmod(work, 0o755)  # nginx's workers run as nobody when started as root
    backends = [EchoBackend("b%d" % i) for i in (1, 2, 3)] + [EchoBackend("tls", backend_tls(certs))]
    dead = DeadPort()  # for 502 cases
    substitutions = {"%%BACKEND%%": str(backends[0].port), "%%BACKEND2%%": str(backends[1].port),
                     "%%BACKEND3%%": str(backends[2].port), "%%TLSBACKEND%%": str(backends[3].port),
                     "%%DEADPORT%%": str(dead.port), "%%CERTS%%": certs}
    # TLS upstreams with other certificates, made when the case names them (an untrusted
    # upstream must never see a request byte: what every upstream received is compared).
    named = {}
    for name in sorted(set(NAMED_TLS_BACKEND.findall(open(os.path.join(case_dir, "nginx.conf")).read()))):
        named[name] = EchoBackend(name, named_backend_tls(certs, name))
        substitutions["%%TLSBACKEND:" + name + "%%"] = str(named[name].port)
    backends += named.values()
    # A name server for `resolver 127.0.0.1:%%DNS%%` (conformance/dns_responder.py's zone).
    dns = DnsResponder() if "%%DNS%%" in open(os.path.join(case_dir, "nginx.conf")).read() else None
    if dns:
        substitutions["%%DNS%%"] = str(dns.port)
    try:
        results = {}
        for binary in (NGINX, ngxlite):
            # The second is a listening port of the server's own (a TLS backend in the same config).
            port, port2 = free_ports(2)
            substitutions["%%PORT2%%"] = str(port2)
            proc, prefix = start(binary, case_dir, work, port, substitutions)
            try:
                flags = []
                sessions = {}
                responses = [("# %s\n" % comment if comment else "") +
                             canonical(exchange(port, payload, tls if tls is None else client_tls(tls, certs, sessions),
                                                sessions), port, flags)
                             for payload, tls, comment in requests_of(case_dir)]
            finally:
                stop(proc, signal.SIGQUIT)  # a tunnel just closed still logs its line
            client_info = CLIENT_INFO_OPT_IN.search(open(os.path.join(prefix, "nginx.conf")).read()) is not None
            results[binary] = responses + ["access log:\n" + "\n".join(access_log(prefix, port, flags)),
                                           "error log:\n" + "\n".join(error_log(prefix, [port], client_info)),
                                           "other logs:\n" + "\n".join(other_logs(prefix)),
                                           upstream_received(backends)]
            # The prefix too: a unix socket's path is in it ($upstream_addr, error lines).
            results[binary] = [r.replace(":%d" % port, ":PORT").replace(":%d" % port2, ":PORT2").replace(prefix, "PREFIX")
                               for r in results[binary]]
        return results[NGINX], results[ngxlite]
    finally:
        for b in backends:
            b.close()
        dead.close()
        if dns:
            dns.close()
        shutil.rmtree(work, ignore_errors=True)


def run_all(run_case, count, noun):
    """The driver both side-by-side suites share: certificates made for the run, every case
    of argv[2] (or the ones named after it) through run_case(ngxlite, case_dir, certs),
    differences printed as diffs; exits 1 when any case differs."""
    ngxlite = os.path.abspath(sys.argv[1])
    root = sys.argv[2]
    cases = sys.argv[3:] or sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "nginx.conf")))
    passed = failed = compared = 0
    # Certificates made now by openssl, never committed (tools/gen-test-certs.sh).
    certs = tempfile.mkdtemp(prefix="ngxlite-certs.")
    os.chmod(certs, 0o755)
    subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "gen-test-certs.sh"), certs],
                   check=True, stdout=subprocess.DEVNULL)
    for name in os.listdir(certs):
        os.chmod(os.path.join(certs, name), 0o644)  # nginx's workers (nobody) read them
    for case in cases:
        try:
            expected, got = run_case(ngxlite, os.path.join(root, case), certs)
            compared += count(expected)
        except Exception as e:  # a server that does not start is a failure of the case
            failed += 1
            print(f"FAIL {case}: {e}")
            continue
        if expected == got:
            passed += 1
            continue
        failed += 1
        print(f"FAIL {case}")
        for i, (e, g) in enumerate(zip(expected, got)):
            if e != g:
                title = e.split("\n", 1)[0]  # a connection's "# TEXT", or "access log:" and the like
                print(f"  item {i + 1}:" + (" " + title.rstrip(":") if title.startswith("# ") or title.endswith(":") else ""))
                for line in difflib.unified_diff(e.split("\n"), g.split("\n"), "nginx", "ngxlite", lineterm="", n=2):
                    print("    " + line)
    shutil.rmtree(certs, ignore_errors=True)
    print(f"{passed} passed, {failed} failed ({compared} {noun} compared, with their log lines)")
    sys.exit(1 if failed else 0)


def write_seeds(seeds_dir, case_dirs):
    """Each connection of the cases, as sent (pauses left out), one file each: CASE-NN-TEXT."""
    os.makedirs(seeds_dir, exist_ok=True)
    for case_dir in case_dirs:
        case = os.path.basename(os.path.normpath(case_dir))
        for name in os.listdir(seeds_dir):
            if name.startswith(case + "-"):
                os.remove(os.path.join(seeds_dir, name))
        for number, (segments, _, comment) in enumerate(requests_of(case_dir), 1):
            slug = re.sub(r"[^a-z0-9]+", "-", (comment or "").lower()).strip("-")[:60]
            with open(os.path.join(seeds_dir, "%s-%02d%s" % (case, number, "-" + slug if slug else "")), "wb") as f:
                f.write(b"".join(payload for _, payload in segments))


def main():
    if sys.argv[1] == "--write-seeds":
        return write_seeds(sys.argv[2], sys.argv[3:])
    run_all(run_case, lambda expected: sum(len(c.split("\n=====\n")) for c in expected
                                           if c and not c.startswith(("access log:", "error log:", "upstream received:"))),
            "responses")


if __name__ == "__main__":
    main()
