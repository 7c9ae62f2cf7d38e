#!/usr/bin/env python3
"""process_test.py NGXLITE: the process the nginx way, on a real ngxlite.

pid file, -s reload (new config served; a broken one logged and the old one kept; a new
listen address bound), -s reopen, -s quit and -s stop, worker_connections, and daemon mode;
then the checks that run against real nginx first, so that what they expect is what nginx
does: kept-alive connections and stream sessions across reload and QUIT, the serving
process (nginx's worker process) killed and started again, `user` (every thread of the
serving process without root's ids or capabilities, before and after a reload), 100
reloads under load without a request lost, and connections reused at worker_connections
(3,000 idle and 500 slow against 1024), listen's socket options, proxy_socket_keepalive, buffered and gzipped access logs. Every wait is a poll with a deadline. Ends with
"N passed, N failed".
"""
import grp
import os
import pwd
import re
import resource
import shutil
import signal
import stat
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_conformance as hc  # noqa: E402

DEADLINE = 5.0
NGINX = "/usr/sbin/nginx"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(port, path="/"):
    """One request on a connection of its own: the status line and the body, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            head, body = data.split(b"\r\n\r\n", 1)
            return head.split(b"\r\n", 1)[0].decode(), body.decode()
    except (OSError, ValueError):
        return None


def get(port, path="/"):
    answer = fetch(port, path)
    return answer[1] if answer else None


def children(pid):
    """The processes `pid` (a master, one thread) started and that are still there."""
    try:
        return {int(p) for p in open(f"/proc/{pid}/task/{pid}/children").read().split()}
    except OSError:
        return set()


def serving_process(master, replacing=None):
    """The pid of the master's serving process (nginx's worker process) once it has just
    one and that one is not `replacing`; None if not so by the deadline."""
    found = []

    def one():
        running = children(master)
        if len(running) == 1 and replacing not in running:
            found.append(running.pop())
            return True
        return False
    return found[0] if until(one) else None


def until(predicate):
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


class Case:
    def __init__(self, binary):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="ngxlite-process.")
        os.makedirs(os.path.join(self.dir, "logs"))
        self.port = free_port()
        self.proc = None

    def conf(self, body, extra_listen=None, main=""):
        listens = f"listen 127.0.0.1:{self.port};" + (f" listen 127.0.0.1:{extra_listen};" if extra_listen else "")
        text = (f"{main}pid logs/ngxlite.pid;\nerror_log logs/error.log info;\nevents {{}}\nhttp {{\n"
                f"  access_log logs/access.log;\n  server {{ {listens} location / {{ {body} }} }}\n}}\n")
        open(os.path.join(self.dir, "nginx.conf"), "w").write(text)

    def cli(self, *args):
        return subprocess.run([self.binary, "-p", self.dir + "/", "-c", "nginx.conf", *args],
                              capture_output=True, text=True, timeout=DEADLINE)

    def start(self, daemon=False):
        args = [self.binary, "-p", self.dir + "/", "-c", "nginx.conf"] + ([] if daemon else ["-g", "daemon off;"])
        if daemon:
            return subprocess.run(args, capture_output=True, timeout=DEADLINE)
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return until(lambda: get(self.port) is not None)

    def pid_file(self):
        path = os.path.join(self.dir, "logs", "ngxlite.pid")
        return open(path).read().strip() if os.path.exists(path) else None

    def error_log(self):
        return open(os.path.join(self.dir, "logs", "error.log")).read()

    def close(self):
        """Kills what a failed check left running: the serving processes first (nginx's
        outlive a killed master), then the master (a daemon's is in the pid file)."""
        pid = self.pid_file()
        masters = {int(pid)} if pid and pid.isdigit() else set()
        if self.proc and self.proc.poll() is None:
            masters.add(self.proc.pid)
        for victim in [child for master in masters for child in children(master)] + list(masters):
            try:
                os.kill(victim, signal.SIGKILL)
            except OSError:
                pass
        if self.proc:
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def check_reload_and_quit(binary):
    c = Case(binary)
    try:
        c.conf('return 200 "one";')
        assert c.start(), "did not start"
        assert c.pid_file() == str(c.proc.pid), "pid file"
        assert get(c.port) == "one"
        c.conf('return 200 "two";')
        assert c.cli("-s", "reload").returncode == 0
        assert until(lambda: get(c.port) == "two"), "reload not applied"
        open(os.path.join(c.dir, "nginx.conf"), "a").write("http {\n")  # broken
        # As with nginx, `-s reload` parses the config first and refuses a broken one...
        r = c.cli("-s", "reload")
        assert r.returncode == 1 and "[emerg]" in r.stderr, "-s reload with a broken config"
        # ...while a SIGHUP makes the running process try it, log why, and keep serving.
        os.kill(c.proc.pid, signal.SIGHUP)
        assert until(lambda: "[emerg]" in c.error_log()), "no [emerg] for the broken reload"
        assert "nginx.conf:" in c.error_log().split("[emerg]")[1].splitlines()[0], "emerg without file:line"
        assert get(c.port) == "two", "old config not kept"
        extra = free_port()
        c.conf('return 200 "three";', extra_listen=extra)
        c.cli("-s", "reload")
        assert until(lambda: get(extra) == "three"), "new listen address not served"
        os.rename(os.path.join(c.dir, "logs", "access.log"), os.path.join(c.dir, "logs", "access.log.1"))
        c.cli("-s", "reopen")
        assert until(lambda: get(c.port) == "three" and os.path.exists(os.path.join(c.dir, "logs", "access.log"))), "reopen"
        assert c.cli("-s", "quit").returncode == 0
        c.proc.wait(timeout=DEADLINE)
        assert c.proc.returncode == 0, "quit exit code"
        assert c.pid_file() is None, "pid file left behind"
    finally:
        c.close()


def check_stop_and_daemon(binary):
    c = Case(binary)
    try:
        c.conf('return 200 "d";')
        r = c.start(daemon=True)
        assert r.returncode == 0, "daemon start"
        assert until(lambda: get(c.port) == "d"), "daemon not serving"
        pid = int(c.pid_file())
        assert c.cli("-s", "stop").returncode == 0
        assert until(lambda: not os.path.exists(f"/proc/{pid}")), "stop"
        assert c.pid_file() is None
    finally:
        c.close()


def keepalive_get(sock, path="/"):
    """One request on a kept-alive connection; the body, or None once it is closed."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    data = b""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if b"\r\n\r\n" in data:
            head, body = data.split(b"\r\n\r\n", 1)
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            if len(body) >= length:
                return body[:length].decode()
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    return None


def check_keepalive_across_reload_and_quit(binary):
    """As nginx's old worker processes do: a reload closes a kept-alive connection waiting
    for its next request (the old serving process closes its idle connections as it stops)
    while new connections get the new config; QUIT closes an idle one at once and the
    process exits."""
    c = Case(binary)
    try:
        c.conf('return 200 "one";')
        assert c.start(), "did not start"
        kept = socket.create_connection(("127.0.0.1", c.port), timeout=DEADLINE)
        assert keepalive_get(kept) == "one"
        c.conf('return 200 "two";')
        assert c.cli("-s", "reload").returncode == 0
        assert until(lambda: get(c.port) == "two"), "reload not applied"
        assert closed(kept), "idle connection not closed by the reload"
        kept.close()
        kept = socket.create_connection(("127.0.0.1", c.port), timeout=DEADLINE)
        assert keepalive_get(kept) == "two"
        os.kill(c.proc.pid, signal.SIGQUIT)
        assert closed(kept), "idle connection not closed on QUIT"
        c.proc.wait(timeout=DEADLINE)
        assert c.proc.returncode == 0
        kept.close()
    finally:
        c.close()


def closed(sock):
    """The peer closed `sock` (an end of file or a reset) within its timeout."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def check_killed_serving_process(binary):
    """A serving process killed (SIGSEGV, then SIGKILL) costs only its own connections: the
    master logs nginx's alert, starts another, and the next request is served."""
    c = Case(binary)
    try:
        c.conf('return 200 "k";')
        assert c.start(), "did not start"
        for sig in (signal.SIGSEGV, signal.SIGKILL):
            serving = serving_process(c.proc.pid)
            assert serving, "no serving process"
            held = socket.create_connection(("127.0.0.1", c.port), timeout=DEADLINE)
            assert keepalive_get(held) == "k"  # accepted: the serving process's own
            os.kill(serving, sig)
            alert = re.compile(rf"^\S+ \S+ \[alert\] {c.proc.pid}#\d+: worker process {serving} exited on signal "
                               rf"{int(sig)}( \(core dumped\))?$", re.M)
            assert until(lambda: alert.search(c.error_log())), f"no alert for signal {int(sig)}"
            assert closed(held), "a connection of the killed process still open"
            held.close()
            assert get(c.port) == "k", f"not served after signal {int(sig)}"
            assert serving_process(c.proc.pid, replacing=serving), "no new serving process"
    finally:
        c.close()


def check_reloads_under_load(binary):
    """100 reloads while a client sends requests, each on a connection of its own: every
    one is answered 200, by the old config or the new (none lost across a reload)."""
    # nginx's master sleeps 100 ms after starting each new worker process: 20 reloads show
    # what it does in a couple of seconds.
    reloads = 20 if binary == NGINX else 100
    c = Case(binary)
    try:
        c.conf('return 200 "0";')
        assert c.start(), "did not start"
        answers, stop = [], threading.Event()

        def client():
            while not stop.is_set() and len(answers) < 100000:
                answers.append(fetch(c.port))
        sender = threading.Thread(target=client)
        sender.start()
        try:
            for i in range(1, reloads + 1):
                c.conf(f'return 200 "{i}";')
                os.kill(c.proc.pid, signal.SIGHUP)
                assert until(lambda: get(c.port) == str(i)), f"reload {i} not applied"
        finally:
            stop.set()
            sender.join()
        lost = [a for a in answers if not a or a[0] != "HTTP/1.1 200 OK"]
        assert not lost, f"{len(lost)} of {len(answers)} requests lost: {lost[:3]}"
        assert len(answers) >= reloads, f"only {len(answers)} requests sent"
        os.kill(c.proc.pid, signal.SIGQUIT)
        c.proc.wait(timeout=DEADLINE)
        assert c.proc.returncode == 0, "quit exit code"
    finally:
        c.close()


class TaggedEcho(hc.EchoBackend):
    """A TCP upstream on 127.0.0.1 that answers each read with its name and the bytes
    (the HTTP harness's backend and listener, an answer of its own)."""

    def answer(self, conn):
        with conn:
            conn.settimeout(DEADLINE * 4)
            try:
                while data := conn.recv(65536):
                    conn.sendall(self.name + data)
            except OSError:
                pass


def roundtrip(sock, data):
    """Sends `data` on a proxied session and returns the upstream's answer, b"" once the
    session is closed."""
    try:
        sock.sendall(data)
        sock.settimeout(DEADLINE)
        return sock.recv(65536)
    except OSError:
        return b""


def stream_session(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    except OSError:
        return None
    return s


def stream_conf(c, upstream, shutdown_timeout):
    modules = "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n"
    timeout = f"worker_shutdown_timeout {shutdown_timeout};\n" if shutdown_timeout else ""
    text = (f"{modules}pid logs/ngxlite.pid;\nerror_log logs/error.log info;\nworker_processes 1;\n{timeout}"
            "events {}\nstream {\n  log_format s '$status $upstream_addr $bytes_received';\n"
            f"  access_log logs/access.log s;\n  server {{ listen 127.0.0.1:{c.port}; proxy_pass 127.0.0.1:{upstream.port}; }}\n}}\n")
    open(os.path.join(c.dir, "nginx.conf"), "w").write(text)


def fresh_session(c, tag):
    """A new session, once the proxy answers through the upstream tagged `tag`."""
    def attempt():
        s = stream_session(c.port)
        if s and roundtrip(s, b"x") == tag + b"x":
            return s
        if s:
            s.close()
        return None
    found = []
    until(lambda: found.append(attempt()) or found[-1] is not None)
    return found[-1]


def check_stream_sessions_across_reload_and_quit(binary):
    """An established stream session keeps its upstream across a reload while new ones
    take the new config, and QUIT waits for it: the process exits once it ends."""
    c = Case(binary)
    one, two = TaggedEcho("1:"), TaggedEcho("2:")
    try:
        stream_conf(c, one, None)
        c.proc = subprocess.Popen([binary, "-p", c.dir + "/", "-c", "nginx.conf", "-g", "daemon off;"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        old = fresh_session(c, b"1:")
        assert old, "did not start"
        stream_conf(c, two, None)
        assert c.cli("-s", "reload").returncode == 0
        new = fresh_session(c, b"2:")
        assert new, "reload not applied to new sessions"
        new.close()
        assert roundtrip(old, b"a") == b"1:a", "established session lost on reload"
        os.kill(c.proc.pid, signal.SIGQUIT)
        assert roundtrip(old, b"b") == b"1:b", "established session lost on QUIT"
        assert c.proc.poll() is None, "exited with a session still open"
        old.close()
        c.proc.wait(timeout=DEADLINE)
        assert c.proc.returncode == 0, "quit exit code"
    finally:
        c.close()
        one.close()
        two.close()


def check_stream_shutdown_timeout(binary):
    """worker_shutdown_timeout closes an established session once it passes: after QUIT
    (the process then exits), and after a reload for a session of the old config; each
    session's access log line is written."""
    c = Case(binary)
    one = TaggedEcho("1:")
    try:
        stream_conf(c, one, "1s")
        c.proc = subprocess.Popen([binary, "-p", c.dir + "/", "-c", "nginx.conf", "-g", "daemon off;"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        old = fresh_session(c, b"1:")
        assert old, "did not start"
        assert c.cli("-s", "reload").returncode == 0
        assert roundtrip(old, b"a") == b"1:a", "established session lost on reload"
        old.settimeout(DEADLINE)
        assert old.recv(1) == b"", "old session not closed after worker_shutdown_timeout"
        old.close()
        session = fresh_session(c, b"1:")
        assert session, "no session after the reload"
        os.kill(c.proc.pid, signal.SIGQUIT)
        session.settimeout(DEADLINE)
        assert session.recv(1) == b"", "session not closed after worker_shutdown_timeout"
        c.proc.wait(timeout=DEADLINE)
        assert c.proc.returncode == 0, "quit exit code"
        lines = open(os.path.join(c.dir, "logs", "access.log")).read().splitlines()
        assert lines[-1] == f"200 127.0.0.1:{one.port} 1", "last session's log line: %r" % lines[-1:]
        assert "shutdown timeout while proxying connection" in c.error_log(), "no shutdown timeout line"
    finally:
        c.close()
        one.close()


def raise_file_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))  # the clients' side of the floods


def limit_conf(c, connections):
    """A config of `worker_connections` with nginx's default timeouts and enough files."""
    open(os.path.join(c.dir, "nginx.conf"), "w").write(
        "pid logs/ngxlite.pid;\nerror_log logs/error.log info;\nworker_rlimit_nofile 8192;\n"
        f"events {{ worker_connections {connections}; }}\nhttp {{ access_log off;\n"
        f"  server {{ listen 127.0.0.1:{c.port}; location / {{ return 200 \"w\"; }} }}\n}}\n")


def connect_many(port, n, head=b""):
    """n connections, each sending `head` (a request begun, or nothing: idle)."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        socks.append(s)
        try:
            s.sendall(head)
        except OSError:
            pass  # refused past the limit: closed by the server already
    return socks


def closed_by_server(sock):
    sock.settimeout(DEADLINE)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def refused(c):
    """nginx's alert for a connection it could not take."""
    return any("[alert]" in line and "worker_connections are not enough" in line for line in c.error_log().splitlines())


def check_worker_connections_reuse(binary):
    """At worker_connections, connections still waiting for a request are closed, oldest
    first, to make room (nginx's "reusing connections", one warning a second)."""
    c = Case(binary)
    held = []
    try:
        limit_conf(c, 64)
        assert c.start(), "did not start"
        held = connect_many(c.port, 200)  # idle: the first ones go to make room for the rest
        assert get(c.port) == "w", "not served past worker_connections with idle connections"
        assert closed_by_server(held[0]), "the oldest idle connection was kept"
        assert until(lambda: "64 worker_connections are not enough, reusing connections" in c.error_log()), "no warning"
        assert not refused(c), "refused while connections could be reused"
    finally:
        for s in held:
            s.close()
        c.close()


def check_worker_connections_refuse(binary):
    """With no connection waiting for a request, one past worker_connections is closed
    with nginx's alert. (Not run against nginx: it takes a connection whose bytes it has
    not read yet for one waiting, so a burst makes room or not by timing.)"""
    c = Case(binary)
    held = []
    try:
        limit_conf(c, 64)
        assert c.start(), "did not start"
        held = connect_many(c.port, 80, b"GET / HTTP/1.1\r\nHost: t\r\n")
        assert until(lambda: refused(c)), "no alert at the limit"
        assert closed_by_server(held[-1]), "a connection past the limit was kept"
        for s in held:
            s.close()
        assert until(lambda: get(c.port) == "w"), "not served again once connections closed"
    finally:
        for s in held:
            s.close()
        c.close()


def check_idle_and_slow_flood(binary):
    """3,000 idle and 500 slow connections against worker_connections 1024: the slow ones
    keep their place, the idle ones make room, and a normal request is answered."""
    c = Case(binary)
    slow = idle = []
    try:
        limit_conf(c, 1024)
        assert c.start(), "did not start"
        slow = connect_many(c.port, 500, b"GET / HTTP/1.1\r\nHost: t\r\n")
        idle = connect_many(c.port, 3000)
        assert get(c.port) == "w", "a normal request was not answered"
        for s in slow[:5] + slow[-5:]:  # still there: their requests complete
            s.sendall(b"\r\n")
            s.settimeout(DEADLINE)
            assert s.recv(64).startswith(b"HTTP/1.1 200"), "a slow connection was dropped"
        assert not refused(c), "connections refused"
    finally:
        for s in slow + idle:
            s.close()
        c.close()


def thread_credentials(pid):
    """Each thread of process `pid`: its Uid, Gid, Groups, CapEff and CapPrm status fields."""
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        lines = open(f"/proc/{pid}/task/{tid}/status").read().splitlines()
        fields = dict(line.split(":", 1) for line in lines if ":" in line)
        found[tid] = {name: fields[name].split() for name in ("Uid", "Gid", "Groups", "CapEff", "CapPrm")}
    return found


def check_user(binary):
    """Started as root with `user nobody nogroup;`, no thread of the serving process has
    root's ids, root's groups or a capability, before and after a reload, and a file only
    root may read is forbidden, as with nginx's worker processes; the master stays root,
    opens for the serving process a log only root can reach (added by the reload), and
    makes the logs it reopens on USR1 the user's, written by the serving process."""
    if os.geteuid() != 0:
        return
    uid, gid = str(pwd.getpwnam("nobody").pw_uid), str(grp.getgrnam("nogroup").gr_gid)
    unprivileged = {"Uid": [uid] * 4, "Gid": [gid] * 4, "Groups": [gid], "CapEff": ["0" * 16], "CapPrm": ["0" * 16]}
    c = Case(binary)
    try:
        c.conf("root html;", main="user nobody nogroup;\n")
        html = os.path.join(c.dir, "html")
        os.makedirs(html)
        os.chmod(c.dir, 0o755)
        for name, mode in (("open.txt", 0o644), ("secret.txt", 0o600)):
            path = os.path.join(html, name)
            open(path, "w").write(name)
            os.chmod(path, mode)
        c.proc = subprocess.Popen([binary, "-p", c.dir + "/", "-c", "nginx.conf", "-g", "daemon off;"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert until(lambda: get(c.port, "/open.txt") == "open.txt"), "not serving"
        assert fetch(c.port, "/secret.txt")[0] == "HTTP/1.1 403 Forbidden", "root-only file served"
        serving = None
        for moment in ("at start", "after a reload"):
            if serving:
                # The reload adds a log only root can reach: the master opens it.
                os.makedirs(os.path.join(c.dir, "private"), mode=0o700)
                c.conf("root html; access_log logs/access.log; access_log private/access.log;", main="user nobody nogroup;\n")
                os.kill(c.proc.pid, signal.SIGHUP)
            serving = serving_process(c.proc.pid, replacing=serving)
            assert serving, f"no serving process {moment}"
            for tid, creds in thread_credentials(serving).items():
                assert creds == unprivileged, f"thread {tid} {moment}: {creds}"
        get(c.port, "/open.txt")
        assert until(lambda: "/open.txt" in open(os.path.join(c.dir, "private", "access.log")).read()), \
            "no line in the root-only log opened by the reload"
        assert thread_credentials(c.proc.pid)[str(c.proc.pid)]["Uid"] == ["0"] * 4, "master not root"
        # USR1: the master reopens the logs as root and makes them the user's, so the
        # serving process can reopen and write them.
        access = os.path.join(c.dir, "logs", "access.log")
        os.rename(access, access + ".1")
        os.kill(c.proc.pid, signal.SIGUSR1)

        def logged_in_new_file():
            get(c.port, "/open.txt")
            return os.path.exists(access) and "/open.txt" in open(access).read()
        assert until(logged_in_new_file), "no access log line in the reopened file"
        assert str(os.stat(access).st_uid) == uid, "reopened log not the user's"
    finally:
        c.close()


def unix_get(path):
    """The body of GET / through the unix socket at `path`, or None."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(DEADLINE)
            s.connect(path)
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.split(b"\r\n\r\n", 1)[1].decode()
    except (OSError, IndexError):
        return None


def check_unix_socket_files(binary):
    """listen unix:PATH as nginx leaves its files: made 0666 at start, kept (the same
    socket) across a reload that keeps the listen, deleted ("deleting socket") by one that
    drops it, and deleted at exit."""
    c = Case(binary)
    kept, dropped = os.path.join(c.dir, "kept.sock"), os.path.join(c.dir, "dropped.sock")

    def write(*paths):
        listens = "".join(f" listen unix:{p};" for p in paths)
        open(os.path.join(c.dir, "nginx.conf"), "w").write(
            "pid logs/ngxlite.pid;\nerror_log logs/error.log info;\nevents {}\nhttp {\n  access_log off;\n"
            f"  server {{ listen 127.0.0.1:{c.port};{listens} location / {{ return 200 \"$remote_addr|$server_port\"; }} }}\n}}\n")
    try:
        write(kept, dropped)
        assert c.start(), "did not start"
        for path in (kept, dropped):
            mode = os.stat(path).st_mode
            assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o666, f"{path}: mode {oct(mode)}"
        assert unix_get(kept) == "unix:|", unix_get(kept)
        inode = os.stat(kept).st_ino
        write(kept)
        assert c.cli("-s", "reload").returncode == 0
        assert until(lambda: not os.path.exists(dropped)), "dropped socket file left"
        assert "deleting socket " + dropped in c.error_log(), "no \"deleting socket\" line"
        assert os.stat(kept).st_ino == inode, "kept socket re-made"
        assert unix_get(kept) == "unix:|", "kept socket not served after the reload"
        assert c.cli("-s", "quit").returncode == 0
        c.proc.wait(timeout=DEADLINE)
        assert not os.path.exists(kept), "socket file left at exit"
    finally:
        c.close()


def socket_stats(state, port):
    """`ss`'s lines for the TCP sockets on 127.0.0.1:`port` in `state`, with timers and memory."""
    return subprocess.run(["ss", "-Htnom", "state", state, "sport", "=", f":{port}"],
                          capture_output=True, text=True, timeout=DEADLINE).stdout


def check_listen_socket_options(binary):
    """listen's rcvbuf=, sndbuf= on the listening socket (the kernel doubles them) and
    so_keepalive=idle:intvl:cnt inherited by an accepted connection (its keepalive timer)."""
    c = Case(binary)
    try:
        open(os.path.join(c.dir, "nginx.conf"), "w").write(
            "pid logs/ngxlite.pid;\nerror_log logs/error.log info;\nevents {}\nhttp {\n  access_log off;\n"
            f"  server {{ listen 127.0.0.1:{c.port} rcvbuf=48k sndbuf=96k so_keepalive=7m:75s:4 deferred;\n"
            "    location / { return 200 ok; } }\n}\n")
        assert c.start(), "did not start"
        listening = socket_stats("listening", c.port)
        assert "rb98304," in listening and "tb196608," in listening, listening
        with socket.create_connection(("127.0.0.1", c.port), timeout=2) as s:
            keepalive_get(s)
            accepted = socket_stats("established", c.port)
            assert re.search(r"timer:\(keepalive,(6min[0-9]+sec|7min),0\)", accepted), accepted
    finally:
        c.close()


def check_proxy_socket_keepalive(binary):
    """proxy_socket_keepalive on: the connections to the upstream, http's and stream's,
    carry SO_KEEPALIVE (a keepalive timer in `ss`); the one without it has none."""
    c = Case(binary)
    backend = socket.socket()
    try:
        backend.bind(("127.0.0.1", 0))
        backend.listen(8)
        backend.settimeout(DEADLINE)
        port = backend.getsockname()[1]
        stream_port = free_port()
        open(os.path.join(c.dir, "nginx.conf"), "w").write(
            "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n"
            "pid logs/ngxlite.pid;\nerror_log logs/error.log info;\nevents {}\n"
            f"stream {{ server {{ listen 127.0.0.1:{stream_port}; proxy_pass 127.0.0.1:{port}; proxy_socket_keepalive on; }} }}\n"
            "http {\n  access_log off;\n"
            f"  server {{ listen 127.0.0.1:{c.port}; location / {{ return 200 ok; }}\n"
            f"    location /on {{ proxy_pass http://127.0.0.1:{port}; proxy_socket_keepalive on; }}\n"
            f"    location /off {{ proxy_pass http://127.0.0.1:{port}; }} }}\n}}\n")
        assert c.start(), "did not start"
        clients = [socket.create_connection(("127.0.0.1", p), timeout=2) for p in (c.port, stream_port, c.port)]
        for client, data in zip(clients, (b"GET /on HTTP/1.0\r\n\r\n", b"x", b"GET /off HTTP/1.0\r\n\r\n")):
            client.sendall(data)
        accepted = [backend.accept()[0] for _ in clients]

        def outgoing():
            return subprocess.run(["ss", "-Htno", "state", "established", "dport", "=", f":{port}"],
                                  capture_output=True, text=True, timeout=DEADLINE).stdout
        assert until(lambda: outgoing().count("\n") == 3 and outgoing().count("timer:(keepalive") == 2), outgoing()
        for sock in accepted + clients:
            sock.close()
    finally:
        backend.close()
        c.close()


def check_buffered_access_logs(binary):
    """access_log buffer= (written when the next line would not fit, and at exit), and
    gzip with flush= (one gzip member once the flush time passes)."""
    c = Case(binary)
    try:
        text = (f"pid logs/ngxlite.pid;\nerror_log logs/error.log info;\nevents {{}}\nhttp {{\n"
                f"  log_format test '$uri:$status';\n  access_log off;\n"
                f"  server {{ listen 127.0.0.1:{c.port};\n"
                f"    location /buf {{ access_log logs/buf.log test buffer=64; return 200 OK; }}\n"
                f"    location /gz {{ access_log logs/gz.log test gzip buffer=1m flush=200ms; return 200 OK; }}\n"
                f"    location / {{ return 200 OK; }} }}\n}}\n")
        open(os.path.join(c.dir, "nginx.conf"), "w").write(text)
        assert c.start(), "did not start"
        buf, gz = (os.path.join(c.dir, "logs", name) for name in ("buf.log", "gz.log"))
        size = lambda path: os.path.getsize(path) if os.path.exists(path) else 0  # noqa: E731
        # Each line "/bufN:200\n" is 10 bytes, but nginx asks 27 of the buffer for it
        # ($status reserves 20): the fifth does not fit behind four.
        for i in range(1, 5):
            assert get(c.port, f"/buf{i}") == "OK"
        assert size(buf) == 0, f"written before the buffer filled: {open(buf).read()!r}"
        assert get(c.port, "/buf5") == "OK"
        assert until(lambda: size(buf) == 40), f"four lines not written when the fifth did not fit: {size(buf)}"
        for i in range(1, 4):
            assert get(c.port, f"/gz{i}") == "OK"
        assert until(lambda: size(gz) > 0), "gzip buffer not flushed after flush="
        import gzip
        assert gzip.decompress(open(gz, "rb").read()) == b"/gz1:200\n/gz2:200\n/gz3:200\n", "gzip member"
        assert c.cli("-s", "quit").returncode == 0
        c.proc.wait(timeout=DEADLINE)
        lines = open(buf).read().splitlines()
        assert lines == [f"/buf{i}:200" for i in range(1, 6)], f"buffer not written at exit: {lines}"
    finally:
        c.close()


def check_bad_config_exits(binary):
    c = Case(binary)
    try:
        open(os.path.join(c.dir, "nginx.conf"), "w").write("events {}\nhttp { server { listen x:y; } }\n")
        r = c.cli("-g", "daemon off;")
        assert r.returncode == 1, "exit code"
        assert "[emerg]" in r.stderr and "nginx.conf:2" in r.stderr, r.stderr
    finally:
        c.close()


def main():
    binary = os.path.abspath(sys.argv[1])
    raise_file_limit()
    passed = failed = 0
    checks = [(check, binary) for check in (check_reload_and_quit, check_worker_connections_refuse, check_stop_and_daemon,
                                            check_bad_config_exits)]
    for check in (check_keepalive_across_reload_and_quit, check_stream_sessions_across_reload_and_quit,
                  check_stream_shutdown_timeout, check_killed_serving_process, check_user, check_reloads_under_load,
                  check_worker_connections_reuse, check_idle_and_slow_flood, check_unix_socket_files,
                  check_listen_socket_options, check_proxy_socket_keepalive, check_buffered_access_logs):
        checks += [(check, NGINX), (check, binary)]  # nginx first: the expectations are its behaviour
    for check, run in checks:
        try:
            check(run)
            passed += 1
        except Exception as e:
            failed += 1
            print(f"FAIL {check.__name__} ({os.path.basename(run)}): {e!r}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
