"""A tiny DNS server for the side-by-side cases that use `resolver`: UDP on a loopback
port, a fixed zone, answers as a recursive server would give them (so nginx and ngxlite
see the same bytes for the same question).

Zone (every name under .test):
  backend.test        A 127.0.0.1, TTL 60
  backend6.test       AAAA ::1 and A 127.0.0.1 (an answer of each kind)
  alias.test          CNAME backend.test (the CNAME alone: the resolver asks for the target)
  chain.test          CNAME alias.test
  combined.test       CNAME backend.test with backend.test's A record in the same answer
  many.test           A 127.0.0.1 and 127.0.0.2
  nx.test             NXDOMAIN
  fail.test           SERVFAIL
  refused.test        REFUSED
  silent.test         no answer at all (the resolver times out)
  anything else       NOERROR with no record (nginx: "Host not found")
Queries are counted by name (`queries`), for cases that check what was cached.
"""
import ipaddress
import socket
import struct
import threading

A, CNAME, AAAA = 1, 5, 28

ZONE = {
    "backend.test": [(A, 60, "127.0.0.1")],
    "backend6.test": [(A, 60, "127.0.0.1"), (AAAA, 60, "::1")],
    "alias.test": [(CNAME, 60, "backend.test")],
    "chain.test": [(CNAME, 60, "alias.test")],
    "combined.test": [(CNAME, 60, "backend.test"), ("backend.test", A, 60, "127.0.0.1")],
    "many.test": [(A, 60, "127.0.0.1"), (A, 60, "127.0.0.2")],
}
RCODES = {"nx.test": 3, "fail.test": 2, "refused.test": 5}


def encode_name(name):
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".") if label) + b"\0"


def record(owner, rtype, ttl, value):
    if rtype == A:
        rdata = ipaddress.IPv4Address(value).packed
    elif rtype == AAAA:
        rdata = ipaddress.IPv6Address(value).packed
    else:
        rdata = encode_name(value)
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def answer(query):
    """The response to one query, or None for no response."""
    if len(query) < 12:
        return None
    ident, _flags, qdcount = struct.unpack("!HHH", query[:6])
    labels, i = [], 12
    while i < len(query) and query[i]:
        labels.append(query[i + 1:i + 1 + query[i]].decode(errors="replace"))
        i += 1 + query[i]
    if qdcount != 1 or i + 5 > len(query):
        return None
    question = query[12:i + 5]
    qtype = struct.unpack("!H", query[i + 1:i + 3])[0]
    name = ".".join(labels).lower()
    if name == "silent.test":
        return None
    rcode = RCODES.get(name, 0)
    answers = []
    if not rcode:
        for entry in ZONE.get(name, []):
            owner = b"\xc0\x0c"  # the question's name
            if len(entry) == 4:
                owner = encode_name(entry[0])
                entry = entry[1:]
            rtype, ttl, value = entry
            if rtype == CNAME or rtype == qtype:
                answers.append(record(owner, rtype, ttl, value))
    header = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, len(answers), 0, 0)
    return header + question + b"".join(answers)


class DnsResponder:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = {}
        self.running = True
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while self.running:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            labels, i = [], 12
            while i < len(data) and data[i]:
                labels.append(data[i + 1:i + 1 + data[i]].decode(errors="replace").lower())
                i += 1 + data[i]
            name = ".".join(labels)
            self.queries[name] = self.queries.get(name, 0) + 1
            response = answer(data)
            if response is not None:
                try:
                    self.sock.sendto(response, peer)
                except OSError:
                    pass

    def close(self):
        self.running = False
        self.sock.close()
