#include "runtime/http/modules/password_hash.hpp"

#include "runtime/http/modules/auth_basic.hpp"

#include <crypt.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <memory>
#include <string_view>

namespace ngxlite::runtime {

namespace {

using Md5 = std::array<unsigned char, MD5_DIGEST_LENGTH>;

// An MD5 (or SHA-1) over a few pieces, through OpenSSL's EVP interface.
class Digest {
public:
    explicit Digest(const EVP_MD* md) : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) { EVP_DigestInit_ex(ctx_.get(), md, nullptr); }
    Digest& add(const void* data, std::size_t n) {
        EVP_DigestUpdate(ctx_.get(), data, n);
        return *this;
    }
    Digest& add(std::string_view s) { return add(s.data(), s.size()); }
    template <std::size_t N>
    std::array<unsigned char, N> finish() {
        std::array<unsigned char, N> out{};
        EVP_DigestFinal_ex(ctx_.get(), out.data(), nullptr);
        return out;
    }

private:
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

// ngx_crypt_to64: `n` characters of crypt's alphabet, low bits first.
void append_to64(std::string& out, std::uint32_t v, int n) {
    static constexpr char itoa64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (; n > 0; --n, v >>= 6) out += itoa64[v & 0x3f];
}

// Apache's apr1: Poul-Henning Kamp's MD5 crypt with the "$apr1$" magic (ngx_crypt_apr1).
std::string apr1(std::string_view key, std::string_view entry) {
    std::string_view salt = entry.substr(6, 8);
    salt = salt.substr(0, salt.find('$'));
    Digest md5(EVP_md5());
    md5.add(key).add("$apr1$").add(salt);
    Md5 final = Digest(EVP_md5()).add(key).add(salt).add(key).finish<MD5_DIGEST_LENGTH>();
    for (std::size_t n = key.size(); n > 0; n -= std::min<std::size_t>(n, 16)) md5.add(final.data(), std::min<std::size_t>(n, 16));
    final.fill(0);
    for (std::size_t i = key.size(); i; i >>= 1) md5.add(i & 1 ? static_cast<const void*>(final.data()) : key.data(), 1);
    final = md5.finish<MD5_DIGEST_LENGTH>();
    for (int i = 0; i < 1000; ++i) {
        Digest round(EVP_md5());
        if (i & 1) round.add(key);
        else round.add(final.data(), final.size());
        if (i % 3) round.add(salt);
        if (i % 7) round.add(key);
        if (i & 1) round.add(final.data(), final.size());
        else round.add(key);
        final = round.finish<MD5_DIGEST_LENGTH>();
    }
    std::string out = "$apr1$" + std::string(salt) + "$";
    const auto f = [&](int i) { return static_cast<std::uint32_t>(final[static_cast<std::size_t>(i)]); };
    append_to64(out, (f(0) << 16) | (f(6) << 8) | f(12), 4);
    append_to64(out, (f(1) << 16) | (f(7) << 8) | f(13), 4);
    append_to64(out, (f(2) << 16) | (f(8) << 8) | f(14), 4);
    append_to64(out, (f(3) << 16) | (f(9) << 8) | f(15), 4);
    append_to64(out, (f(4) << 16) | (f(10) << 8) | f(5), 4);
    append_to64(out, f(11), 2);
    return out;
}

std::string encode_base64(const unsigned char* data, std::size_t n) {
    std::string out(4 * ((n + 2) / 3), '\0');
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
    return out;
}

// "{SSHA}" base64(SHA1(key salt) salt): the salt is what follows the digest in the
// entry's decoded bytes (none when they do not decode or are too short, as nginx).
std::string ssha(std::string_view key, std::string_view entry) {
    std::string decoded = decode_base64(entry.substr(6)).value_or(std::string());
    if (decoded.size() < SHA_DIGEST_LENGTH) decoded.assign(SHA_DIGEST_LENGTH, '\0');
    const auto digest = Digest(EVP_sha1()).add(key).add(std::string_view(decoded).substr(SHA_DIGEST_LENGTH)).finish<SHA_DIGEST_LENGTH>();
    std::copy(digest.begin(), digest.end(), decoded.begin());
    return "{SSHA}" + encode_base64(reinterpret_cast<const unsigned char*>(decoded.data()), decoded.size());
}

// "{SHA}" base64(SHA1(key)).
std::string sha(std::string_view key) {
    const auto digest = Digest(EVP_sha1()).add(key).finish<SHA_DIGEST_LENGTH>();
    return "{SHA}" + encode_base64(digest.data(), digest.size());
}

}  // namespace

std::optional<std::string> hash_like(const char* password, const char* entry) {
    const std::string_view key(password), e(entry);
    if (e.starts_with("$apr1$")) return apr1(key, e);
    if (e.starts_with("{PLAIN}")) return "{PLAIN}" + std::string(key);
    if (e.starts_with("{SSHA}")) return ssha(key, e);
    if (e.starts_with("{SHA}")) return sha(key);
    // libc's crypt_r (libxcrypt): DES, MD5 "$1$", SHA-256 "$5$", SHA-512 "$6$", yescrypt...
    auto data = std::make_unique<crypt_data>();  // tens of KiB: not on a coroutine's frame
    const char* value = ::crypt_r(password, entry, data.get());
    if (!value) return std::nullopt;
    return std::string(value);
}

}  // namespace ngxlite::runtime
