#!/usr/bin/env python3
"""Generates parser/directive_table.inc from the nginx 1.22.1 reference table and
parser/support.tsv.

Usage: tools/gen_directive_table.py ../shared/reference/nginx-1.22.1-directives.tsv \
           parser/support.tsv > parser/directive_table.inc

Each row is one directive of one module, as nginx declares it: contexts, argument
count and the name of nginx's handler, with what ngxlite's runtime does with it
(support.tsv); then -V's configure arguments, from the same file. The output is
committed; tools/test.sh checks it is current.
"""
import collections
import sys

CONTEXT_BITS = {
    "main": "kMain", "events": "kEvents", "http": "kHttp", "http.server": "kHttpServer",
    "http.location": "kHttpLocation", "http.upstream": "kHttpUpstream",
    "http.server.if": "kHttpServerIf", "http.location.if": "kHttpLocationIf",
    "http.limit_except": "kHttpLimitExcept", "stream": "kStream",
    "stream.server": "kStreamServer", "stream.upstream": "kStreamUpstream",
    "mail": "kMail", "mail.server": "kMailServer", "any": "kAnyContext",
}

# Allowed words the reference table leaves empty because nginx keeps them in tables
# shared by several modules (ngx_http_upstream.c: ngx_http_upstream_ignore_headers_masks
# and ngx_http_upstream_cache_method_mask).
SUPPLEMENT = {
    "ignore_headers": "X-Accel-Redirect,X-Accel-Expires,X-Accel-Limit-Rate,X-Accel-Buffering,"
                      "X-Accel-Charset,Expires,Cache-Control,Set-Cookie,Vary",
    "cache_methods": "GET,HEAD,POST",
}

# Directives Debian's nginx 1.22.1 (1.22.1-9+deb12u11, the reference binary) has beyond
# the upstream release the reference table lists, in the table's own columns.
DEBIAN = [
    "max_headers\tngx_http_core_module\thttp http.server\t1\tngx_conf_set_num_slot\t",
]

def supplemented(name, values):
    if values:
        return values
    for suffix, words in SUPPLEMENT.items():
        if name.endswith("_" + suffix):
            return words
    return values

def arg_bits(spec):
    bits = []
    if spec.startswith("block+"):
        bits.append("kBlock")
        spec = spec[len("block+"):]
    if spec.startswith("0+"):
        bits.append("kNoArgs")
        spec = spec[2:]
    if spec == "flag":
        bits.append("kFlag")
    elif spec == "any":
        bits.append("kAnyArgs")
    elif spec == "1+":
        bits.append("kOneOrMore")
    elif spec == "2+":
        bits.append("kTwoOrMore")
    elif spec == "0":
        bits.append("kNoArgs")
    else:
        for alt in spec.split("|"):
            if "-" in alt:
                lo, hi = alt.split("-")
                bits += [f"kTake{n}" for n in range(int(lo), int(hi) + 1)]
            else:
                bits.append(f"kTake{int(alt)}" if alt != "0" else "kNoArgs")
    return " | ".join(bits)

SUPPORT = {"serves": "Support::serves", "inert": "Support::inert", "warns": "Support::warns", "refuses": "Support::refuses"}


def read_support(path, modules):
    """Each directive's support and whether `off` is nginx's default, and the configure
    arguments, in the file's order. Fails on names the reference lacks and on modules
    without a row of their own."""
    module_level, directive_level, configure = {}, {}, []
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip() and not line.startswith("#")]
    assert rows[0] == ["module", "directive", "support", "note"], rows[0]
    for module, directive, support, note in rows[1:]:
        if directive == "*":
            assert support in ("serves", "absent"), (module, support)
            assert module in modules or module.startswith("("), "no such module: " + module
            module_level[module] = SUPPORT["serves" if support == "serves" else "refuses"]
            if note != "-":
                configure.append(note)
        else:
            assert support in SUPPORT and note in ("off", "-"), (module, directive, support, note)
            assert directive in [d[0] for d in modules.get(module, [])], "no such directive: %s %s" % (module, directive)
            directive_level[(module, directive)] = (SUPPORT[support], note == "off")
    undecided = [m for m in modules if m not in module_level]
    assert not undecided, "modules without a row in support.tsv: " + " ".join(undecided)
    def support_of(module, name):
        return directive_level.get((module, name), (module_level[module], False))
    # nginx's order: what a build adds, then what it leaves out.
    configure.sort(key=lambda arg: arg.startswith("--without"))
    return support_of, " ".join(configure)


def main(path, support_path, names_only=False):
    modules = collections.OrderedDict()
    with open(path, encoding="utf-8") as f:
        header = f.readline()
        assert header.startswith("directive\tmodule"), header
        for line in list(f) + DEBIAN:
            name, module, contexts, args, setter, values = line.rstrip("\n").split("\t")
            ctx = " | ".join(CONTEXT_BITS[c] for c in contexts.split())
            modules.setdefault(module, []).append((name, ctx, arg_bits(args), setter, supplemented(name, values)))
    support_of, configure = read_support(support_path, modules)
    if names_only:
        names = sorted({d[0] for ds in modules.values() for d in ds})
        out = ["// Generated by tools/gen_directive_table.py --names from nginx-1.22.1-directives.tsv:",
               "// every directive name, sorted, for DirectiveName's compile-time check. Do not edit.", "",
               "inline constexpr std::string_view kDirectiveNames[] = {"]
        out += [f'    "{n}",' for n in names]
        out.append("};")
        sys.stdout.write("\n".join(out) + "\n")
        return
    out = ["// Generated by tools/gen_directive_table.py from nginx-1.22.1-directives.tsv and",
           "// parser/support.tsv. Do not edit: rerun the generator. One table per nginx module.", ""]
    for module in sorted(modules):
        out.append(f"constexpr DirectiveSpec k_{module}[] = {{")
        for name, ctx, args, setter, values in modules[module]:
            support, off = support_of(module, name)
            off = "true" if off else "false"
            out.append(f'    {{"{name}", "{module}", {ctx}, {args}, "{setter}", "{values}", {support}, {off}}},')
        out.append("};")
    out.append("")
    out.append("constexpr ModuleTable kModuleTables[] = {")
    for module in sorted(modules):
        out.append(f'    {{"{module}", k_{module}}},')
    out.append("};")
    out.append("")
    out.append(f'constexpr std::string_view kConfigureArguments = "{configure}";')
    sys.stdout.write("\n".join(out) + "\n")

if __name__ == "__main__":
    if sys.argv[1] == "--names":
        main(sys.argv[2], sys.argv[3], names_only=True)
    else:
        main(sys.argv[1], sys.argv[2])
