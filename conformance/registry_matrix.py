#!/usr/bin/env python3
"""registry_matrix.py REFERENCE_TSV OUT_DIR

Writes one -t case per directive of nginx 1.22.1 into OUT_DIR, twice: the directive in a
context it does not allow, and in a context it allows but with eight arguments. Real nginx
and ngxlite then judge every case side by side (conformance/t_conformance.sh), so the
registry's contexts, argument counts and messages are checked against nginx itself.
"""
import os
import sys

LOAD = "load_module modules/ngx_stream_module.so;\nload_module modules/ngx_mail_module.so;\n"

# Where to put a directive so that it sits in context CTX (innermost block last).
WRAP = {
    "main": ("", ""),
    "events": ("events {\n", "}\n"),
    "http": ("http {\n", "}\n"),
    "http.server": ("http { server {\n", "} }\n"),
    "http.location": ("http { server { location / {\n", "} } }\n"),
    "http.upstream": ("http { upstream u { server 127.0.0.1:1;\n", "} }\n"),
    "http.server.if": ("http { server { if ($a) {\n", "} } }\n"),
    "http.location.if": ("http { server { location / { if ($a) {\n", "} } } }\n"),
    "http.limit_except": ("http { server { location / { limit_except GET {\n", "} } } }\n"),
    "stream": ("stream {\n", "}\n"),
    "stream.server": ("stream { server { listen 127.0.0.1:1; proxy_pass 127.0.0.1:2;\n", "} }\n"),
    "stream.upstream": ("stream { upstream u { server 127.0.0.1:1;\n", "} }\n"),
    "mail": ("mail {\n", "}\n"),
    "mail.server": ("mail { server {\n", "} }\n"),
}

def config(ctx, line):
    head, tail = WRAP[ctx]
    events = "" if ctx == "events" else "events {}\n"
    return LOAD + events + head + line + "\n" + tail

def main(tsv, out):
    seen = set()
    with open(tsv, encoding="utf-8") as f:
        f.readline()
        for row in f:
            name, module, contexts, args, setter, values = row.rstrip("\n").split("\t")
            ctxs = contexts.split()
            if name in ("include",) or "any" in ctxs:
                continue
            block = args.startswith("block")
            end = " {}" if block else ";"
            wrong = next((c for c in ("events", "main", "http.location", "stream.server", "http")
                          if c not in ctxs and not any(c == o for o in ctxs)), None)
            if wrong and (name, wrong) not in seen:
                seen.add((name, wrong))
                d = os.path.join(out, f"ctx-{name}-{wrong}")
                os.makedirs(d, exist_ok=True)
                open(os.path.join(d, "nginx.conf"), "w").write(config(wrong, name + " x" + end))
            ok = ctxs[0]
            if (name, "arity") not in seen and args not in ("1+", "2+", "any") and ok in WRAP:
                seen.add((name, "arity"))
                d = os.path.join(out, f"args-{name}-{ok}")
                os.makedirs(d, exist_ok=True)
                open(os.path.join(d, "nginx.conf"), "w").write(config(ok, name + " a b c d e f g h" + end))

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
