// The response filters nginx runs on a static file's answer: not_modified (If-Modified-Since,
// If-Unmodified-Since, If-Match, If-None-Match) and range (single and multipart), with
// ngx_parse_http_time for the dates they compare.
#include "runtime/http/handlers.hpp"

#include "runtime/http/response.hpp"
#include "runtime/core/text.hpp"

#include <cstdio>
#include <cstdint>

namespace ngxlite::runtime {

std::optional<std::time_t> parse_http_time(std::string_view v) {
    // ngx_parse_http_time: "Tue, 10 Nov 2002 23:50:13", "Tuesday, 10-Dec-02 23:50:13",
    // "Tue Dec 10 23:50:13 2002"; what follows is not looked at.
    enum { rfc822, rfc850, isoc } fmt = rfc822;
    std::size_t p = 0;
    const std::size_t end = v.size();
    bool comma = false;
    for (; p < end; ++p) {
        if (v[p] == ',') { comma = true; break; }
        if (v[p] == ' ') { fmt = isoc; break; }
    }
    (void)comma;
    for (++p; p < end && v[p] == ' '; ++p) {}
    const auto at = [&](std::size_t i) { return i < end ? v[i] : '\0'; };
    const auto digit = [&](std::size_t i) { return at(i) >= '0' && at(i) <= '9'; };
    const auto num = [&](std::size_t i, int n) {
        int x = 0;
        for (int k = 0; k < n; ++k) x = x * 10 + (at(i + static_cast<std::size_t>(k)) - '0');
        return x;
    };
    if (end < p + 18) return std::nullopt;
    int day = 0, year = 0, month = 0;
    if (fmt != isoc) {
        if (!digit(p) || !digit(p + 1)) return std::nullopt;
        day = num(p, 2);
        p += 2;
        if (at(p) == ' ') {
            if (end < p + 18) return std::nullopt;
            fmt = rfc822;
        } else if (at(p) == '-') {
            fmt = rfc850;
        } else {
            return std::nullopt;
        }
        ++p;
    }
    switch (at(p)) {
    case 'J': month = at(p + 1) == 'a' ? 0 : at(p + 2) == 'n' ? 5 : 6; break;
    case 'F': month = 1; break;
    case 'M': month = at(p + 2) == 'r' ? 2 : 4; break;
    case 'A': month = at(p + 1) == 'p' ? 3 : 7; break;
    case 'S': month = 8; break;
    case 'O': month = 9; break;
    case 'N': month = 10; break;
    case 'D': month = 11; break;
    default: return std::nullopt;
    }
    p += 3;
    if ((fmt == rfc822 && at(p) != ' ') || (fmt == rfc850 && at(p) != '-')) return std::nullopt;
    ++p;
    if (fmt == rfc822) {
        if (!digit(p) || !digit(p + 1) || !digit(p + 2) || !digit(p + 3)) return std::nullopt;
        year = num(p, 4);
        p += 4;
    } else if (fmt == rfc850) {
        if (!digit(p) || !digit(p + 1)) return std::nullopt;
        year = num(p, 2);
        year += year < 70 ? 2000 : 1900;
        p += 2;
    } else {
        if (at(p) == ' ') ++p;
        if (!digit(p)) return std::nullopt;
        day = at(p++) - '0';
        if (at(p) != ' ') {
            if (!digit(p)) return std::nullopt;
            day = day * 10 + (at(p++) - '0');
        }
        if (end < p + 14) return std::nullopt;
    }
    if (at(p++) != ' ' || !digit(p) || !digit(p + 1)) return std::nullopt;
    const int hour = num(p, 2);
    p += 2;
    if (at(p++) != ':' || !digit(p) || !digit(p + 1)) return std::nullopt;
    const int min = num(p, 2);
    p += 2;
    if (at(p++) != ':' || !digit(p) || !digit(p + 1)) return std::nullopt;
    const int sec = num(p, 2);
    if (fmt == isoc) {
        p += 2;
        if (at(p++) != ' ' || !digit(p) || !digit(p + 1) || !digit(p + 2) || !digit(p + 3)) return std::nullopt;
        year = num(p, 4);
    }
    static constexpr int mday[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (hour > 23 || min > 59 || sec > 59) return std::nullopt;
    if (day == 29 && month == 1) {
        if ((year & 3) || (year % 100 == 0 && year % 400 != 0)) return std::nullopt;
    } else if (day > mday[month]) {
        return std::nullopt;
    }
    if (--month <= 0) {
        month += 12;
        year -= 1;
    }
    const std::int64_t days = 365LL * year + year / 4 - year / 100 + year / 400 + 367LL * month / 12 - 30 + day - 1 - 719527 + 31 + 28;
    return static_cast<std::time_t>(days * 86400 + hour * 3600 + min * 60 + sec);
}

namespace {

// ngx_http_test_if_match: `list` names the answer's ETag (or is "*"); `weak` lets W/ tags match.
bool etag_listed(const Response& r, std::string_view list, bool weak) {
    if (list == "*") return true;
    const std::string_view* found = r.headers.value("ETag");
    if (!found) return false;
    std::string_view tag = *found;
    if (weak && tag.size() > 2 && tag[0] == 'W' && tag[1] == '/') tag.remove_prefix(2);
    const std::string_view* etag = &tag;
    std::size_t p = 0;
    while (p < list.size()) {
        if (weak && list.size() - p > 2 && list[p] == 'W' && list[p + 1] == '/') p += 2;
        if (etag->size() > list.size() - p) return false;
        if (list.compare(p, etag->size(), *etag) == 0) {
            p += etag->size();
            while (p < list.size() && (list[p] == ' ' || list[p] == '\t')) ++p;
            if (p == list.size() || list[p] == ',') return true;
        }
        while (p < list.size() && list[p] != ',') ++p;
        while (p < list.size() && (list[p] == ' ' || list[p] == '\t' || list[p] == ',')) ++p;
    }
    return false;
}

void drop_file(Response& r) {
    if (r.file_fd >= 0) ::close(r.file_fd);
    r.file_fd = -1;
}

}  // namespace

void not_modified_filter(Response& r, const ir::Location& loc, const RequestContext& ctx) {
    if (r.status != 200 || r.special) return;
    const Request& req = ctx.request;
    const auto refuse = [&] {
        // ngx_http_filter_finalize_request: every header cleaned, the connection dropped after.
        drop_file(r);
        r = Response{};
        set_error(r, 412, loc.server_tokens);
        r.drop_after = true;
    };
    if (const std::string_view* ius = req.header("If-Unmodified-Since")) {
        const auto t = parse_http_time(*ius);
        if (!r.last_modified || !t || *t < *r.last_modified) return refuse();
    }
    if (const std::string_view* im = req.header("If-Match"); im && !etag_listed(r, *im, false)) return refuse();
    const std::string_view* ims = req.header("If-Modified-Since");
    const std::string_view* inm = req.header("If-None-Match");
    if (!ims && !inm) return;
    if (ims) {
        // ngx_http_test_if_modified: true means the file counts as modified.
        bool modified = true;
        if (r.last_modified && loc.if_modified_since != ir::Location::IfModifiedSince::off) {
            const auto t = parse_http_time(*ims);
            if (t && *t == *r.last_modified) modified = false;
            else modified = loc.if_modified_since == ir::Location::IfModifiedSince::exact || !t || *t < *r.last_modified;
        }
        if (modified) return;
    }
    if (inm && !etag_listed(r, *inm, true)) return;
    r.status = 304;
    r.content_type = {};
    r.content_length.reset();
    r.accept_ranges = false;
    r.body.clear();
    drop_file(r);
}

namespace {

// ngx_http_range_parse's verdicts: serve the ranges, answer 416, or ignore the header.
enum class RangeVerdict { ok, unsatisfiable, declined };

struct Span {
    std::int64_t start, end;  // [start, end)
};

// The Range header's byte ranges of a `length`-byte body (ngx_http_range_parse).
class RangeParser {
public:
    RangeParser(std::string_view value, std::int64_t length, int max_ranges)
        : v_(value), length_(length), left_(max_ranges < 0 ? INT64_MAX : max_ranges) {}

    RangeVerdict parse(std::vector<Span>& spans) {
        std::int64_t size = 0;
        for (p_ = 6;;) {
            Span s{0, 0};
            if (!read_range(s)) return RangeVerdict::unsatisfiable;
            if (s.start < s.end) {
                spans.push_back(s);
                if (size > INT64_MAX - (s.end - s.start)) return RangeVerdict::unsatisfiable;
                size += s.end - s.start;
                if (left_-- == 0) return RangeVerdict::declined;
            } else if (s.start == 0) {
                return RangeVerdict::declined;
            }
            if (at(p_++) != ',') break;
        }
        if (spans.empty()) return RangeVerdict::unsatisfiable;
        return size > length_ ? RangeVerdict::declined : RangeVerdict::ok;
    }

private:
    char at(std::size_t i) const { return i < v_.size() ? v_[i] : '\0'; }
    bool digit() const { return at(p_) >= '0' && at(p_) <= '9'; }
    void skip_spaces() {
        while (at(p_) == ' ') ++p_;
    }

    // Digits into `n`; false when there are none or they overflow.
    bool number(std::int64_t& n) {
        constexpr std::int64_t cutoff = INT64_MAX / 10, cutlim = INT64_MAX % 10;
        if (!digit()) return false;
        for (n = 0; digit(); ++p_) {
            if (n >= cutoff && (n > cutoff || at(p_) - '0' > cutlim)) return false;
            n = n * 10 + (at(p_) - '0');
        }
        return true;
    }

    // One "start-end", "start-" or "-suffix" into [start, end); false: unsatisfiable.
    bool read_range(Span& s) {
        bool suffix = false;
        skip_spaces();
        if (at(p_) != '-') {
            if (!number(s.start)) return false;
            skip_spaces();
            if (at(p_++) != '-') return false;
            skip_spaces();
            if (at(p_) == ',' || at(p_) == '\0') {
                s.end = length_;
                return true;
            }
        } else {
            suffix = true;
            ++p_;
        }
        if (!number(s.end)) return false;
        skip_spaces();
        if (at(p_) != ',' && at(p_) != '\0') return false;
        if (suffix) {
            s.start = s.end < length_ ? length_ - s.end : 0;
            s.end = length_ - 1;
        }
        s.end = s.end >= length_ ? length_ : s.end + 1;
        return true;
    }

    std::string_view v_;
    std::int64_t length_;
    std::int64_t left_;
    std::size_t p_ = 6;
};

// Whether If-Range (an entity tag or a date) still names this response.
bool if_range_matches(const Response& r, const Request& req) {
    const std::string_view* if_range = req.header("If-Range");
    if (!if_range) return true;
    if (if_range->size() >= 2 && if_range->back() == '"') {
        const std::string_view* etag = r.headers.value("ETag");
        return etag && *etag == *if_range;
    }
    if (!r.last_modified) return false;
    const auto t = parse_http_time(*if_range);
    return t && *t == *r.last_modified;
}

// The 416 page, with what nginx's special response clears.
void answer_unsatisfiable(Response& r, std::int64_t length, bool server_tokens) {
    drop_file(r);
    HeaderList headers;
    for (const auto& h : r.headers)
        if (!iequal(h.name, "ETag")) headers.add(h.name, h.value);
    r = Response{};
    r.headers = std::move(headers);
    r.headers.add("Content-Range", "bytes */" + std::to_string(length));
    set_error(r, 416, server_tokens);
}

// multipart/byteranges with nginx's 20-digit boundary.
void answer_multipart(Response& r, const std::vector<Span>& spans, std::int64_t length) {
    char boundary[32];
    std::snprintf(boundary, sizeof boundary, "%020llu", static_cast<unsigned long long>(next_temp_number()));
    const std::string part_head = "\r\n--" + std::string(boundary) + "\r\n" +
                                  (r.content_type.empty() ? std::string() : "Content-Type: " + std::string(r.content_type) + "\r\n") +
                                  "Content-Range: bytes ";
    r.content_type = r.headers.keep("multipart/byteranges; boundary=" + std::string(boundary));
    std::uint64_t total = 0;
    for (const Span& s : spans) {
        std::string head = part_head + std::to_string(s.start) + "-" + std::to_string(s.end - 1) + "/" +
                           std::to_string(length) + "\r\n\r\n";
        total += head.size() + static_cast<std::uint64_t>(s.end - s.start);
        r.parts.push_back({std::move(head), 0, -1});
        r.parts.push_back({{}, s.start, s.end - s.start});
    }
    std::string tail = "\r\n--" + std::string(boundary) + "--\r\n";
    total += tail.size();
    r.parts.push_back({std::move(tail), 0, -1});
    r.content_length = total;
}

}  // namespace

void range_filter(Response& r, const ir::Location& loc, const RequestContext& ctx) {
    const Request& req = ctx.request;
    // Only a static file's 200 (nginx's allow_ranges) with its length known.
    if (req.version < 10 || r.status != 200 || !r.accept_ranges || !r.content_length) return;
    if (loc.max_ranges == 0) {
        r.accept_ranges = false;
        return;
    }
    const std::string_view* range = req.header("Range");
    if (!range || range->size() < 7 || !iequal(range->substr(0, 6), "bytes=")) return;
    if (!if_range_matches(r, req)) return;
    const auto length = static_cast<std::int64_t>(*r.content_length);
    std::vector<Span> spans;
    switch (RangeParser(*range, length, loc.max_ranges).parse(spans)) {
    case RangeVerdict::declined: return;
    case RangeVerdict::unsatisfiable: return answer_unsatisfiable(r, length, loc.server_tokens);
    case RangeVerdict::ok: break;
    }
    r.status = 206;
    r.accept_ranges = false;
    r.body.clear();
    if (spans.size() > 1) return answer_multipart(r, spans, length);
    r.headers.add("Content-Range", "bytes " + std::to_string(spans[0].start) + "-" +
                                                std::to_string(spans[0].end - 1) + "/" + std::to_string(length));
    r.content_length = static_cast<std::uint64_t>(spans[0].end - spans[0].start);
    r.parts.push_back({{}, spans[0].start, spans[0].end - spans[0].start});
}

}  // namespace ngxlite::runtime
