"""Bytes on the wire for the HTTP side by side (http_conformance.py): the echo upstream,
which also records every byte each of its connections received, and the escapes in which
a case writes exact bytes ("{{raw}}" connections) and the comparison shows them."""
import re
import socket
import ssl
import threading
import time

TIMEOUT = 5.0
ESCAPES = {"r": "\r", "n": "\n", "t": "\t", "\\": "\\"}
ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)", re.S)
REPEAT = re.compile(r"\{\{repeat (\d+) (.*?)\}\}", re.S)


def unescape(text):
    """The bytes of a raw connection's text: "{{repeat N TEXT}}" is TEXT N times, then
    \\r \\n \\t \\\\ and \\xHH are those bytes; any other backslash is an error."""
    def byte(m):
        code = m.group(1)
        if len(code) == 3:
            return chr(int(code[1:], 16))
        if code not in ESCAPES:
            raise ValueError("unknown escape \\" + code)
        return ESCAPES[code]
    text = REPEAT.sub(lambda m: m.group(2) * int(m.group(1)), text)
    return ESCAPE.sub(byte, text).encode("latin-1")


def escape(data):
    """Bytes shown in the escapes unescape() reads, one line after each LF."""
    names = {value: "\\" + key for key, value in ESCAPES.items()}
    out = []
    for c in data.decode("latin-1"):
        out.append(c if " " <= c < "\x7f" and c != "\\" else names.get(c) or "\\x%02x" % ord(c))
        if c == "\n":
            out.append("\n")
    return "".join(out)


class EchoBackend:
    """An upstream for proxy cases: answers with the raw request it received, so the
    comparison covers what each proxy sent upstream, and names itself (X-Backend) and
    the request's number on its connection (X-Conn-Request), so balancing and upstream
    keepalive show. It keeps HTTP/1.1 connections open unless asked to close.
    /status/NNN answers NNN, /chunked and /close answer with a chunked and a
    close-delimited body, /delay/MS answers after MS milliseconds (timeouts), /hangup
    closes without an answer, /bytes/N and /chunked-bytes/N answer N bytes of a fixed
    pattern (Content-Length or chunked), /redirect-{self,host,rel}/REST answers 302 to REST on its
    own address, on the Host it was sent, or relative; /upgrade switches protocols and
    echoes what follows; /raw answers the bytes its request's X-Raw-Answer header
    spells in unescape()'s escapes ("{{wait MS}}" pauses between writes), then closes.
    With `tls` (an ssl.SSLContext) it speaks TLS and says what it saw
    of the handshake: X-TLS-SNI, X-TLS-Client (the client certificate checked: SUCCESS or
    NONE) and X-TLS-Reused (r or ., as nginx's $ssl_session_reused)."""

    def __init__(self, name="b1", tls=None):
        self.name = name.encode()
        self.tls = tls
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.received = 0  # bytes of requests read (after any TLS handshake)
        self.connections = {}  # each connection's thread: what it received, in accept order
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            thread = threading.Thread(target=self.answer, args=(conn,), daemon=True)
            self.connections[thread] = bytearray()
            thread.start()

    def recv(self, conn):
        """Reads from one of its connections, counted and recorded."""
        chunk = conn.recv(65536)
        record = self.connections.get(threading.current_thread(), bytearray())
        self.received += len(chunk)
        record += chunk
        return chunk

    def recorded(self):
        """What each connection since the last call received, once every one has ended
        (the proxy under test has stopped: its connections are closed), in accept order."""
        deadline = time.monotonic() + TIMEOUT
        connections, self.connections = self.connections, {}
        for thread in connections:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [bytes(record) for record in connections.values()]

    def answer(self, conn):
        tls_info = b""
        if self.tls:
            conn.settimeout(TIMEOUT)
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                conn.close()
                return
            tls_info = b"X-TLS-SNI: %s\r\nX-TLS-Client: %s\r\nX-TLS-Reused: %s\r\n" % (
                (getattr(conn, "sni", None) or "").encode(), b"SUCCESS" if conn.getpeercert() else b"NONE",
                b"r" if conn.session_reused else b".")
        with conn:
            conn.settimeout(TIMEOUT)
            data = b""
            for number in range(1, 1001):
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = self.recv(conn)
                        if not chunk:
                            return
                        data += chunk
                    head, body = data.split(b"\r\n\r\n", 1)
                    m = re.search(rb"(?im)^content-length: *(\d+)", head)
                    length = int(m.group(1)) if m else 0
                    while len(body) < length:
                        chunk = self.recv(conn)
                        if not chunk:
                            return
                        body += chunk
                    body, data = body[:length], body[length:]
                except OSError:
                    return
                if not self.respond(conn, head, body, number, tls_info):
                    break
            # What the proxy sent after the last answered request and has already come.
            conn.setblocking(False)
            for _ in range(1000):
                try:
                    if not self.recv(conn):
                        break
                except OSError:
                    break

    def respond(self, conn, head, body, number, tls_info=b""):
        """Answers one request; False: the connection is done."""
        raw = head + b"\r\n\r\n" + body
        request_line = head.split(b"\r\n", 1)[0].split(b" ")
        if len(request_line) != 3:  # not a request line: what a proxy must never send
            try:
                conn.sendall(b"HTTP/1.1 400 Echo\r\nServer: echo\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            return False
        path = request_line[1].decode("latin-1")
        close = request_line[-1] == b"HTTP/1.0" or re.search(rb"(?im)^connection: *close", head) is not None
        status = 200
        if path.startswith("/status/"):
            status = int(path.split("/")[2][:3])
        elif path.startswith("/delay/"):
            time.sleep(min(int(path.split("/")[2]), 3000) / 1000)
        elif path.startswith("/hangup"):
            return False
        elif path.startswith("/raw"):
            self.answer_raw(conn, head)
            return False
        elif path.startswith("/upgrade"):
            # Switching protocols, then an echo of whatever comes, each piece prefixed.
            try:
                conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n"
                             b"X-Backend: %s\r\n\r\n" % self.name)
                for _ in range(100):
                    data = self.recv(conn)
                    if not data:
                        break
                    conn.sendall(b"echo:" + data)
            except OSError:
                pass
            return False
        if path.startswith("/redirect-"):
            # Location: to itself by address, to the Host it was sent, or relative.
            kind, _, rest = path[len("/redirect-"):].partition("/")
            host = re.search(rb"(?im)^host: *([^\r\n]*)", head)
            origin = {"self": "http://127.0.0.1:%d" % self.port,
                      "host": "http://" + (host.group(1).decode("latin-1") if host else ""), "rel": ""}[kind]
            status = 302
            extra = ("Location: %s/%s\r\nX-After: 1\r\n" % (origin, rest)).encode("latin-1")
        else:
            extra = b""
        sized = re.match(r"/(?:chunked-)?bytes/(\d+)", path)
        if sized:  # a large body of a fixed pattern instead of the echo
            size = min(int(sized.group(1)), 4 << 20)
            raw = (bytes(range(256)) * (size // 256 + 1))[:size]
        base = (b"HTTP/1.1 %d Echo\r\nServer: echo\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                b"Content-Type: text/plain\r\nX-Backend: %s\r\nX-Conn-Request: %d\r\nX-Pad: hidden\r\n"
                % (status, self.name, number)) + tls_info + extra
        connection = b"Connection: close\r\n" if close else b""
        try:
            if path.startswith("/chunked"):
                conn.sendall(base + connection + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(raw) + raw +
                             b"\r\n0\r\n\r\n")
            elif path.startswith("/close"):
                conn.sendall(base + b"Connection: close\r\n\r\n" + raw)
                return False
            else:
                payload = b"" if request_line[0] == b"HEAD" else raw
                conn.sendall(base + b"Content-Length: %d\r\n" % len(raw) + connection + b"\r\n" + payload)
        except OSError:
            return False
        return not close

    def answer_raw(self, conn, head):
        """Sends the answer a /raw request's X-Raw-Answer header spells, in pieces."""
        m = re.search(rb"(?im)^x-raw-answer: *([^\r\n]*)", head)
        pieces = re.split(r"\{\{wait (\d+)\}\}", m.group(1).decode("latin-1") if m else "")
        try:
            for i, piece in enumerate(pieces):
                if i % 2:
                    time.sleep(int(piece) / 1000)
                else:
                    conn.sendall(unescape(piece))
        except OSError:
            pass

    def close(self):
        self.running = False
        self.sock.close()


