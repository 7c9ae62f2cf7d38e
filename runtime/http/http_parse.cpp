#include "runtime/http/http_parse.hpp"

#include "runtime/http/http_chars.hpp"

namespace ngxlite::runtime {

using namespace http_chars;

// One state machine, as ngx_http_parse_request_line is, and kept whole (over the project's
// 120 lines) so that it reads state by state beside nginx's: split, its states would share
// a dozen positions through a struct and lose that.
ParseStatus parse_request_line(std::string_view in, std::size_t& pos, RequestLine& line) {
    enum class State {
        start, method, spaces_before_uri, schema, schema_slash, schema_slash_slash, host_start, host,
        host_ip_literal, host_end, port, uri, http_09, http_H, http_HT,
        http_HTT, http_HTTP, first_major_digit, major_digit, first_minor_digit, minor_digit,
        spaces_after_digit, almost_done,
    };
    State state = State::start;
    std::size_t start = pos;
    std::size_t method_end = 0, schema_end = 0, host_start = 0, host_end = 0;
    std::size_t uri_start = 0, uri_end = 0, protocol_start = 0, request_end = std::string_view::npos;
    int major = 0, minor = 0;
    line.empty_path = false;

    std::size_t p = pos;
    for (; p < in.size(); ++p) {
        const unsigned char ch = static_cast<unsigned char>(in[p]);
        switch (state) {
        case State::start:
            start = p;
            if (ch == CR || ch == LF) break;
            if (!upper_letter(ch) && ch != '_' && ch != '-') return ParseStatus::invalid_method;
            state = State::method;
            break;

        case State::method:
            if (ch == ' ') {
                method_end = p;
                state = State::spaces_before_uri;
                break;
            }
            if (!upper_letter(ch) && ch != '_' && ch != '-') return ParseStatus::invalid_method;
            break;

        case State::spaces_before_uri:
            if (ch == '/') {
                uri_start = p;
                state = State::uri;
            } else if (letter(ch)) {
                state = State::schema;
            } else if (ch != ' ') {
                return ParseStatus::invalid_request;
            }
            break;

        case State::schema:
            if (letter(ch) || digit(ch) || ch == '+' || ch == '-' || ch == '.') break;
            if (ch != ':') return ParseStatus::invalid_request;
            schema_end = p;
            state = State::schema_slash;
            break;

        case State::schema_slash:
        case State::schema_slash_slash:
            if (ch != '/') return ParseStatus::invalid_request;
            state = state == State::schema_slash ? State::schema_slash_slash : State::host_start;
            break;

        case State::host_start:
            host_start = p;
            if (ch == '[') {
                state = State::host_ip_literal;
                break;
            }
            state = State::host;
            [[fallthrough]];

        case State::host:
            if (letter(ch) || digit(ch) || ch == '.' || ch == '-') break;
            [[fallthrough]];

        case State::host_end:
            host_end = p;
            if (ch == ':') {
                state = State::port;
                break;
            }
            [[fallthrough]];

        case State::port:  // and the end of a host without one
            if (state == State::port && digit(ch)) break;
            switch (ch) {
            case '/':
                uri_start = p;
                state = State::uri;
                break;
            case '?':
                uri_start = p;
                line.empty_path = true;
                state = State::uri;
                break;
            case ' ':
                // "http://host": the target is the '/' after the schema's ':'.
                uri_start = schema_end + 1;
                uri_end = schema_end + 2;
                state = State::http_09;
                break;
            default: return ParseStatus::invalid_request;
            }
            break;

        case State::host_ip_literal:
            if (letter(ch) || digit(ch)) break;
            switch (ch) {
            case ']': state = State::host_end; break;
            // ':', unreserved and sub-delims
            case ':': case '-': case '.': case '_': case '~': case '!': case '$': case '&': case '\'':
            case '(': case ')': case '*': case '+': case ',': case ';': case '=': break;
            default: return ParseStatus::invalid_request;
            }
            break;

        // The URI's states only tell where it ends and refuse control characters: what
        // its characters mean is parse_complex_uri's.
        case State::uri:
            if (usual(ch) || ch == '.' || ch == '%' || ch == '/' || ch == '?' || ch == '#' || ch == '+') break;
            switch (ch) {
            case ' ':
                uri_end = p;
                state = State::http_09;
                break;
            case CR:
                uri_end = p;
                minor = 9;
                state = State::almost_done;
                break;
            case LF:
                uri_end = p;
                minor = 9;
                request_end = p;
                goto done;
            default: return ParseStatus::invalid_request;  // a control character
            }
            break;

        case State::http_09:
            switch (ch) {
            case ' ': break;
            case CR:
                minor = 9;
                state = State::almost_done;
                break;
            case LF:
                minor = 9;
                request_end = p;
                goto done;
            case 'H':
                protocol_start = p;
                state = State::http_H;
                break;
            default: return ParseStatus::invalid_request;
            }
            break;

        case State::http_H:
        case State::http_HT:
        case State::http_HTT:
        case State::http_HTTP: {
            static constexpr std::string_view rest = "TTP/";
            if (ch != rest[static_cast<int>(state) - static_cast<int>(State::http_H)]) return ParseStatus::invalid_request;
            state = static_cast<State>(static_cast<int>(state) + 1);
            break;
        }

        case State::first_major_digit:
            if (ch < '1' || ch > '9') return ParseStatus::invalid_request;
            major = ch - '0';
            if (major > 1) return ParseStatus::invalid_version;
            state = State::major_digit;
            break;

        case State::major_digit:
            if (ch == '.') {
                state = State::first_minor_digit;
                break;
            }
            if (!digit(ch)) return ParseStatus::invalid_request;
            major = major * 10 + (ch - '0');
            if (major > 1) return ParseStatus::invalid_version;
            break;

        case State::first_minor_digit:
            if (!digit(ch)) return ParseStatus::invalid_request;
            minor = ch - '0';
            state = State::minor_digit;
            break;

        case State::minor_digit:
            if (ch == CR) {
                state = State::almost_done;
            } else if (ch == LF) {
                request_end = p;
                goto done;
            } else if (ch == ' ') {
                state = State::spaces_after_digit;
            } else if (!digit(ch) || minor > 99) {
                return ParseStatus::invalid_request;
            } else {
                minor = minor * 10 + (ch - '0');
            }
            break;

        case State::spaces_after_digit:
            if (ch == ' ') break;
            if (ch == CR) {
                state = State::almost_done;
                break;
            }
            if (ch != LF) return ParseStatus::invalid_request;
            request_end = p;
            goto done;

        case State::almost_done:
            if (ch != LF) return ParseStatus::invalid_request;
            request_end = p - 1;
            goto done;
        }
    }
    return ParseStatus::again;

done:
    pos = p + 1;
    line.text = in.substr(start, request_end - start);
    line.method = in.substr(start, method_end - start);
    line.absolute = host_start != 0;
    line.host = line.absolute ? in.substr(host_start, host_end - host_start) : std::string_view();
    line.target = in.substr(uri_start, uri_end - uri_start);
    line.protocol = protocol_start ? in.substr(protocol_start, request_end - protocol_start) : std::string_view();
    line.version = major * 1000 + minor;
    if (line.version == 9 && line.method != "GET") return ParseStatus::invalid_09_method;
    return ParseStatus::ok;
}

namespace {

// ngx_http_parse_header_line; `upstream` as nginx's r->upstream: a response's line.
ParseStatus parse_header(std::string_view in, std::size_t& pos, HeaderLine& header, bool allow_underscores, bool upstream) {
    enum class State { start, name, space_before_value, value, space_after_value, ignore_line, almost_done, header_almost_done };
    State state = State::start;
    std::size_t name_start = pos, name_end = pos, value_start = pos, value_end = pos;
    header.invalid_name = false;
    // nginx's header name characters: letters, digits, '-', and '_' when allowed; other
    // printable ones make the name invalid, controls and spaces the line.
    const auto name_char = [&](unsigned char ch) {
        if (letter(ch) || digit(ch) || ch == '-' || (ch == '_' && allow_underscores)) return true;
        if (ch <= 0x20 || ch == 0x7f) return false;
        header.invalid_name = true;
        return true;
    };
    const auto invalid = [&](std::size_t at) {
        header.logged = in.substr(name_start, at - name_start);
        header.refused = in[at];
        return ParseStatus::invalid_header;
    };

    std::size_t p = pos;
    for (; p < in.size(); ++p) {
        const unsigned char ch = static_cast<unsigned char>(in[p]);
        switch (state) {
        case State::start:
            name_start = p;
            if (ch == CR) {
                value_end = p;
                state = State::header_almost_done;
                break;
            }
            if (ch == LF) {
                pos = p + 1;
                return ParseStatus::header_done;
            }
            if (ch == ':' || !name_char(ch)) return invalid(p);
            state = State::name;
            break;

        case State::name:
            if (ch == ':') {
                name_end = p;
                state = State::space_before_value;
            } else if (ch == CR || ch == LF) {  // a name without a colon: an empty value
                name_end = value_start = value_end = p;
                if (ch == LF) goto done;
                state = State::almost_done;
            } else if (ch == '/' && upstream && in.substr(name_start, p - name_start) == "HTTP") {
                state = State::ignore_line;  // IIS may send its "HTTP/1.1 ..." line again
            } else if (!name_char(ch)) {
                return invalid(p);
            }
            break;

        case State::ignore_line:
            if (ch == LF) state = State::start;
            break;

        case State::space_before_value:
            switch (ch) {
            case ' ': break;  // not a tab: 1.22 keeps it in the value
            case CR:
                value_start = value_end = p;
                state = State::almost_done;
                break;
            case LF:
                value_start = value_end = p;
                goto done;
            case '\0': return invalid(p);
            default:
                value_start = p;
                state = State::value;
                break;
            }
            break;

        case State::value:
            switch (ch) {
            case ' ':
                value_end = p;
                state = State::space_after_value;
                break;
            case CR:
                value_end = p;
                state = State::almost_done;
                break;
            case LF:
                value_end = p;
                goto done;
            case '\0': return invalid(p);
            }
            break;

        case State::space_after_value:
            switch (ch) {
            case ' ': break;
            case CR: state = State::almost_done; break;
            case LF: goto done;
            case '\0': return invalid(p);
            default: state = State::value; break;
            }
            break;

        case State::almost_done:  // after a CR: more CRs, then LF
            if (ch == LF) goto done;
            if (ch != CR) return invalid(value_end);
            break;

        case State::header_almost_done:
            if (ch != LF) return invalid(value_end);
            pos = p + 1;
            return ParseStatus::header_done;
        }
    }
    return ParseStatus::again;

done:
    pos = p + 1;
    header.name = in.substr(name_start, name_end - name_start);
    header.value = in.substr(value_start, value_end - value_start);
    header.logged = in.substr(name_start, value_end - name_start);
    return ParseStatus::ok;
}

}  // namespace

ParseStatus parse_header_line(std::string_view in, std::size_t& pos, HeaderLine& header, bool allow_underscores) {
    return parse_header(in, pos, header, allow_underscores, false);
}

ParseStatus parse_response_header_line(std::string_view in, std::size_t& pos, HeaderLine& header) {
    return parse_header(in, pos, header, true, true);
}

std::optional<ParsedUri> parse_complex_uri(std::string_view target, bool empty_path, bool merge_slashes) {
    enum class State { usual, slash, dot, dot_dot, quoted, quoted_second };
    ParsedUri out;
    std::string& u = out.path;
    u.reserve(target.size() + 1);
    if (empty_path) u += '/';
    State state = State::usual, quoted_state = State::usual;
    int decoded = 0;
    const std::size_t n = target.size();
    std::size_t p = 0;
    // Reads the next character; past the end a NUL that the loop never looks at.
    const auto next = [&] { return static_cast<unsigned char>(p < n ? target[p++] : (++p, '\0')); };
    // "/.." at u's end: back to the slash before the previous segment; false above the root.
    const auto up = [&] {
        if (u.size() < 4) return false;
        const auto slash = u.rfind('/', u.size() - 4);
        if (slash == std::string::npos) return false;
        u.resize(slash + 1);
        return true;
    };
    const auto take_args = [&] {
        out.has_args = true;
        out.args = target.substr(p);
        out.args = out.args.substr(0, out.args.find('#'));
        return std::optional(std::move(out));
    };
    if (n == 0) return out;
    unsigned char ch = next();
    while (p <= n) {
        switch (state) {
        case State::usual:
        case State::slash:
        case State::dot:
        case State::dot_dot:
            if (usual(ch)) {
                state = State::usual;
                u += static_cast<char>(ch);
                ch = next();
                break;
            }
            if (ch == '%') {
                quoted_state = state;
                state = State::quoted;
                ch = next();
                break;
            }
            if (state == State::dot_dot && (ch == '/' || ch == '?' || ch == '#')) {
                if (!up()) return std::nullopt;
                if (ch == '?') return take_args();
                if (ch == '#') return out;
                state = State::slash;
                ch = next();
                break;
            }
            if (state == State::dot && (ch == '/' || ch == '?' || ch == '#')) {
                u.pop_back();  // "/./": the '.' goes, the slash before it stays
                if (ch == '?') return take_args();
                if (ch == '#') return out;
                state = State::slash;
                ch = next();
                break;
            }
            switch (ch) {
            case '/':
                if (state != State::slash || !merge_slashes) u += '/';
                state = State::slash;
                break;
            case '?': return take_args();
            case '#': return out;
            case '.':
                state = state == State::slash ? State::dot : state == State::dot ? State::dot_dot : State::usual;
                u += '.';
                break;
            default:
                state = State::usual;
                u += static_cast<char>(ch);
                break;
            }
            ch = next();
            break;

        case State::quoted:
            if (hex_value(ch) < 0) return std::nullopt;
            decoded = hex_value(ch);
            state = State::quoted_second;
            ch = next();
            break;

        case State::quoted_second: {
            if (hex_value(ch) < 0) return std::nullopt;
            ch = static_cast<unsigned char>(decoded * 16 + hex_value(ch));
            if (ch == '\0') return std::nullopt;
            // An escaped '%', '#' or '?' is that character in the path; any other goes
            // through the state the escape began in, as if it had come unescaped.
            if (ch == '%' || ch == '#' || ch == '?') {
                state = State::usual;
                u += static_cast<char>(ch);
                ch = next();
                break;
            }
            state = quoted_state;
            break;
        }
        }
    }
    if (state == State::quoted || state == State::quoted_second) return std::nullopt;
    if (state == State::dot) {
        u.pop_back();
    } else if (state == State::dot_dot && !up()) {
        return std::nullopt;
    }
    return out;
}

std::optional<std::string> validate_host(std::string_view host) {
    enum class State { usual, literal, rest };
    State state = State::usual;
    std::size_t dot_pos = std::string_view::npos;
    std::size_t host_len = host.size();
    for (std::size_t i = 0; i < host.size(); ++i) {
        const unsigned char ch = static_cast<unsigned char>(host[i]);
        switch (ch) {
        case '.':
            if (dot_pos != std::string_view::npos && dot_pos + 1 == i) return std::nullopt;  // ".."
            dot_pos = i;
            break;
        case ':':
            if (state == State::usual) {
                host_len = i;
                state = State::rest;
            }
            break;
        case '[':
            if (i == 0) state = State::literal;
            break;
        case ']':
            if (state == State::literal) {
                host_len = i + 1;
                state = State::rest;
            }
            break;
        default:
            if (ch == '/' || ch <= 0x20 || ch == 0x7f) return std::nullopt;
            break;
        }
    }
    if (dot_pos != std::string_view::npos && dot_pos + 1 == host_len) --host_len;  // a trailing dot
    if (host_len == 0) return std::nullopt;
    std::string out(host.substr(0, host_len));
    for (char& c : out)
        if (upper_letter(static_cast<unsigned char>(c))) c = static_cast<char>(c | 0x20);
    return out;
}

}  // namespace ngxlite::runtime
