#include "runtime/upstream/dns_message.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace ngxlite::runtime::dns {

namespace {

unsigned u16(const unsigned char* p) { return (unsigned{p[0]} << 8) + p[1]; }

// Skips the owner name of an answer record (nginx's first pass): the offset after it, or
// nullopt with `error` set.
std::optional<std::size_t> skip_owner(const unsigned char* buf, std::size_t n, std::size_t i, std::string& error) {
    const std::size_t start = i;
    while (i < n) {
        if (buf[i] & 0xc0) return i + 2;
        if (buf[i] == 0) {
            if (i + 1 - start < 2) {
                error = "invalid name in DNS response";
                return std::nullopt;
            }
            return i + 1;
        }
        i += 1 + buf[i];
    }
    error = "short DNS response";
    return std::nullopt;
}

// Checks one record's type against the query (the first pass's switch); false with
// `error` set drops the answer.
bool check_record(std::size_t n, std::size_t rdata, unsigned type, std::size_t len, unsigned qtype,
                  unsigned& naddrs, Records& out) {
    switch (type) {
    case kTypeA:
        if (qtype != kTypeA) return out.error = "unexpected A record in DNS response", false;
        if (len != 4) return out.error = "invalid A record in DNS response", false;
        if (rdata + 4 > n) return out.error = "short DNS response", false;
        ++naddrs;
        return true;
    case kTypeAaaa:
        if (qtype != kTypeAaaa) return out.error = "unexpected AAAA record in DNS response", false;
        if (len != 16) return out.error = "invalid AAAA record in DNS response", false;
        if (rdata + 16 > n) return out.error = "short DNS response", false;
        ++naddrs;
        return true;
    case kTypeCname: out.cname = rdata; return true;
    case kTypeDname: return true;
    default: out.notes.push_back("unexpected RR type " + std::to_string(type) + " in DNS response"); return true;
    }
}

// The second pass: the addresses of the query's type, in the answer's order (every
// record was checked by the first).
void copy_addresses(const unsigned char* buf, const Question& q, Records& out) {
    std::size_t i = q.answers_at;
    for (unsigned a = 0; a < q.answers; ++a) {
        while (!(buf[i] & 0xc0) && buf[i] != 0) i += 1 + buf[i];
        i += buf[i] & 0xc0 ? 2 : 1;
        const unsigned type = u16(buf + i);
        const std::size_t len = u16(buf + i + 8);
        i += 10;
        if (type == kTypeA && q.qtype == kTypeA) {
            out.addrs.push_back(boost::asio::ip::address_v4({buf[i], buf[i + 1], buf[i + 2], buf[i + 3]}));
        } else if (type == kTypeAaaa && q.qtype == kTypeAaaa) {
            boost::asio::ip::address_v6::bytes_type b;
            std::copy(buf + i, buf + i + 16, b.begin());
            out.addrs6.push_back(boost::asio::ip::address_v6(b));
        }
        i += len;
    }
}

}  // namespace

bool make_query(std::string_view name, unsigned qtype, std::string& out) {
    out.assign("\0\0\1\0\0\1\0\0\0\0\0\0", 12);
    if (name.empty()) return false;
    std::size_t start = 0;
    for (;;) {
        const std::size_t dot = name.find('.', start);
        const std::string_view label = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (label.empty() || label.size() > 255) return false;
        out += static_cast<char>(label.size());
        out += label;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    out += '\0';
    out += '\0';
    out += static_cast<char>(qtype);
    out += '\0';
    out += '\1';
    return true;
}

std::optional<std::string> copy_name(const unsigned char* buf, std::size_t n, std::size_t offset, std::string& error) {
    std::size_t p = offset;
    bool done = false;
    for (int i = 0; i < 128 && !done && p < n; ++i) {
        const unsigned c = buf[p++];
        if (c == 0) {
            done = true;
            break;
        }
        if (c & 0xc0) {
            if ((c & 0xc0) != 0xc0) {
                error = "invalid label type in DNS response";
                return std::nullopt;
            }
            if (p >= n) {
                error = "name is out of DNS response";
                return std::nullopt;
            }
            p = ((c & 0x3f) << 8) + buf[p];
        } else {
            p += c;
        }
        if (p >= n) {
            error = "name is out of DNS response";
            return std::nullopt;
        }
    }
    if (!done) {
        error = "compression pointers loop in DNS response";
        return std::nullopt;
    }
    std::string name;
    for (p = offset; buf[p] != 0;) {
        const unsigned c = buf[p];
        if (c & 0xc0) {
            p = ((c & 0x3f) << 8) + buf[p + 1];
            continue;
        }
        if (!name.empty()) name += '.';
        for (std::size_t k = 0; k < c; ++k) name += static_cast<char>(std::tolower(buf[p + 1 + k]));
        p += 1 + c;
    }
    return name;
}

std::optional<Question> read_question(const unsigned char* buf, std::size_t n, std::string& error) {
    if (n < 12) {
        error = "short DNS response";
        return std::nullopt;
    }
    Question q;
    q.ident = u16(buf);
    const unsigned flags = u16(buf + 2);
    const unsigned nqs = u16(buf + 4);
    q.answers = u16(buf + 6);
    const bool trunc = flags & 0x0200;
    // c-ares asks again over TCP when a UDP answer is truncated: one that still is came by TCP.
    if ((flags & 0xf870) != 0x8000 || trunc) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "%04X", flags);
        error = std::string("invalid ") + (trunc ? "TCP" : "UDP") + " DNS response " + std::to_string(q.ident) + " fl:" + hex;
        return std::nullopt;
    }
    q.code = flags & 0xf;
    if (rcode_dropped(q)) return q;
    if (nqs != 1) {
        error = "invalid number of questions in DNS response";
        return std::nullopt;
    }
    std::size_t i = 12;
    while (i < n && buf[i] != 0) {
        if (buf[i] & 0xc0) {
            error = "unexpected compression pointer in DNS response";
            return std::nullopt;
        }
        i += 1 + buf[i];
    }
    if (i >= n) {
        error = "short DNS response";
        return std::nullopt;
    }
    if (i++ == 12) {
        error = "zero-length domain name in DNS response";
        return std::nullopt;
    }
    if (i + 4 + q.answers * (2 + 10) > n) {
        error = "short DNS response";
        return std::nullopt;
    }
    q.qtype = u16(buf + i);
    const unsigned qclass = u16(buf + i + 2);
    if (qclass != 1) {
        error = "unknown query class " + std::to_string(qclass) + " in DNS response";
        return std::nullopt;
    }
    if (q.qtype != kTypeA && q.qtype != kTypeAaaa) {
        error = "unknown query type " + std::to_string(q.qtype) + " in DNS response";
        return std::nullopt;
    }
    q.answers_at = i + 4;
    return q;
}

Records read_records(const unsigned char* buf, std::size_t n, const Question& q) {
    Records out;
    std::size_t i = q.answers_at;
    unsigned naddrs = 0;
    for (unsigned a = 0; a < q.answers; ++a) {
        const auto rdata_head = skip_owner(buf, n, i, out.error);
        if (!rdata_head) return out;
        i = *rdata_head;
        if (i + 10 >= n) {
            out.error = "short DNS response";
            return out;
        }
        const unsigned type = u16(buf + i);
        const unsigned cls = u16(buf + i + 2);
        auto ttl = static_cast<std::int32_t>((std::uint32_t{buf[i + 4]} << 24) + (std::uint32_t{buf[i + 5]} << 16) +
                                             (std::uint32_t{buf[i + 6]} << 8) + buf[i + 7]);
        const std::size_t len = u16(buf + i + 8);
        if (cls != 1) {
            out.error = "unexpected RR class " + std::to_string(cls) + " in DNS response";
            return out;
        }
        out.ttl = std::min(out.ttl, static_cast<std::uint32_t>(std::max(ttl, 0)));
        i += 10;
        if (!check_record(n, i, type, len, q.qtype, naddrs, out)) return out;
        i += len;
    }
    if (naddrs) copy_addresses(buf, q, out);
    return out;
}

}  // namespace ngxlite::runtime::dns
