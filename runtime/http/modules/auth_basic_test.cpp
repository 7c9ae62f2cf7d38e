// auth_basic's pieces: the credentials of an Authorization header, and every password
// scheme nginx's ngx_crypt reads, against hashes openssl and Python's hashlib made.
#define BOOST_TEST_MODULE auth_basic
#include <boost/test/unit_test.hpp>

#include "runtime/http/modules/auth_basic.hpp"
#include "runtime/http/modules/password_hash.hpp"

using namespace ngxlite::runtime;

namespace {

std::optional<BasicCredentials> credentials_of(const std::string& value) {
    Request req;
    req.headers.emplace_back("Authorization", value);
    return basic_credentials(req);
}

bool matches(const char* password, const char* entry) {
    const auto hashed = hash_like(password, entry);
    return hashed && *hashed == entry;
}

}  // namespace

BOOST_AUTO_TEST_CASE(credentials_as_ngx_http_auth_basic_user) {
    const auto c = credentials_of("basic   dXNlcjpwYTpzcw==");  // "user:pa:ss", any case, spaces after
    BOOST_REQUIRE(c);
    BOOST_TEST(c->user == "user");
    BOOST_TEST(c->password == "pa:ss");
    BOOST_TEST(!credentials_of("Basic OnB3"));        // ":pw": no user
    BOOST_TEST(!credentials_of("Basic anVzdHVzZXI="));  // no colon
    BOOST_TEST(!credentials_of("Basic !!!"));
    BOOST_TEST(!credentials_of("Basic a"));  // a lone last sextet
    BOOST_TEST(!credentials_of("Bearer dXNlcjpwYTpzcw=="));
    BOOST_TEST(!credentials_of("Basic "));
    BOOST_TEST(credentials_of("Basic dXNlcjpwYTpzcw")->password == "pa:ss");  // no padding needed
}

BOOST_AUTO_TEST_CASE(every_scheme_of_ngx_crypt) {
    BOOST_TEST(matches("pw", "$apr1$abcdefgh$5VEbMkemELfbhC5ck.U.z1"));  // openssl passwd -apr1 -salt abcdefgh pw
    BOOST_TEST(!matches("pW", "$apr1$abcdefgh$5VEbMkemELfbhC5ck.U.z1"));
    BOOST_TEST(matches("pw", "{PLAIN}pw"));
    BOOST_TEST(matches("pw", "{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM="));
    BOOST_TEST(matches("pw", "{SSHA}vFSAXA44/mvza7sDF+k4l4Poy21zYWx0c2FsdA=="));  // salt "saltsalt"
    BOOST_TEST(!matches("px", "{SSHA}vFSAXA44/mvza7sDF+k4l4Poy21zYWx0c2FsdA=="));
    BOOST_TEST(matches("pw", "$1$abcdefgh$IQtUouv7y7Q9dRWkQEPCc."));  // crypt(3) from here on
    BOOST_TEST(matches("pw", "$5$abcdefgh$ijtOJ//yvc/9bq1g0llFn9dB688BwBDRD90DlKKSKE1"));
    BOOST_TEST(!matches("pw", ""));  // no salt: libcrypt's failure token, never equal
}
