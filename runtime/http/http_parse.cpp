#include "runtime/http/http_parse.hpp"

#include "runtime/http/http_chars.hpp"

namespace ngxlite::runtime {

using namespace http_chars;

namespace {

// ngx_http_parse_request_line's states, in its order.
enum class LineState {
    start, method, spaces_before_uri,                                                   // scan_method
    schema, schema_slash, schema_slash_slash, host_start, host, host_ip_literal, host_end, port,  // scan_host
    uri, http_09, http_H, http_HT, http_HTT, http_HTTP, first_major_digit, major_digit,         // scan_rest
    first_minor_digit, minor_digit, spaces_after_digit, almost_done,
};

// What the request line's scan found so far: its state and nginx's r->*_start and _end.
struct LineScan {
    LineState state = LineState::start;
    std::size_t start = 0, method_end = 0, schema_end = 0, host_start = 0, host_end = 0;
    std::size_t uri_start = 0, uri_end = 0, protocol_start = 0, request_end = std::string_view::npos;
    int major = 0, minor = 0;
    bool empty_path = false;
};

// One character's step of the scan: nullopt goes on; ok: the line ended at it.
using ScanStep = std::optional<ParseStatus>;
constexpr ScanStep kNext = std::nullopt;

// The method and the spaces after it.
ScanStep scan_method(LineScan& l, unsigned char ch, std::size_t p) {
    switch (l.state) {
    case LineState::start:
        l.start = p;
        if (ch == CR || ch == LF) return kNext;
        if (!upper_letter(ch) && ch != '_' && ch != '-') return ParseStatus::invalid_method;
        l.state = LineState::method;
        return kNext;
    case LineState::method:
        if (ch == ' ') {
            l.method_end = p;
            l.state = LineState::spaces_before_uri;
            return kNext;
        }
        if (!upper_letter(ch) && ch != '_' && ch != '-') return ParseStatus::invalid_method;
        return kNext;
    default:  // spaces_before_uri
        if (ch == '/') {
            l.uri_start = p;
            l.state = LineState::uri;
        } else if (letter(ch)) {
            l.state = LineState::schema;
        } else if (ch != ' ') {
            return ParseStatus::invalid_request;
        }
        return kNext;
    }
}

// An absolute-form target's schema, host and port.
ScanStep scan_host(LineScan& l, unsigned char ch, std::size_t p) {
    switch (l.state) {
    case LineState::schema:
        if (letter(ch) || digit(ch) || ch == '+' || ch == '-' || ch == '.') return kNext;
        if (ch != ':') return ParseStatus::invalid_request;
        l.schema_end = p;
        l.state = LineState::schema_slash;
        return kNext;
    case LineState::schema_slash:
    case LineState::schema_slash_slash:
        if (ch != '/') return ParseStatus::invalid_request;
        l.state = l.state == LineState::schema_slash ? LineState::schema_slash_slash : LineState::host_start;
        return kNext;
    case LineState::host_ip_literal:
        if (letter(ch) || digit(ch)) return kNext;
        switch (ch) {
        case ']': l.state = LineState::host_end; return kNext;
        // ':', unreserved and sub-delims
        case ':': case '-': case '.': case '_': case '~': case '!': case '$': case '&': case '\'':
        case '(': case ')': case '*': case '+': case ',': case ';': case '=': return kNext;
        default: return ParseStatus::invalid_request;
        }
    case LineState::host_start:
        l.host_start = p;
        if (ch == '[') {
            l.state = LineState::host_ip_literal;
            return kNext;
        }
        l.state = LineState::host;
        [[fallthrough]];
    case LineState::host:
        if (letter(ch) || digit(ch) || ch == '.' || ch == '-') return kNext;
        [[fallthrough]];
    case LineState::host_end:
        l.host_end = p;
        if (ch == ':') {
            l.state = LineState::port;
            return kNext;
        }
        [[fallthrough]];
    default:  // port, and the end of a host without one
        if (l.state == LineState::port && digit(ch)) return kNext;
        switch (ch) {
        case '/':
            l.uri_start = p;
            l.state = LineState::uri;
            return kNext;
        case '?':
            l.uri_start = p;
            l.empty_path = true;
            l.state = LineState::uri;
            return kNext;
        case ' ':
            // "http://host": the target is the '/' after the schema's ':'.
            l.uri_start = l.schema_end + 1;
            l.uri_end = l.schema_end + 2;
            l.state = LineState::http_09;
            return kNext;
        default: return ParseStatus::invalid_request;
        }
    }
}

// The line's end: CR LF or LF, an HTTP/0.9 one's after the URI (minor 9).
ScanStep line_end(LineScan& l, unsigned char ch, std::size_t p, bool http09) {
    if (http09) l.minor = 9;
    if (ch == CR) {
        l.state = LineState::almost_done;
        return kNext;
    }
    l.request_end = p;
    return ParseStatus::ok;
}

// The URI's end (what its characters mean is parse_complex_uri's: its states only refuse
// control characters) and the version.
ScanStep scan_rest(LineScan& l, unsigned char ch, std::size_t p) {
    switch (l.state) {
    case LineState::uri:
        if (usual(ch) || ch == '.' || ch == '%' || ch == '/' || ch == '?' || ch == '#' || ch == '+') return kNext;
        if (ch != ' ' && ch != CR && ch != LF) return ParseStatus::invalid_request;  // a control character
        l.uri_end = p;
        if (ch != ' ') return line_end(l, ch, p, true);
        l.state = LineState::http_09;
        return kNext;
    case LineState::http_09:
        if (ch == ' ') return kNext;
        if (ch == CR || ch == LF) return line_end(l, ch, p, true);
        if (ch != 'H') return ParseStatus::invalid_request;
        l.protocol_start = p;
        l.state = LineState::http_H;
        return kNext;
    case LineState::http_H:
    case LineState::http_HT:
    case LineState::http_HTT:
    case LineState::http_HTTP: {
        static constexpr std::string_view rest = "TTP/";
        if (ch != rest[static_cast<int>(l.state) - static_cast<int>(LineState::http_H)]) return ParseStatus::invalid_request;
        l.state = static_cast<LineState>(static_cast<int>(l.state) + 1);
        return kNext;
    }
    case LineState::first_major_digit:
    case LineState::major_digit:
        if (l.state == LineState::major_digit && ch == '.') {
            l.state = LineState::first_minor_digit;
            return kNext;
        }
        if (!digit(ch) || (l.state == LineState::first_major_digit && ch == '0')) return ParseStatus::invalid_request;
        l.major = l.major * 10 + (ch - '0');
        if (l.major > 1) return ParseStatus::invalid_version;
        l.state = LineState::major_digit;
        return kNext;
    case LineState::first_minor_digit:
        if (!digit(ch)) return ParseStatus::invalid_request;
        l.minor = ch - '0';
        l.state = LineState::minor_digit;
        return kNext;
    case LineState::minor_digit:
        if (ch == CR || ch == LF) return line_end(l, ch, p, false);
        if (ch == ' ') {
            l.state = LineState::spaces_after_digit;
            return kNext;
        }
        if (!digit(ch) || l.minor > 99) return ParseStatus::invalid_request;
        l.minor = l.minor * 10 + (ch - '0');
        return kNext;
    case LineState::spaces_after_digit:
        if (ch == ' ') return kNext;
        if (ch == CR || ch == LF) return line_end(l, ch, p, false);
        return ParseStatus::invalid_request;
    default:  // almost_done
        if (ch != LF) return ParseStatus::invalid_request;
        l.request_end = p - 1;
        return ParseStatus::ok;
    }
}

}  // namespace

// ngx_http_parse_request_line, its states in three groups: the method, an absolute
// target's host, the URI and version.
ParseStatus parse_request_line(std::string_view in, std::size_t& pos, RequestLine& line) {
    LineScan l;
    l.start = pos;
    std::size_t p = pos;
    ScanStep step = kNext;
    for (; p < in.size() && !step; ++p) {
        const unsigned char ch = static_cast<unsigned char>(in[p]);
        if (l.state <= LineState::spaces_before_uri) step = scan_method(l, ch, p);
        else if (l.state <= LineState::port) step = scan_host(l, ch, p);
        else step = scan_rest(l, ch, p);
    }
    if (!step) return ParseStatus::again;
    if (*step != ParseStatus::ok) return *step;
    pos = p;
    line.empty_path = l.empty_path;
    line.text = in.substr(l.start, l.request_end - l.start);
    line.method = in.substr(l.start, l.method_end - l.start);
    line.absolute = l.host_start != 0;
    line.host = line.absolute ? in.substr(l.host_start, l.host_end - l.host_start) : std::string_view();
    line.target = in.substr(l.uri_start, l.uri_end - l.uri_start);
    line.protocol = l.protocol_start ? in.substr(l.protocol_start, l.request_end - l.protocol_start) : std::string_view();
    line.version = l.major * 1000 + l.minor;
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
