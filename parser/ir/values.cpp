#include "parser/ir/values.hpp"

#include "parser/ir/config.hpp"

#include <limits>

namespace ngxlite::ir {

namespace {
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

std::optional<std::int64_t> scaled(std::string_view s, std::int64_t scale) {
    auto n = parse_number(s);
    if (!n || *n > kMax / scale) return std::nullopt;
    return *n * scale;
}
}  // namespace

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

std::optional<std::int64_t> parse_number(std::string_view s) {
    if (s.empty()) return std::nullopt;
    std::int64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        if (v > (kMax - (c - '0')) / 10) return std::nullopt;
        v = v * 10 + (c - '0');
    }
    return v;
}

std::optional<std::int64_t> parse_fixed_point(std::string_view s, int point) {
    if (s.empty()) return std::nullopt;
    std::int64_t v = 0;
    bool dot = false;
    for (char c : s) {
        if (c == '.') {
            if (dot) return std::nullopt;
            dot = true;
            continue;
        }
        if (c < '0' || c > '9' || point == 0) return std::nullopt;
        if (v > (kMax - (c - '0')) / 10) return std::nullopt;
        v = v * 10 + (c - '0');
        point -= dot;
    }
    for (; point > 0; --point) {
        if (v > kMax / 10) return std::nullopt;
        v *= 10;
    }
    return v;
}

std::optional<std::int64_t> parse_size(std::string_view s) {
    if (s.empty()) return std::nullopt;
    switch (s.back()) {
    case 'K': case 'k': return scaled(s.substr(0, s.size() - 1), 1024);
    case 'M': case 'm': return scaled(s.substr(0, s.size() - 1), 1024 * 1024);
    default: return parse_number(s);
    }
}

std::optional<std::int64_t> parse_offset(std::string_view s) {
    if (s.empty()) return std::nullopt;
    switch (s.back()) {
    case 'G': case 'g': return scaled(s.substr(0, s.size() - 1), 1024LL * 1024 * 1024);
    default: return parse_size(s);
    }
}

std::optional<std::int64_t> parse_time(std::string_view s, bool seconds) {
    enum Step { start, year, month, week, day, hour, min, sec, msec, last };
    Step step = seconds ? start : month;
    bool valid = false;
    std::int64_t value = 0, total = 0;
    const std::int64_t cutoff = kMax / 10, cutlim = kMax % 10;
    std::size_t i = 0;
    while (i < s.size()) {
        const char c = s[i];
        if (c >= '0' && c <= '9') {
            if (value >= cutoff && (value > cutoff || c - '0' > cutlim)) return std::nullopt;
            value = value * 10 + (c - '0');
            valid = true;
            ++i;
            continue;
        }
        ++i;
        std::int64_t scale = 1, max = kMax;
        auto unit = [&](Step s_, std::int64_t sc) {
            if (step >= s_) return false;
            step = s_;
            scale = sc;
            max = kMax / sc;
            return true;
        };
        switch (c) {
        case 'y':
            if (step > start) return std::nullopt;
            step = year;
            scale = 60LL * 60 * 24 * 365;
            max = kMax / scale;
            break;
        case 'M': if (!unit(month, 60LL * 60 * 24 * 30)) return std::nullopt; break;
        case 'w': if (!unit(week, 60LL * 60 * 24 * 7)) return std::nullopt; break;
        case 'd': if (!unit(day, 60LL * 60 * 24)) return std::nullopt; break;
        case 'h': if (!unit(hour, 60LL * 60)) return std::nullopt; break;
        case 'm':
            if (i < s.size() && s[i] == 's') {
                if (seconds || step >= msec) return std::nullopt;
                ++i;
                step = msec;
                scale = 1;
                max = kMax;
                break;
            }
            if (!unit(min, 60)) return std::nullopt;
            break;
        case 's': if (!unit(sec, 1)) return std::nullopt; break;
        case ' ':
            if (step >= sec) return std::nullopt;
            step = last;
            scale = 1;
            max = kMax;
            break;
        default: return std::nullopt;
        }
        if (step != msec && !seconds) {
            scale *= 1000;
            max /= 1000;
        }
        if (value > max) return std::nullopt;
        value *= scale;
        if (total > kMax - value) return std::nullopt;
        total += value;
        value = 0;
        while (i < s.size() && s[i] == ' ') ++i;
    }
    if (!valid) return std::nullopt;
    if (!seconds) {
        if (value > kMax / 1000) return std::nullopt;
        value *= 1000;
    }
    if (total > kMax - value) return std::nullopt;
    return total + value;
}

std::uint32_t method_bit(std::string_view method) {
    static constexpr std::pair<std::string_view, std::uint32_t> bits[] = {
        {"GET", ir::kMethodGet},           {"HEAD", ir::kMethodHead},           {"POST", ir::kMethodPost},
        {"PUT", ir::kMethodPut},           {"DELETE", ir::kMethodDelete},       {"MKCOL", ir::kMethodMkcol},
        {"COPY", ir::kMethodCopy},         {"MOVE", ir::kMethodMove},           {"OPTIONS", ir::kMethodOptions},
        {"PROPFIND", ir::kMethodPropfind}, {"PROPPATCH", ir::kMethodProppatch}, {"LOCK", ir::kMethodLock},
        {"UNLOCK", ir::kMethodUnlock},     {"PATCH", ir::kMethodPatch},         {"TRACE", ir::kMethodTrace}};
    for (const auto& [name, bit] : bits)
        if (iequals(name, method)) return bit;
    return 1;  // NGX_HTTP_UNKNOWN
}

}  // namespace ngxlite::ir
