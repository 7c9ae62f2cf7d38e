#include "runtime/core/address_rules.hpp"

#include "runtime/core/net.hpp"

namespace ngxlite::runtime {

const ir::AccessRule* first_match(const std::vector<ir::AccessRule>& rules, std::string_view addr) {
    if (rules.empty()) return nullptr;
    const bool unix_peer = addr.starts_with("unix:");
    boost::system::error_code ec;
    auto address = unix_peer ? asio::ip::address() : asio::ip::make_address(addr, ec);
    if (!ec && address.is_v6() && address.to_v6().is_v4_mapped())
        address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    for (const auto& rule : rules) {
        if (rule.all || (rule.unix_socket && unix_peer)) return &rule;
        if (rule.unix_socket || unix_peer || ec || address.is_v6() != rule.ipv6) continue;
        bool match = true;
        if (rule.ipv6) {
            const auto bytes = address.to_v6().to_bytes();
            for (std::size_t i = 0; i < 16 && match; ++i) match = (bytes[i] & rule.mask[i]) == rule.address[i];
        } else {
            const auto bytes = address.to_v4().to_bytes();
            for (std::size_t i = 0; i < 4 && match; ++i) match = (bytes[i] & rule.mask[i]) == rule.address[i];
        }
        if (match) return &rule;
    }
    return nullptr;
}

}  // namespace ngxlite::runtime
