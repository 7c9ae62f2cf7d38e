#!/usr/bin/env python3
"""corpus_start.py BINARY [--corpus DIR] [--require-started FILE] [CASE...]

Starts BINARY (ngxlite, or nginx itself) for real on every case of the shared corpus that
nginx accepts (EXPECTED.tsv exit code 0), one at a time: `-t` passing is not enough. A case
has started when every address it listens on (from `BINARY -T`: the `listen`s of http,
stream and mail servers, *:80 for an http server with none) is held by the process, a
worker has given up root and the master is still alive; it is refused when the process
exits (its first emerg/alert/crit line) or does not get there in 10 s.

A case runs as corpus/check.sh runs `-t` (a fresh copy of the corpus, the `modules`
symlink, the case dir as cwd and prefix, GLOBALS.tsv's -g string), in the foreground:
`daemon off; master_process on;` are added to -g, each unless the case sets it.
Stopped with SIGQUIT, then SIGKILL; every wait is a poll with a deadline.

ngxlite names only the first thing it does not implement, so a case refused that way is
started again with that directive commented out in the copy (a `listen` parameter: the
word), until it starts or stops for another reason: every directive that blocks a config
is counted, and the configs one directive away from starting are seen.

Prints one line per case, then: N of M started, the refusals by cause, the blocking
directives by the configs they block. Exit status 0 (a report), 2 when the harness breaks,
1 with --require-started FILE (case names, one a line) when one of those did not start.
"""
import argparse
import collections
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

START_DEADLINE = 10.0
STOP_DEADLINE = 5.0
BUSY_DEADLINE = 30.0
POLL = 0.05
MAX_PEELS = 30
DEFAULT_G = "error_log stderr; pid nginx.pid;"
MODULES_DIR = os.environ.get("NGX_MODULES_DIR", "/usr/lib/nginx/modules")
DEFAULT_CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "corpus")


# --- the corpus, prepared the way check.sh prepares it

def read_tsv(path, header=True):
    """Rows split at tabs; EXPECTED.tsv has a header row, GLOBALS.tsv none."""
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()][int(header):]


def copy_corpus(corpus, tmp):
    """A fresh copy (cases write pid and log files) with a `modules` symlink in every case
    dir that has none, so `load_module modules/...so` resolves as in Debian's layout."""
    shutil.copytree(corpus, tmp, symlinks=True, dirs_exist_ok=True)
    for name in os.listdir(tmp):
        d = os.path.join(tmp, name)
        if os.path.isdir(d) and not os.path.lexists(os.path.join(d, "modules")):
            os.symlink(MODULES_DIR, os.path.join(d, "modules"))


# --- the configuration, as `BINARY -T` dumps it (every file once, includes not expanded)

# nginx's tokens: ; { } "quoted" 'quoted' and words (${var} may hold a brace); # comments.
TOKEN = re.compile(r"""\s+|\#[^\n]*|([;{}])|"((?:\\.|[^"\\])*)"|'((?:\\.|[^'\\])*)'|((?:\$\{[^}]*\}|\\.|[^\s;{}\\])+)""")


def parse(text):
    """A list of (name, args, block or None)."""
    stack, current, words = [], [], []
    for m in TOKEN.finditer(text):
        punct, word = m.group(1), next((g for g in m.groups()[1:] if g is not None), None)
        if word is not None:
            words.append(re.sub(r"\\(.)", r"\1", word))
        elif punct == ";" and words:
            current.append((words[0], words[1:], None))
            words = []
        elif punct == "{":
            current.append((words[0] if words else "", words[1:], []))
            stack.append(current)
            current, words = current[-1][2], []
        elif punct == "}":
            current, words = (stack.pop() if stack else current), []
    return current


def dumped_files(dump):
    """{normalized path: parsed contents} from the "# configuration file PATH:" sections."""
    parts = re.split(r"^# configuration file (.+):$", dump, flags=re.M)
    return {os.path.normpath(parts[i]): parse(parts[i + 1]) for i in range(1, len(parts) - 1, 2)}


def expand(tree, files, conf_dir, depth=0):
    """The tree with every `include` replaced by what it includes (a relative pattern is
    relative to the main file's dir, as nginx resolves it)."""
    out = []
    for name, args, block in tree:
        if name == "include" and args and depth < 50:
            pattern = os.path.join(conf_dir, args[0])
            for path in sorted(glob.glob(pattern)):
                out += expand(files.get(os.path.normpath(path), []), files, conf_dir, depth + 1)
        else:
            out.append((name, args, None if block is None else expand(block, files, conf_dir, depth)))
    return out


def endpoint(args, casedir):
    """("tcp"|"udp"|"unix", family 4|6|None (a host name: either), port or path)."""
    addr, proto = args[0], "udp" if "udp" in args[1:] else "tcp"
    if addr.startswith("unix:"):
        return ("unix", None, os.path.normpath(os.path.join(casedir, addr[5:])))
    if addr.startswith("["):
        _, _, port = addr[1:].partition("]")
        return (proto, 6, int(port[1:]) if port.startswith(":") else 80)
    host, _, port = addr.rpartition(":")
    if not host:
        host, port = ("*", addr) if addr.isdigit() else (addr, "80")
    return (proto, 4 if host == "*" or re.fullmatch(r"[\d.]+", host) else None, int(port))


def expected_sockets(tree, casedir):
    """Every server's `listen`s, and *:80 for an http server with none (as root)."""
    found = set()
    for name, _, block in tree:
        for sname, _, sblock in block if name in ("http", "stream", "mail") and block else []:
            if sname == "server" and sblock is not None:
                listens = [endpoint(a, casedir) for d, a, _ in sblock if d == "listen" and a]
                found |= set(listens) or ({("tcp", 4, 80)} if name == "http" else set())
    return found


def configuration(binary, casedir, g, root):
    """(expanded config tree, None), or (None, the refusal) when `BINARY -T` fails."""
    run = subprocess.run([binary, "-T", "-p", casedir + "/", "-c", "nginx.conf", "-g", g], cwd=casedir,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace", timeout=60)
    if run.returncode != 0:
        return None, "-T: " + (first_error(run.stderr, casedir, root) or run.stderr.strip()[:200])
    files = dumped_files(run.stdout)
    return expand(files.get(os.path.join(casedir, "nginx.conf"), []), files, casedir), None


# --- sockets on this machine, and which process holds them

def proc_sockets(cwd):
    """[(proto, family, port or path, listening, inode)] of every socket on the machine;
    a unix socket's path as bound, a relative one (`unix:./x.sock`) taken as in cwd."""
    out = []
    for proto, family in (("tcp", 4), ("tcp", 6), ("udp", 4), ("udp", 6)):
        with open(f"/proc/net/{proto}{'6' if family == 6 else ''}") as f:
            for col in (line.split() for line in f.readlines()[1:]):
                listening = col[3] == "0A" or proto == "udp"  # 0A: TCP_LISTEN
                out.append((proto, family, int(col[1].split(":")[1], 16), listening, int(col[9])))
    with open("/proc/net/unix") as f:
        for col in (line.split() for line in f.readlines()[1:]):
            if len(col) >= 8:  # 0x10000: __SO_ACCEPTCON, a listening socket
                path = os.path.normpath(os.path.join(cwd, col[7]))
                out.append(("unix", None, path, int(col[3], 16) & 0x10000 != 0, int(col[6])))
    return out


def matches(sock, want):
    proto, family, key, listening, _ = sock
    return listening and proto == want[0] and key == want[2] and want[1] in (None, family)


def process_tree(pid):
    pids, todo = [], [pid]
    while todo:
        pids.append(todo.pop())
        for task in glob.glob(f"/proc/{pids[-1]}/task/*/children"):
            try:
                todo += [int(c) for c in open(task).read().split()]
            except OSError:
                pass
    return pids


def socket_inodes(pids):
    """{inode: pid} of the sockets the processes hold."""
    inodes = {}
    for pid in pids:
        for fd in glob.glob(f"/proc/{pid}/fd/*"):
            try:
                inodes[int(re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd)).group(1))] = pid
            except (OSError, AttributeError):  # gone, or not a socket
                pass
    return inodes


def busy(wanted, casedir):
    """What on this machine already holds a port or path the case listens on, or None."""
    for sock in proc_sockets(casedir):
        for want in wanted:
            if matches(sock, (want[0], None, want[2])):
                pid = socket_inodes(int(p) for p in os.listdir("/proc") if p.isdigit()).get(sock[4])
                comm = open(f"/proc/{pid}/comm").read().strip() if pid else "?"
                return f"{want[0]} {want[2]} is held by pid {pid} ({comm}) on this machine"
    return None


def serving(pids):
    """True once a worker (a child of the master) has given up root: set up to serve.
    (A harness that is not root sees any child as that.)"""
    for pid in pids[1:]:
        try:
            if os.getuid() != 0 or re.search(r"^Uid:\s+[1-9]", open(f"/proc/{pid}/status").read(), re.M):
                return True
        except OSError:
            pass
    return False


# --- one start

def first_error(text, casedir, root):
    """The first emerg/alert/crit line, as "[level] msg" with check.sh's {prefix}/{root}."""
    pick = next((line for line in text.splitlines() if re.search(r"\[(emerg|alert|crit)\] ", line)), None)
    if pick is None:
        return None
    pick = pick.replace(casedir, "{prefix}").replace(root, "{root}")
    pick = re.sub(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: ", r"\1 ", pick)
    return re.sub(r"^[^ :\[]+: (\[\w+\] )", r"\1", pick)


def stop(proc):
    """SIGQUIT to the master (it stops its workers), bounded; then SIGKILL to the process
    group the harness made for it (workers a killed master left too)."""
    def group_left(sig=0):
        try:
            os.killpg(proc.pid, sig)
            return True
        except ProcessLookupError:
            return False
    proc.send_signal(signal.SIGQUIT)
    for sig in (None, signal.SIGKILL):
        if sig:
            group_left(sig)
        deadline = time.monotonic() + STOP_DEADLINE
        while (proc.poll() is None or group_left()) and time.monotonic() < deadline:
            time.sleep(POLL)
        if proc.poll() is not None and not group_left():
            return
    raise RuntimeError(f"process group {proc.pid} survived SIGKILL")


def start(binary, casedir, g, wanted, root):
    """"started", or the refusal: runs the case in the foreground and polls."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([binary, "-p", casedir + "/", "-c", "nginx.conf", "-g", g], cwd=casedir,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        verdict, missing, deadline = None, wanted, time.monotonic() + START_DEADLINE
        while verdict is None and proc.poll() is None and time.monotonic() < deadline:
            pids = process_tree(proc.pid)
            held = socket_inodes(pids)
            mine = [s for s in proc_sockets(casedir) if s[4] in held]
            missing = [w for w in wanted if not any(matches(s, w) for s in mine)]
            if not missing and serving(pids) and proc.poll() is None:
                verdict = "started"
            time.sleep(POLL)
        if verdict is None and proc.poll() is None:
            gone = ", ".join(f"{w[0]} {w[2]}" for w in sorted(missing, key=str)).replace(casedir, "{prefix}")
            verdict = f"not serving within {START_DEADLINE:.0f} s (missing: {gone or 'a worker without root'})"
        stop(proc)
        log.seek(0)
        text = log.read().decode(errors="replace")
    return verdict or first_error(text, casedir, root) or f"exit status {proc.returncode}: {text.strip()[:200]}"


def attempt(binary, root, case, g):
    """"started" or the refusal of one start of the case as its copy is now."""
    casedir = os.path.join(root, case)
    tree, refusal = configuration(binary, casedir, g, root)
    if refusal:
        return refusal
    main_names = {name for name, _, _ in tree}
    for name, value in (("daemon", "off"), ("master_process", "on")):  # the case's own wins:
        g += "" if name in main_names else f" {name} {value};"          # a duplicate is an emerg
    wanted = expected_sockets(tree, casedir)
    deadline = time.monotonic() + BUSY_DEADLINE  # another job's tests may hold 8080 a while
    while (taken := busy(wanted, casedir)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return f"not run: {taken}" if taken else start(binary, casedir, g, wanted, root)


# --- every blocker of a case: comment out what ngxlite refused, start again

def blocker(line):
    """The directive (or listen parameter) a "not implemented" refusal names, or None."""
    m = re.search(r"\] (.*?) is not implemented by ngxlite", line or "")
    return re.sub(r"^the ", "", m.group(1).replace('"', "")) if m else None


def comment_out(lines, n):
    """The lines with the directive ending at line n commented out, its block too (braces
    counted plainly)."""
    start = n  # nginx names a directive's last line: back to where it begins
    while start > 0 and not re.search(r"[;{}]\s*$", lines[start - 1].split("#", 1)[0]):
        start -= 1
    depth, i = 0, start
    while i < len(lines):
        code = lines[i].split("#", 1)[0]
        depth += code.count("{") - code.count("}")
        lines[i] = "#" + lines[i]
        if depth <= 0 and (";" in code or "}" in code):
            break
        i += 1
    return lines


def edit(path, change, saved):
    """Applies change(lines) to a file of the copy, keeping its original text in saved."""
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        text = f.read()
    new = "\n".join(change(text.split("\n")))
    if new != text:
        saved.setdefault(path, text)
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(new)


def peel(line, root, case, saved):
    """Edits the copy so the refused thing is gone; False when the refusal names no file
    and line. A `listen` parameter goes from every `listen` of the case: nginx merges a
    port's parameters over its listens, so the line named may not hold it."""
    m = re.search(r" in (\{prefix\}|\{root\})(/.+):(\d+)$", line)
    if not m:
        return False
    casedir = os.path.join(root, case)
    param = re.search(r'the "(\w+)" parameter of "listen"', line)
    if param:
        drop = re.compile(rf"(^\s*listen\s.*?)\s{param.group(1)}\b")
        for d, _, names in os.walk(casedir):
            for name in names:
                edit(os.path.join(d, name), lambda lines: [drop.sub(r"\1", x) for x in lines], saved)
    else:
        path = os.path.normpath((casedir if m.group(1) == "{prefix}" else root) + m.group(2))
        edit(path, lambda lines: comment_out(lines, int(m.group(3)) - 1), saved)
    return True


def run_case(binary, root, case, g):
    """(first verdict, [blockers], verdict once they are out of the way)."""
    saved, blockers = {}, []
    verdict = first = attempt(binary, root, case, g)
    try:
        previous = None
        while blocker(verdict) and verdict != previous and len(blockers) < MAX_PEELS \
                and peel(verdict, root, case, saved):
            blockers.append(blocker(verdict))
            previous, verdict = verdict, attempt(binary, root, case, g)
    finally:
        for path, text in saved.items():  # the copy is shared by the cases after this one
            with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(text)
    return first, blockers, verdict


# --- the report

NOT_RUN = "not run: port held by another process"
CAUSES = [
    (r"is not implemented by ngxlite", "not implemented by ngxlite"),
    (r"getpwnam|getgrnam", "user missing on this machine"),
    (r"host not found", "host not found (DNS)"),
    (r"bind\(\) to .* failed", "bind() failed"),
    (r"open\(\) .* failed", "open() failed (a file or directory)"),
    (r"^not serving within", "did not serve in time"),
    (r"^not run: ", NOT_RUN),
    (r"^-T: ", "refused by -T"),
]


def cause(line):
    return next((name for pattern, name in CAUSES if re.search(pattern, line)), "other")


def case_line(case, first, blockers, last, corpus):
    out = f"{case}: {first}" if first == "started" or cause(first) == NOT_RUN else f"{case}: refused: {first}"
    if blockers:
        named = collections.Counter(blockers)  # in order, a repeated one once: "x (3 times)"
        listed = ", ".join(b + (f" ({named[b]} times)" if named[b] > 1 else "") for b in named)
        out += f"\n    blocked by: {listed}; without them: {last}"
    if cause(first) == "user missing on this machine" and os.path.isdir(os.path.join(corpus, case + "-nouser")):
        out += f"\n    (the corpus has it without the user: {case}-nouser)"
    return out


def summary(results, total):
    print(f"\n{sum(r[0] == 'started' for r in results.values())} of {total} started")
    refused = [r[0] for r in results.values() if r[0] != "started"]
    if refused:
        print(f"{len(refused)} not started, by cause:")
        for name, n in collections.Counter(map(cause, refused)).most_common():
            print(f"  {n:4d}  {name}")
    blocks = collections.Counter(b for _, bs, _ in results.values() for b in set(bs))
    alone = collections.Counter(bs[0] for _, bs, last in results.values() if len(set(bs)) == 1 and last == "started")
    if blocks:
        freed = sum(bs != [] and last == "started" for _, bs, last in results.values())
        print(f"not implemented by ngxlite: configs each blocks (every blocker of a config, commented out in turn;\n"
              f"  'alone': configs that start once just that one is out of the way; {freed} start once all are)")
        for name, n in blocks.most_common():
            print(f"  {n:4d}  alone {alone[name]:3d}  {name}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    ap.add_argument("binary")
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    ap.add_argument("--require-started", metavar="FILE")
    opt = ap.parse_intermixed_args()
    binary = shutil.which(opt.binary) or ap.error(f"no such binary: {opt.binary}")
    binary, corpus = os.path.abspath(binary), os.path.abspath(opt.corpus)
    accepted = [row[0] for row in read_tsv(os.path.join(corpus, "EXPECTED.tsv")) if row[1] == "0"]
    cases = [c.rstrip("/") for c in opt.cases] or accepted
    required = []
    if opt.require_started:
        with open(opt.require_started) as f:
            required = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    if set(cases + required) - set(accepted):  # a typo would hold no line
        ap.error(f"not cases nginx accepts: {' '.join(sorted(set(cases + required) - set(accepted)))}")
    globals_of = {row[0]: row[1] for row in read_tsv(os.path.join(corpus, "GLOBALS.tsv"), header=False)}
    # most cases bind 80 and 443: say up front when something else holds them (a case whose
    # port is held waits up to BUSY_DEADLINE, then is "not run")
    held = busy({("tcp", None, 80), ("tcp", None, 443)}, "/")
    print(f"# {binary}; before the run: {held or 'nothing listens on 80 or 443'}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="corpus_start.") as root:
        copy_corpus(corpus, root)
        for case in cases:
            results[case] = run_case(binary, root, case, globals_of.get(case, DEFAULT_G))
            print(case_line(case, *results[case], corpus), flush=True)
    summary(results, len(cases))
    failing = [c for c in required if c in results and results[c][0] != "started"]
    for c in failing:
        print(f"REQUIRED but not started: {c}")
    return 1 if failing else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # the harness broke: not a verdict on BINARY
        traceback.print_exc()
        sys.exit(2)
