// DNS answers read as nginx's resolver reads them: the records it takes, and the lines it
// logs for the answers it drops.
#define BOOST_TEST_MODULE dns_message
#include <boost/test/unit_test.hpp>

#include "runtime/upstream/dns_message.hpp"

#include <string>

using namespace ngxlite::runtime;

namespace {

// An answer to `query` (make_query's bytes) with id 0x1234, `flags`, and `records`
// appended after the question; ancount says `count`.
std::string answer(const std::string& query, unsigned flags, unsigned count, const std::string& records) {
    std::string m = query;
    m[0] = '\x12';
    m[1] = '\x34';
    m[2] = static_cast<char>(flags >> 8);
    m[3] = static_cast<char>(flags & 0xff);
    m[7] = static_cast<char>(count);
    return m + records;
}

// A record whose owner is the question's name (a pointer to offset 12).
std::string record(unsigned type, unsigned ttl, const std::string& rdata) {
    std::string r = "\xc0\x0c";
    r += static_cast<char>(type >> 8);
    r += static_cast<char>(type & 0xff);
    r += std::string("\0\1", 2);
    for (int shift = 24; shift >= 0; shift -= 8) r += static_cast<char>((ttl >> shift) & 0xff);
    r += static_cast<char>(rdata.size() >> 8);
    r += static_cast<char>(rdata.size() & 0xff);
    return r + rdata;
}

const unsigned char* bytes(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }

std::string query(const char* name, unsigned type) {
    std::string q;
    BOOST_REQUIRE(dns::make_query(name, type, q));
    return q;
}

}  // namespace

BOOST_AUTO_TEST_CASE(query_is_nginx_s) {
    BOOST_TEST(query("www.Example.com", dns::kTypeA) ==
               std::string("\0\0\1\0\0\1\0\0\0\0\0\0\3www\7Example\3com\0\0\1\0\1", 33));
    std::string q;
    BOOST_TEST(!dns::make_query("a..b", dns::kTypeA, q));
    BOOST_TEST(!dns::make_query("", dns::kTypeA, q));
}

BOOST_AUTO_TEST_CASE(addresses_in_order_with_the_least_ttl) {
    const std::string m = answer(query("a.test", dns::kTypeA), 0x8180, 3,
                                 record(dns::kTypeA, 300, std::string("\x7f\0\0\x02", 4)) + record(99, 10, "x") +
                                     record(dns::kTypeA, 60, std::string("\x7f\0\0\x03", 4)));
    std::string error;
    const auto q = dns::read_question(bytes(m), m.size(), error);
    BOOST_REQUIRE(q);
    BOOST_TEST(q->ident == 0x1234u);
    BOOST_TEST(q->answers == 3u);
    const std::string name = dns::copy_name(bytes(m), m.size(), 12, error).value_or("");
    BOOST_TEST(name == "a.test");
    const dns::Records r = dns::read_records(bytes(m), m.size(), *q);
    BOOST_TEST(r.error.empty());
    BOOST_REQUIRE(r.addrs.size() == 2u);
    BOOST_TEST(r.addrs[0].to_string() == "127.0.0.2");
    BOOST_TEST(r.addrs[1].to_string() == "127.0.0.3");
    BOOST_TEST(r.ttl == 10u);
    BOOST_REQUIRE(r.notes.size() == 1u);
    BOOST_TEST(r.notes[0] == "unexpected RR type 99 in DNS response");
}

BOOST_AUTO_TEST_CASE(cname_target_is_read_through_a_pointer) {
    const std::string m = answer(query("alias.test", dns::kTypeA), 0x8180, 1,
                                 record(dns::kTypeCname, 5, std::string("\4real\xc0\x12", 7)));
    std::string error;
    const auto q = dns::read_question(bytes(m), m.size(), error);
    BOOST_REQUIRE(q);
    const dns::Records r = dns::read_records(bytes(m), m.size(), *q);
    BOOST_REQUIRE(r.cname);
    BOOST_TEST(dns::copy_name(bytes(m), m.size(), *r.cname, error).value_or("") == "real.test");
    BOOST_TEST(r.addrs.empty());
}

BOOST_AUTO_TEST_CASE(dropped_answers_say_why_as_nginx) {
    const std::string q = query("a.test", dns::kTypeA);
    std::string error;
    BOOST_TEST(!dns::read_question(bytes(q), 11, error));
    BOOST_TEST(error == "short DNS response");
    const std::string truncated = answer(q, 0x8380, 0, "");
    BOOST_TEST(!dns::read_question(bytes(truncated), truncated.size(), error));
    BOOST_TEST(error == "invalid TCP DNS response 4660 fl:8380");
    const std::string formerr = answer(q, 0x8181, 0, "");
    const auto f = dns::read_question(bytes(formerr), formerr.size(), error);
    BOOST_REQUIRE(f);
    BOOST_TEST(dns::rcode_dropped(*f));
    const std::string wrong_size = answer(q, 0x8180, 1, record(dns::kTypeA, 1, "\1\2\3"));
    const auto w = dns::read_question(bytes(wrong_size), wrong_size.size(), error);
    BOOST_REQUIRE(w);
    BOOST_TEST(dns::read_records(bytes(wrong_size), wrong_size.size(), *w).error == "invalid A record in DNS response");
    const std::string aaaa_in_a = answer(q, 0x8180, 1, record(dns::kTypeAaaa, 1, std::string(16, '\0')));
    const auto x = dns::read_question(bytes(aaaa_in_a), aaaa_in_a.size(), error);
    BOOST_REQUIRE(x);
    BOOST_TEST(dns::read_records(bytes(aaaa_in_a), aaaa_in_a.size(), *x).error == "unexpected AAAA record in DNS response");
}

BOOST_AUTO_TEST_CASE(compression_loops_end) {
    std::string m = answer(query("a.test", dns::kTypeA), 0x8180, 1,
                           record(dns::kTypeCname, 5, std::string("\xc0\x2d", 2)));
    std::string error;
    const auto q = dns::read_question(bytes(m), m.size(), error);
    BOOST_REQUIRE(q);
    const dns::Records r = dns::read_records(bytes(m), m.size(), *q);
    BOOST_REQUIRE(r.cname);
    m[*r.cname + 1] = static_cast<char>(*r.cname);  // the target points at itself
    BOOST_TEST(!dns::copy_name(bytes(m), m.size(), *r.cname, error));
    BOOST_TEST(error == "compression pointers loop in DNS response");
}
