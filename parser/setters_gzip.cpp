// The gzip filter module's setters and merge (ngx_http_gzip_filter_module.c) with the core
// module's gzip_* directives it reads (ngx_http_gzip_ok), and nginx's MIME type lists
// (ngx_http_types_slot) that gzip_types shares with the other filters' *_types.
#include "parser/merge.hpp"
#include "parser/setters.hpp"
#include "parser/setters_http.hpp"

#include <algorithm>
#include <cctype>

namespace ngxlite::conf {

namespace {

constexpr std::string_view kHtmlType = "text/html";

// The type a *_types list starts with: the first of the directive's default types (nginx's
// cmd->post), text/xml for xslt_types, text/html for the others.
std::string_view default_type(std::string_view directive) { return directive == "xslt_types" ? "text/xml" : kHtmlType; }

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
}

// ngx_http_types_slot: the block's list starts with the default type, each type
// lowercased; a type already listed is warned about; `*` makes it "any type", after which
// the block's further types are not read.
void types_list(Compiler& c, Directive& d) {
    std::vector<std::string> listed{std::string(default_type(d.name()))};
    for (const Directive* prev : c.block().find_all(DirectiveName::from_config(d.name()))) {
        if (prev == &d) break;
        for (std::size_t i = 1; i < prev->args.size(); ++i) {
            if (prev->args[i] == "*") return;
            listed.push_back(lowercase(prev->args[i]));
        }
    }
    for (std::size_t i = 1; i < d.args.size(); ++i) {
        if (d.args[i] == "*") return;
        std::string type = lowercase(d.args[i]);
        if (std::find(listed.begin(), listed.end(), type) != listed.end()) {
            c.warn_at(d.where, "duplicate MIME type \"" + type + "\"");
            continue;
        }
        listed.push_back(std::move(type));
    }
}

// ngx_http_gzip_disable: "msie6", or a caseless regex of User-Agent values.
void gzip_disable(Compiler&, Directive& d) {
    for (std::size_t i = 1; i < d.args.size(); ++i) {
        if (d.args[i] == "msie6") continue;
        const ir::Regex re(d.args[i], true);
        if (!re.ok()) fail_at(d.where, re.error());
    }
}

// The posts nginx attaches to gzip's size and number slots: the value checked, and
// gzip_window and gzip_hash turned into zlib's windowBits and memLevel.
void comp_level_bounds(Compiler&, Directive& d) {
    if (d.value < 1 || d.value > 9) fail_at(d.where, "value must be between 1 and 9");
}

// A power of two from `top` down to 512 bytes, as zlib's bits counted down from `bits`.
void size_as_bits(Directive& d, std::int64_t top, std::int64_t bits, const char* message) {
    for (std::int64_t size = top; size > 256; size >>= 1, --bits)
        if (size == d.value) {
            d.value = bits;
            return;
        }
    fail_directive(d, message);
}

void gzip_window(Compiler&, Directive& d) { size_as_bits(d, 32 * 1024, 15, "must be 512, 1k, 2k, 4k, 8k, 16k, or 32k"); }

void gzip_hash(Compiler&, Directive& d) {
    size_as_bits(d, 128 * 1024, 9, "must be 512, 1k, 2k, 4k, 8k, 16k, 32k, 64k, or 128k");
}

// gzip_types merged: the innermost block's list, text/html first; none: text/html.
void merge_types(const Scope& s, ir::Gzip& g) {
    g.types.assign(1, std::string(kHtmlType));
    for (const Directive* d : s.find_list("gzip_types"))
        for (std::size_t i = 1; i < d->args.size(); ++i) {
            if (d->args[i] == "*") {
                g.any_type = true;
                return;
            }
            std::string type = lowercase(d->args[i]);
            if (std::find(g.types.begin(), g.types.end(), type) == g.types.end()) g.types.push_back(std::move(type));
        }
}

// gzip_disable merged: the regexes of the innermost block that has the directive (msie6
// alone there: none), and msie6 from any block above that lists it, as nginx merges them.
void merge_disable(const Scope& s, ir::Gzip& g) {
    for (const Directive* d : s.find_list("gzip_disable"))
        for (std::size_t i = 1; i < d->args.size(); ++i)
            if (d->args[i] != "msie6") g.disable.push_back(std::make_shared<ir::Regex>(d->args[i], true));
    g.disable_msie6 = s.any_of("gzip_disable", [](const Directive& d) {
        return std::find(d.args.begin() + 1, d.args.end(), "msie6") != d.args.end();
    });
}

}  // namespace

std::shared_ptr<const ir::Gzip> merge_gzip(const Scope& s) {
    if (!s.value<bool>("gzip", false)) return nullptr;
    auto g = std::make_shared<ir::Gzip>();
    merge_types(s, *g);
    g->level = s.value<int>("gzip_comp_level", 1);
    g->window_bits = s.value<int>("gzip_window", 15);
    g->mem_level = s.value<int>("gzip_hash", 8);
    g->min_length = s.value<std::int64_t>("gzip_min_length", 20);
    if (const Directive* b = s.find("gzip_buffers")) {
        g->buffers = static_cast<int>(b->count);
        g->buffer_size = static_cast<std::size_t>(b->value);
    }
    g->postpone = static_cast<std::size_t>(s.value<std::int64_t>("postpone_gzipping", 0));
    g->proxied = s.value<std::uint32_t>("gzip_proxied", 1u << 1);
    g->vary = s.value<bool>("gzip_vary", false);
    g->http_version = s.value<int>("gzip_http_version", 1) == 0 ? 10 : 11;
    merge_disable(s, *g);
    return g;
}

void register_http_gzip_setters(SetterTable& t) {
    t["ngx_http_types_slot"] = types_list;
    t["ngx_http_gzip_disable"] = gzip_disable;
}

void register_gzip_posts(PostTable& posts) {
    posts["gzip_comp_level"] = comp_level_bounds;
    posts["gzip_window"] = gzip_window;
    posts["gzip_hash"] = gzip_hash;
}

}  // namespace ngxlite::conf
