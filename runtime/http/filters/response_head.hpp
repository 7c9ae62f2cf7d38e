// nginx's r->headers_out: what an answer's producer (static, return, an error page, the
// proxy) fills in, the header filters change, and the header filter writes. Its fields
// are views: into bytes the list keeps, or into bytes that outlive the written head
// (config strings, an upstream's head buffer), so a proxied head is written from the
// upstream's bytes without copying them.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <memory_resource>
#include <optional>
#include <string_view>
#include <vector>

namespace ngxlite::ir {
struct Gzip;
}

namespace ngxlite::runtime {

struct HeaderField {
    std::string_view name;
    std::string_view value;
};

// The headers list (nginx's headers_out.headers), in the order they are sent.
class HeaderList {
public:
    using iterator = std::pmr::vector<HeaderField>::iterator;
    using const_iterator = std::pmr::vector<HeaderField>::const_iterator;

    HeaderList() = default;
    // Fields and kept bytes in `memory` (an exchange's arena), which outlives the list.
    explicit HeaderList(std::pmr::memory_resource* memory) : memory_(memory), fields_(memory) {}
    HeaderList(HeaderList&&) noexcept = default;
    HeaderList& operator=(HeaderList&&) noexcept = default;

    // A copy of `bytes` that lives as long as the list (and moves with it).
    std::string_view keep(std::string_view bytes);
    // A field of copies of `name` and `value`.
    void add(std::string_view name, std::string_view value) { fields_.push_back({keep(name), keep(value)}); }
    // A field of the bytes themselves: they outlive the list.
    void add_view(std::string_view name, std::string_view value) { fields_.push_back({name, value}); }
    void set_value(iterator at, std::string_view value) { at->value = keep(value); }
    // The first field `name` (any case), or end().
    iterator find(std::string_view name);
    const_iterator find(std::string_view name) const;
    // The first field `name`'s value, or nullptr.
    const std::string_view* value(std::string_view name) const {
        const auto at = find(name);
        return at == end() ? nullptr : &at->value;
    }
    void erase(iterator at) { fields_.erase(at); }
    // Every field named exactly `name`.
    void erase_all(std::string_view name);
    void reserve(std::size_t n) { fields_.reserve(n); }

    iterator begin() { return fields_.begin(); }
    iterator end() { return fields_.end(); }
    const_iterator begin() const { return fields_.begin(); }
    const_iterator end() const { return fields_.end(); }
    std::size_t size() const { return fields_.size(); }

private:
    std::pmr::memory_resource* memory_ = std::pmr::get_default_resource();
    std::unique_ptr<std::pmr::monotonic_buffer_resource> kept_;  // made at the first copy
    std::pmr::vector<HeaderField> fields_{memory_};
};

// The gzip header filter's decision for one answer (nginx's gzip ctx).
struct GzipStart {
    const ir::Gzip* settings = nullptr;  // none: the body goes as it is
    // The body's length when the filter decided (-1: unknown): a short one gets a smaller
    // zlib window and hash, as ngx_http_gzip_filter_memory gives it.
    std::int64_t length = -1;
};

struct ResponseHead {
    ResponseHead() = default;
    // The headers list in `memory` (an exchange's arena), which outlives the head.
    explicit ResponseHead(std::pmr::memory_resource* memory) : headers(memory) {}

    int status = 200;
    // An upstream's status line text ("200 OK") as it came: nginx keeps it unless
    // error_page's status answers; none: the status with nginx's text.
    std::optional<std::string_view> status_line;
    std::string_view content_type;
    std::optional<std::uint64_t> content_length;
    std::optional<std::time_t> last_modified;  // nginx's last_modified_time (nullopt: -1)
    bool last_modified_listed = false;  // it is among the headers (an upstream's, add_header's)
    std::string_view location;  // made absolute by ngxlite: sent before Connection, as nginx does
    HeaderList headers;         // Location as given, ETag, the upstream's, expires, add_header
    bool accept_ranges = false;  // nginx's range filter adds it after every other header
    bool chunked = false;        // sent with Transfer-Encoding: chunked (no Content-Length)
    bool vary_accept_encoding = false;  // nginx's r->gzip_vary with gzip_vary on
    GzipStart gzip;
};

}  // namespace ngxlite::runtime
