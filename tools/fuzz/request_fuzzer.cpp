// libFuzzer target over the request path's parsers: any bytes as a request head (read
// whole and in two pieces, which must agree, fields too, as views followed to the bytes
// kept), then what follows it as a chunked body, and the target and Host through
// parse_complex_uri and validate_host. Never a crash, a read outside the input, or a
// verdict that depends on how the bytes arrived.
#include "runtime/http/http_parse.hpp"
#include "runtime/http/request_head.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <memory_resource>
#include <string>
#include <string_view>

using namespace ngxlite;
using namespace ngxlite::runtime;

namespace {

struct Servers {
    Servers() {
        plain.names = {{"plain", nullptr}};
        lax.names = {{"lax", nullptr}};
        lax.underscores_in_headers = true;
        lax.ignore_invalid_headers = false;
        selector.add(plain, true);
        selector.add(lax, false);
    }
    ir::HttpServer plain, lax;
    ServerSelector selector;
};

// Reads a head given `split` bytes first, then all of them. The first piece is a copy
// freed before the rest comes, as a buffer that grows moves its bytes: the request's
// views follow them, then end in `kept`.
RequestHeadReader::Step read_head(std::string_view bytes, std::size_t split, RequestHeadReader& reader, std::pmr::string& kept) {
    auto first = std::make_unique<std::string>(bytes.substr(0, split));
    std::string_view received = *first;
    RequestHeadReader::Step step;
    while ((step = reader.step(received)) == RequestHeadReader::Step::ignored_header) {}
    if (step == RequestHeadReader::Step::incomplete) {
        first.reset();
        received = bytes;
        while ((step = reader.step(received)) == RequestHeadReader::Step::ignored_header) {}
    }
    reader.keep_head(received, kept);
    return step;
}

bool same_fields(const Request& a, const Request& b) {
    return a.request_line == b.request_line &&
           std::ranges::equal(a.headers, b.headers, [](const HeaderField& x, const HeaderField& y) {
               return x.name == y.name && x.value == y.value;
           });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const Servers servers;
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    Request whole_req, split_req;
    RequestHeadReader whole(servers.selector, whole_req), split(servers.selector, split_req);
    std::pmr::string whole_head, split_head;
    const auto step = read_head(bytes, bytes.size(), whole, whole_head);
    const auto split_step = read_head(bytes, bytes.size() / 2, split, split_head);
    // A head refused or accepted whole is refused or accepted alike in two reads (the
    // size limits aside: a piece may already be too long where the whole is refused
    // for another reason later).
    if (step == RequestHeadReader::Step::done && (split_step != step || split.size() != whole.size() || split_req.uri != whole_req.uri ||
                                             !same_fields(split_req, whole_req)))
        std::abort();

    parse_complex_uri(whole_req.request_uri, false, true);
    parse_complex_uri(whole_req.request_uri, false, false);
    for (const auto& [name, value] : whole_req.headers) validate_host(value);

    std::string_view rest = bytes.substr(step == RequestHeadReader::Step::done ? whole.size() : 0);
    ChunkedParser chunks;
    for (;;) {
        const std::size_t before = rest.size();
        const auto s = chunks.parse(rest);
        if (s == ChunkedParser::Status::data) {
            const auto n = std::min<std::uint64_t>(chunks.chunk_left(), rest.size());
            rest.remove_prefix(n);
            chunks.take(n);
            if (rest.empty()) break;
            continue;
        }
        if (rest.size() > before) std::abort();
        break;
    }
    return 0;
}
