// The geo module's lookup (http and stream): ngx_http_geo_cidr_variable's longest prefix
// and ngx_http_geo_range_variable's ranges, over what parser/geo.cpp compiled.
#include "runtime/core/address_rules.hpp"
#include "runtime/http/handlers.hpp"

#include "parser/ir/address.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace ngxlite::runtime {

namespace {

using Address = ir::Geo::Address;

// The longest prefix holding `a` (every tree has 0/0).
const std::string& longest_prefix(const ir::Geo& geo, const std::vector<ir::Geo::Level>& levels, const Address& a) {
    for (const auto& level : levels) {
        Address masked{};
        for (int bit = 0; bit < level.prefix; ++bit) {
            const auto i = static_cast<std::size_t>(bit / 8);
            masked[i] |= a[i] & static_cast<unsigned char>(0x80 >> (bit % 8));
        }
        const auto it = std::lower_bound(level.networks.begin(), level.networks.end(), std::make_pair(masked, std::uint32_t{0}));
        if (it != level.networks.end() && it->first == masked) return geo.values[it->second];
    }
    static const std::string none;
    return none;
}

const std::string& in_ranges(const ir::Geo& geo, std::uint32_t a) {
    const auto it = std::upper_bound(geo.range_list.begin(), geo.range_list.end(), a,
                                     [](std::uint32_t v, const ir::Geo::Range& r) { return v < r.start; });
    if (it != geo.range_list.begin() && a <= std::prev(it)->end) return geo.values[std::prev(it)->value];
    return geo.values[geo.range_default];
}

}  // namespace

std::string geo_value(const ir::Geo& geo, std::string_view address, const RequestContext& ctx) {
    std::string text(address);
    if (!geo.proxies.empty() && !ctx.stream && first_match(geo.proxies, text))
        if (const std::string found = forwarded_address(ctx.request, geo.proxies, geo.proxy_recursive); !found.empty())
            text = ir::parse_addr_port(found)->ip;
    Address a{};
    bool ipv6 = false;
    if (::inet_pton(AF_INET, text.c_str(), a.data()) != 1) {
        ipv6 = ::inet_pton(AF_INET6, text.c_str(), a.data()) == 1;
        const bool mapped = ipv6 && std::all_of(a.begin(), a.begin() + 10, [](unsigned char b) { return b == 0; }) &&
                            a[10] == 0xff && a[11] == 0xff;
        if (mapped) std::copy(a.begin() + 12, a.end(), a.begin()), ipv6 = false;
        if (!ipv6 && !mapped) a = {255, 255, 255, 255};  // not an address (a unix socket's, a bad value): INADDR_NONE
    }
    if (geo.ranges) {
        const std::uint32_t v4 = ipv6 ? 0xffffffff : std::uint32_t{a[0]} << 24 | std::uint32_t{a[1]} << 16 | std::uint32_t{a[2]} << 8 | a[3];
        return in_ranges(geo, v4);
    }
    return longest_prefix(geo, ipv6 ? geo.ipv6 : geo.ipv4, a);
}

}  // namespace ngxlite::runtime
