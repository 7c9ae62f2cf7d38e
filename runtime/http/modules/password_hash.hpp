// ngx_crypt: a password hashed the way an htpasswd entry names ("$apr1$", "{PLAIN}",
// "{SSHA}", "{SHA}", else crypt(3)), for auth_basic to compare with the entry.
#pragma once

#include <optional>
#include <string>

namespace ngxlite::runtime {

// `password` hashed with the scheme and salt of `entry`; nullopt when crypt_r() fails
// (errno says why). Both are C strings, as nginx passes them: a NUL ends them.
std::optional<std::string> hash_like(const char* password, const char* entry);

}  // namespace ngxlite::runtime
