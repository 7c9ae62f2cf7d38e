#!/usr/bin/env python3
"""http_conformance.py NGXLITE CASES_DIR [CASE...]

For each case (a directory with nginx.conf and requests), starts real nginx and ngxlite
with the same config (%%PORT%% replaced by a free loopback port each), the same files,
sends the same raw requests, and compares every response: status line, headers (Date
and Server values masked, ports masked) and body (the server token masked). Ends with
"N passed, N failed". Requests: LF line ends become CRLF; a line "----" starts a new
connection; within one connection requests are sent in one write (pipelined).
"""
import difflib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

NGINX = os.environ.get("NGINX", "/usr/sbin/nginx")
TIMEOUT = 5.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def start(binary, case_dir, work, port):
    prefix = os.path.join(work, os.path.basename(binary))
    shutil.copytree(case_dir, prefix)
    os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
    conf = open(os.path.join(prefix, "nginx.conf")).read().replace("%%PORT%%", str(port))
    open(os.path.join(prefix, "nginx.conf"), "w").write(conf)
    proc = subprocess.Popen([binary, "-p", prefix + "/", "-c", "nginx.conf",
                             "-g", "daemon off; pid run.pid; error_log logs/error.log;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not wait_port(port, proc):
        err = proc.stderr.read().decode(errors="replace") if proc.poll() is not None else "no listener"
        proc.kill()
        raise RuntimeError(f"{binary} did not start: {err.strip()}")
    return proc, prefix


def exchange(port, payload):
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(payload)
        chunks = []
        deadline = time.monotonic() + TIMEOUT
        s.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                data = s.recv(65536)
            except socket.timeout:
                break  # a kept-alive connection goes quiet once everything is answered
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


def split_responses(text):
    """Splits a stream of responses into (head, body); a HEAD answer has a length but no body."""
    out = []
    while text:
        head_end = text.find("\r\n\r\n")
        if head_end < 0:
            out.append(text)
            break
        head, rest = text[:head_end + 4], text[head_end + 4:]
        m = re.search(r"(?im)^Content-Length: (\d+)\r$", head)
        if m is None or rest.startswith("HTTP/1.") or not rest:
            body, text = ("", rest) if m is not None or rest.startswith("HTTP/1.") else (rest, "")
        else:
            length = int(m.group(1))
            body, text = rest[:length], rest[length:]
        out.append((head, body))
    return out


TOKEN = re.compile(r"<center>(nginx|ngxlite)(/[0-9.]+)?</center>")


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
        head = re.sub(r"(?m)^(Date|Server): .*\r$", r"\1: *\r", head)
        head = re.sub(r"(?im)^(Content-Length): \d+\r$", lambda m: "%s: %d\r" % (m.group(1), len(body)), head)
        head = head.replace(":%d" % port, ":PORT")
        body = body.replace(":%d" % port, ":PORT")
        pieces.append(head + body)
    return "\n=====\n".join(pieces)


def requests_of(case_dir):
    text = open(os.path.join(case_dir, "requests"), encoding="latin-1").read()
    conns = []
    for block in text.split("\n----\n"):
        block = block.strip("\n")
        # A header block gets its closing blank line back; a trailing body is sent as is.
        last = block.rsplit("\n\n", 1)[-1]
        if re.match(r"^[A-Z]+( |$)", last) or ":" in last.split("\n")[0]:
            block += "\n\n"
        conns.append(block.replace("\n", "\r\n").encode("latin-1"))
    return conns


def access_log(prefix, port, token_flags):
    """The access log's lines with the time and the port masked, and the byte count of
    responses that carried the server's name."""
    path = os.path.join(prefix, "logs", "access.log")
    if not os.path.exists(path):
        return []
    out = []
    for i, line in enumerate(open(path, encoding="latin-1").read().splitlines()):
        line = re.sub(r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]", "[TIME]", line).replace(":%d" % port, ":PORT")
        if i < len(token_flags) and token_flags[i]:
            line = re.sub(r'(" \d{3}) \d+ ', r"\1 BYTES ", line, count=1)
        out.append(line)
    return out


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_case(ngxlite, case_dir):
    work = tempfile.mkdtemp(prefix="ngxlite-http.")
    os.chmod(work, 0o755)  # nginx's workers run as nobody when started as root
    try:
        results = {}
        for binary in (NGINX, ngxlite):
            port = free_port()
            proc, prefix = start(binary, case_dir, work, port)
            try:
                flags = []
                responses = [canonical(exchange(port, payload), port, flags) for payload in requests_of(case_dir)]
            finally:
                stop(proc)
            results[binary] = responses + ["access log:\n" + "\n".join(access_log(prefix, port, flags))]
        return results[NGINX], results[ngxlite]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ngxlite = os.path.abspath(sys.argv[1])
    root = sys.argv[2]
    cases = sys.argv[3:] or sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "nginx.conf")))
    passed = failed = 0
    for case in cases:
        try:
            expected, got = run_case(ngxlite, os.path.join(root, case))
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
                print(f"  connection {i + 1}:")
                for line in difflib.unified_diff(e.split("\n"), g.split("\n"), "nginx", "ngxlite", lineterm="", n=2):
                    print("    " + line)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
