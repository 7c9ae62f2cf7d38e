// For unit tests (after <boost/test/unit_test.hpp>): one gzip member inflated, checked
// to end where the member does.
#pragma once

#include <zlib.h>

#include <string>

namespace ngxlite::testing {

inline std::string gunzip(const std::string& member) {
    z_stream z{};
    BOOST_REQUIRE(inflateInit2(&z, MAX_WBITS + 16) == Z_OK);
    std::string out(1 << 22, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(member.data()));
    z.avail_in = static_cast<uInt>(member.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    BOOST_REQUIRE(inflate(&z, Z_FINISH) == Z_STREAM_END);
    out.resize(out.size() - z.avail_out);
    inflateEnd(&z);
    return out;
}

}  // namespace ngxlite::testing
