#include "runtime/http/modules/auth_basic.hpp"

#include "runtime/http/response.hpp"
#include "runtime/http/modules/password_hash.hpp"
#include "runtime/core/text.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ngxlite::runtime {

namespace {

// ngx_http_auth_basic_set_realm.
int ask_credentials(Response& r, const std::string& realm) {
    r.headers.add("WWW-Authenticate", "Basic realm=\"" + realm + "\"");
    return 401;
}

std::string failure(const char* call, const std::string& path, int err) {
    return std::string(call) + " \"" + path + "\" failed (" + std::to_string(err) + ": " + std::strerror(err) + ")";
}

// The password field of `user`'s line in an htpasswd file, as nginx's scanner finds it: a
// line is "user:password[:...]", '#' or CR at a line's start skips it, and a line the
// user's name does not match is skipped to its LF.
class EntryScanner {
public:
    explicit EntryScanner(std::string_view user) : user_(user) {}
    // Takes the next bytes; true once the password field has ended.
    bool take(std::string_view bytes) {
        for (const char ch : bytes)
            if (step(ch)) return true;
        return false;
    }
    // At the end of the file: whether a password field was being read (it ends there).
    bool found() const { return state_ == State::password; }
    const std::string& password() const { return password_; }

private:
    bool step(char ch) {
        switch (state_) {
        case State::login:
            if (login_ == 0 && (ch == '#' || ch == '\r')) {
                state_ = State::skip;
                break;
            }
            if (login_ == 0 && ch == '\n') break;
            // The name and the ':' after it, as nginx compares the decoded "user:password".
            if (ch != (login_ < user_.size() ? user_[login_] : ':')) {
                state_ = State::skip;
                break;
            }
            if (login_++ == user_.size()) state_ = State::password;
            break;
        case State::password:
            if (ch == '\n' || ch == '\r' || ch == ':') return true;
            password_ += ch;
            break;
        case State::skip:
            if (ch == '\n') {
                state_ = State::login;
                login_ = 0;
            }
            break;
        }
        return false;
    }

    enum class State { login, password, skip } state_ = State::login;
    std::string_view user_;
    std::size_t login_ = 0;
    std::string password_;
};

// ngx_http_auth_basic_crypt_handler.
int check_password(const BasicCredentials& cred, const std::string& entry, const std::string& realm, const RequestContext& ctx,
                   const ActiveConfig& cfg, Response& r) {
    const auto hashed = hash_like(cred.password.c_str(), entry.c_str());
    if (!hashed) {
        cfg.log_for(ctx).write(LogLevel::crit, "crypt_r() failed (" + std::to_string(errno) + ": " + std::strerror(errno) + ")" +
                                                   describe(ctx), ctx.connection.id);
        return 500;
    }
    if (std::strcmp(hashed->c_str(), entry.c_str()) == 0) return kAccessAllowed;
    cfg.log_for(ctx).write(LogLevel::error, "user \"" + cred.user + "\": password mismatch" + describe(ctx), ctx.connection.id);
    return ask_credentials(r, realm);
}

// The user's entry in the file at `path`: 403 when there is no such file, 500 when it
// cannot be read, else the scan's outcome.
int check_user_file(const std::string& path, const BasicCredentials& cred, const std::string& realm, const RequestContext& ctx,
                    const ActiveConfig& cfg, Response& r) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        cfg.log_for(ctx).write(err == ENOENT ? LogLevel::error : LogLevel::crit, failure("open()", path, err) + describe(ctx),
                               ctx.connection.id);
        return err == ENOENT ? 403 : 500;
    }
    EntryScanner scanner(cred.user);
    char buf[2048];
    int rc = 0;
    for (off_t offset = 0;;) {
        const ssize_t n = ::pread(fd, buf, sizeof buf, offset);
        if (n < 0) {
            cfg.log_for(ctx).write(LogLevel::crit, failure("pread()", path, errno) + describe(ctx), ctx.connection.id);
            rc = 500;
            break;
        }
        if (n == 0 || scanner.take(std::string_view(buf, static_cast<std::size_t>(n)))) {
            if (scanner.found()) {
                rc = check_password(cred, scanner.password(), realm, ctx, cfg, r);
            } else {
                cfg.log_for(ctx).write(LogLevel::error, "user \"" + cred.user + "\" was not found in \"" + path + "\"" + describe(ctx),
                                       ctx.connection.id);
                rc = ask_credentials(r, realm);
            }
            break;
        }
        offset += n;
    }
    ::close(fd);
    explicit_bzero(buf, sizeof buf);
    return rc;
}

}  // namespace

std::optional<std::string> decode_base64(std::string_view in) {
    const auto value = [](char ch) -> int {
        if (ch >= 'A' && ch <= 'Z') return ch - 'A';
        if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
        if (ch >= '0' && ch <= '9') return ch - '0' + 52;
        if (ch == '+') return 62;
        if (ch == '/') return 63;
        return -1;
    };
    std::size_t len = 0;
    for (; len < in.size() && in[len] != '='; ++len)
        if (value(in[len]) < 0) return std::nullopt;
    if (len % 4 == 1) return std::nullopt;
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::size_t i = 0; i < len; ++i) {
        acc = (acc << 6) | static_cast<std::uint32_t>(value(in[i]));
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    return out;
}

std::optional<BasicCredentials> basic_credentials(const Request& req) {
    const std::string_view* auth = req.header("Authorization");
    if (!auth || auth->size() < 6 || !iequal(auth->substr(0, 6), "Basic ")) return std::nullopt;
    std::string_view encoded = auth->substr(6);
    while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
    if (encoded.empty()) return std::nullopt;
    auto decoded = decode_base64(encoded);
    if (!decoded) return std::nullopt;
    const auto colon = decoded->find(':');
    if (colon == 0 || colon == std::string::npos) return std::nullopt;
    return BasicCredentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

int auth_basic(const ir::Location& loc, const RequestContext& ctx, const ActiveConfig& cfg, Response& r) {
    if (!loc.auth_basic) return kAccessDeclined;
    const std::string realm = expand(loc.auth_basic->realm, ctx);
    if (realm == "off") return kAccessDeclined;
    const auto cred = basic_credentials(ctx.request);
    if (!cred) {
        cfg.log_for(ctx).write(LogLevel::info, "no user/password was provided for basic authentication" + describe(ctx),
                               ctx.connection.id);
        return ask_credentials(r, realm);
    }
    std::string path = expand(loc.auth_basic->user_file, ctx);
    if (!loc.auth_basic->conf_prefix.empty() && !path.starts_with('/')) path.insert(0, loc.auth_basic->conf_prefix);
    return check_user_file(path, *cred, realm, ctx, cfg, r);
}

}  // namespace ngxlite::runtime
