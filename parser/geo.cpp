// geo {} (http and stream) as ngx_http_geo_block and ngx_http_geo read it: networks into
// nginx's radix trees (a duplicate replaces the old value with a warning, `delete` takes
// one out), or with `ranges` IPv4 ranges into nginx's per-/16 lists (a range inside
// another splits it; other overlaps fail); `proxy`, `proxy_recursive`, `default`,
// `include`. Compiled into ir::Geo, which the runtime searches.
#include "parser/setters_http.hpp"

#include "parser/compiler.hpp"
#include "parser/http_state.hpp"
#include "parser/setters.hpp"
#include "parser/stream_state.hpp"
#include "parser/values.hpp"
#include "parser/variables.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <unordered_map>

namespace ngxlite::conf {

namespace {

using Address = ir::Geo::Address;

struct Cidr {
    bool ipv6 = false;
    Address address{};
    int prefix = 0;
};

std::uint32_t ipv4_of(const Address& a) {
    return std::uint32_t{a[0]} << 24 | std::uint32_t{a[1]} << 16 | std::uint32_t{a[2]} << 8 | a[3];
}

// ngx_ptocidr (with geo's "255.255.255.255" as itself): ADDRESS[/BITS]; bits below the
// mask are cleared with nginx's warning.
Cidr read_cidr(Compiler& c, const std::string& net, const SourceRef& where) {
    Cidr cidr;
    const auto slash = net.find('/');
    const std::string address = net.substr(0, slash);
    cidr.ipv6 = address.find(':') != std::string::npos;
    const int width = cidr.ipv6 ? 128 : 32;
    if (::inet_pton(cidr.ipv6 ? AF_INET6 : AF_INET, address.c_str(), cidr.address.data()) != 1 ||
        (!cidr.ipv6 && ipv4_of(cidr.address) == 0xffffffff))  // ngx_inet_addr's INADDR_NONE
        fail_at(where, "invalid network \"" + net + "\"");
    cidr.prefix = width;
    if (slash != std::string::npos) {
        const auto bits = parse_number(std::string_view(net).substr(slash + 1));
        if (!bits || *bits > width) fail_at(where, "invalid network \"" + net + "\"");
        cidr.prefix = static_cast<int>(*bits);
    }
    bool cleared = false;
    for (int bit = cidr.prefix; bit < width; ++bit) {
        unsigned char& byte = cidr.address[static_cast<std::size_t>(bit / 8)];
        const auto mask = static_cast<unsigned char>(0x80 >> (bit % 8));
        cleared = cleared || (byte & mask);
        byte &= static_cast<unsigned char>(~mask);
    }
    if (cleared) c.warn_at(where, "low address bits of " + net + " are meaningless");
    return cidr;
}


// One /16's ranges as ngx_http_geo_add_range keeps them: sorted, disjoint, 16-bit bounds.
struct LowRange {
    std::uint32_t start, end;
    std::string value;
};

struct GeoBuilder {
    GeoBuilder(Compiler& compiler, bool in_stream) : c(compiler), stream(in_stream) {}

    Compiler& c;
    bool stream;  // stream's geo has no proxy, proxy_recursive
    bool ranges = false;
    bool trees = false;  // a network came: `ranges` may no longer
    std::optional<std::string> range_default;
    std::map<std::pair<int, Address>, std::string> ipv4, ipv6;  // (prefix, address) -> value
    std::map<std::uint32_t, std::vector<LowRange>> high;        // by the upper 16 bits
    ir::Geo geo;

    void line(Directive& d);
    void network(const std::vector<std::string>& a, const SourceRef& where);
    void range(const std::vector<std::string>& a, const SourceRef& where);
    bool add_low(std::uint32_t h, std::uint32_t s, std::uint32_t e, const std::string& value, const std::string& net,
                 const SourceRef& where);
    ir::Geo finish();
};

void GeoBuilder::line(Directive& d) {
    const std::vector<std::string>& a = d.args;
    if (a.size() == 1 && a[0] == "ranges") {
        if (trees) fail_at(d.where, "the \"ranges\" directive must be the first directive inside \"geo\" block");
        ranges = true;
        return;
    }
    if (a.size() == 1 && a[0] == "proxy_recursive" && !stream) {
        geo.proxy_recursive = true;
        return;
    }
    if (a.size() != 2) fail_at(d.where, "invalid number of the geo parameters");
    if (a[0] == "proxy" && !stream) {
        const Cidr cidr = a[1] == "255.255.255.255" ? Cidr{false, {255, 255, 255, 255}, 32} : read_cidr(c, a[1], d.where);
        ir::AccessRule rule;
        rule.allow = true;
        rule.ipv6 = cidr.ipv6;
        rule.address = cidr.address;
        for (int i = 0; i < cidr.prefix; ++i) rule.mask[static_cast<std::size_t>(i / 8)] |= static_cast<unsigned char>(0x80 >> (i % 8));
        geo.proxies.push_back(rule);
        return;
    }
    if (ranges) range(a, d.where);
    else network(a, d.where);
}

void GeoBuilder::network(const std::vector<std::string>& a, const SourceRef& where) {
    trees = true;
    const auto put = [&](std::map<std::pair<int, Address>, std::string>& tree, const Cidr& cidr, const std::string& net) {
        const auto [it, fresh] = tree.try_emplace({cidr.prefix, cidr.address}, a[1]);
        if (fresh) return;
        c.warn_at(where, "duplicate network \"" + net + "\", value: \"" + a[1] + "\", old value: \"" + it->second + "\"");
        it->second = a[1];
    };
    if (a[0] == "default") {
        put(ipv4, Cidr{}, a[0]);
        put(ipv6, Cidr{true, {}, 0}, a[0]);
        return;
    }
    const bool del = a[0] == "delete";
    const std::string& net = del ? a[1] : a[0];
    const Cidr cidr = net == "255.255.255.255" ? Cidr{false, {255, 255, 255, 255}, 32} : read_cidr(c, net, where);
    auto& tree = cidr.ipv6 ? ipv6 : ipv4;
    if (!del) return put(tree, cidr, net);
    if (!tree.erase({cidr.prefix, cidr.address})) c.warn_at(where, "no network \"" + net + "\" to delete");
}

void GeoBuilder::range(const std::vector<std::string>& a, const SourceRef& where) {
    if (a[0] == "default") {
        if (range_default)
            c.warn_at(where, "duplicate default geo range value: \"" + a[1] + "\", old value: \"" + *range_default + "\"");
        range_default = a[1];
        return;
    }
    const bool del = a[0] == "delete";
    const std::string& net = del ? a[1] : a[0];
    const auto dash = net.find('-');
    Address first{}, last{};
    if (dash == std::string::npos || ::inet_pton(AF_INET, net.substr(0, dash).c_str(), first.data()) != 1 ||
        ::inet_pton(AF_INET, net.substr(dash + 1).c_str(), last.data()) != 1 || ipv4_of(first) > ipv4_of(last) ||
        ipv4_of(last) == 0xffffffff)  // ngx_inet_addr's INADDR_NONE
        fail_at(where, "invalid range \"" + net + "\"");
    const std::uint32_t start = ipv4_of(first), end = ipv4_of(last);
    bool missing = false;
    // Each /16 the range crosses, as nginx walks them.
    for (std::uint64_t n = start; n <= end; n = (n + 0x10000) & ~std::uint64_t{0xffff}) {
        const auto h = static_cast<std::uint32_t>(n >> 16);
        const std::uint32_t s = n == start ? n & 0xffff : 0;
        const std::uint32_t e = (n | 0xffff) > end ? end & 0xffff : 0xffff;
        if (!del) {
            if (!add_low(h, s, e, a[1], net, where)) return;
            continue;
        }
        auto& list = high[h];
        const auto it = std::find_if(list.begin(), list.end(), [&](const LowRange& r) { return r.start == s && r.end == e; });
        if (it == list.end()) missing = true;
        else list.erase(it);
    }
    if (missing) c.warn_at(where, "no address range \"" + net + "\" to delete");
}

// ngx_http_geo_add_range for one /16: from the last range down, the first that is not
// above the new one decides where it goes.
bool GeoBuilder::add_low(std::uint32_t h, std::uint32_t s, std::uint32_t e, const std::string& value, const std::string& net,
                         const SourceRef& where) {
    auto& list = high[h];
    for (std::size_t i = list.size(); i-- > 0;) {
        LowRange& r = list[i];
        if (e < r.start) continue;
        if (s > r.end) {
            list.insert(list.begin() + static_cast<std::ptrdiff_t>(i) + 1, {s, e, value});
        } else if (s == r.start && e == r.end) {
            c.warn_at(where, "duplicate range \"" + net + "\", value: \"" + value + "\", old value: \"" + r.value + "\"");
            r.value = value;
        } else if (s > r.start && e < r.end) {  // split it around the new one
            const LowRange tail{e + 1, r.end, r.value};
            r.end = s - 1;
            list.insert(list.begin() + static_cast<std::ptrdiff_t>(i) + 1, {{s, e, value}, tail});
        } else if (s == r.start && e < r.end) {
            r.start = e + 1;
            list.insert(list.begin() + static_cast<std::ptrdiff_t>(i), {s, e, value});
        } else if (s > r.start && e == r.end) {
            r.end = s - 1;
            list.insert(list.begin() + static_cast<std::ptrdiff_t>(i) + 1, {s, e, value});
        } else {
            const auto text = [&](std::uint32_t low) {
                return std::to_string(h >> 8) + "." + std::to_string(h & 0xff) + "." + std::to_string(low >> 8) + "." +
                       std::to_string(low & 0xff);
            };
            fail_at(where, "range \"" + net + "\" overlaps \"" + text(r.start) + "-" + text(r.end) + "\"");
        }
        return true;
    }
    list.insert(list.begin(), {s, e, value});
    return true;
}

ir::Geo GeoBuilder::finish() {
    std::unordered_map<std::string, std::uint32_t> indexes;  // each value once (a database may have many entries)
    const auto value_index = [&](const std::string& v) {
        const auto [it, fresh] = indexes.try_emplace(v, static_cast<std::uint32_t>(geo.values.size()));
        if (fresh) geo.values.push_back(v);
        return it->second;
    };
    geo.ranges = ranges;
    if (ranges) {
        geo.range_default = value_index(range_default.value_or(""));
        for (const auto& [h, list] : high)
            for (const auto& r : list) geo.range_list.push_back({h << 16 | r.start, h << 16 | r.end, value_index(r.value)});
        return std::move(geo);
    }
    // The null value at 0/0 unless `default` set one (nginx inserts it last: NGX_BUSY is fine).
    ipv4.try_emplace({0, Address{}}, "");
    ipv6.try_emplace({0, Address{}}, "");
    const auto levels = [&](const std::map<std::pair<int, Address>, std::string>& tree) {
        std::vector<ir::Geo::Level> out;
        for (auto it = tree.rbegin(); it != tree.rend(); ++it) {
            if (out.empty() || out.back().prefix != it->first.first) out.push_back({it->first.first, {}});
            out.back().networks.emplace_back(it->first.second, value_index(it->second));
        }
        for (auto& level : out) std::sort(level.networks.begin(), level.networks.end());
        return out;
    };
    geo.ipv4 = levels(ipv4);
    geo.ipv6 = levels(ipv6);
    return std::move(geo);
}

}  // namespace

// geo [$address] $variable { ... }
void geo_block(Compiler& c, Directive& d) {
    std::string_view target = variable_target(d, d.nargs());
    ir::Map map;
    if (d.nargs() == 2) map.source = vars(c).template_of(d.args[1], d.where);
    vars(c).define(target, c.modules(), d.where);
    map.variable = std::string(target);
    GeoBuilder builder(c, in_stream(c));
    c.parse_custom_block(d, true, [&](Directive& line) { builder.line(line); });
    map.geo = std::make_shared<const ir::Geo>(builder.finish());
    (in_stream(c) ? c.stream().maps : c.http().maps).push_back(std::move(map));
}

}  // namespace ngxlite::conf
