// DNS messages as nginx's resolver writes and reads them (ngx_resolver.c): the query it
// sends, and what it accepts in an answer, with its exact log lines. Pure functions over
// bytes: the resolver decides what an answer means for the names it waits on.
#pragma once

#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ngxlite::runtime::dns {

constexpr unsigned kTypeA = 1;
constexpr unsigned kTypeCname = 5;
constexpr unsigned kTypeAaaa = 28;
constexpr unsigned kTypeDname = 39;

constexpr unsigned kFormErr = 1;
constexpr unsigned kNxDomain = 3;
constexpr unsigned kRefused = 5;

// ngx_resolver_create_name_query: "\3www\7example\3com\0", type, class IN, recursion
// desired, id 0 (c-ares sets it). False: a name nginx declines (an empty label).
bool make_query(std::string_view name, unsigned qtype, std::string& out);

// ngx_resolver_copy: the name at `offset`, compression followed, lowercased; nullopt
// with `error` set (nginx's line) when it is malformed.
std::optional<std::string> copy_name(const unsigned char* buf, std::size_t n, std::size_t offset, std::string& error);

// The head and question of an answer nginx goes on with (ngx_resolver_process_response).
struct Question {
    unsigned ident = 0;
    unsigned code = 0;           // the rcode
    unsigned qtype = 0;          // A or AAAA
    unsigned answers = 0;        // ancount
    std::size_t answers_at = 0;  // offset of the first answer record
};

// Reads the head and the question; nullopt with `error` (nginx's line) when nginx drops
// the answer there. A FORMERR or an rcode above 5 returns at once with ident and code
// only: nginx logs those itself, naming the query when it still waits for it.
std::optional<Question> read_question(const unsigned char* buf, std::size_t n, std::string& error);
inline bool rcode_dropped(const Question& q) { return q.code == kFormErr || q.code > kRefused; }

// The answer records of an A or AAAA query (ngx_resolver_process_a's two passes).
struct Records {
    std::vector<boost::asio::ip::address_v4> addrs;
    std::vector<boost::asio::ip::address_v6> addrs6;
    std::optional<std::size_t> cname;  // offset of the last CNAME's target name
    std::uint32_t ttl = 0xffffffffu;   // the least TTL of the records read
    std::vector<std::string> notes;    // lines logged on the way ("unexpected RR type ...")
    std::string error;                 // set: nginx's line, and the answer is dropped
};

Records read_records(const unsigned char* buf, std::size_t n, const Question& q);

}  // namespace ngxlite::runtime::dns
