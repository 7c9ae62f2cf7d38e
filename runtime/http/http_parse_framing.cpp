// ngx_http_parse.c's parsers of how a message is framed: an upstream's status line,
// Content-Length values (ngx_atoof) and chunked bodies (ngx_http_parse_chunked), for
// requests and responses alike.
#include "runtime/http/http_parse.hpp"

#include "runtime/http/http_chars.hpp"

#include <limits>

namespace ngxlite::runtime {

using namespace http_chars;

ParseStatus parse_status_line(std::string_view in, std::size_t& pos, StatusLine& line) {
    enum class State {
        start, H, HT, HTT, HTTP, first_major_digit, major_digit, first_minor_digit, minor_digit, status,
        space_after_status, status_text, almost_done,
    };
    State state = State::start;
    int major = 0, minor = 0, code = 0, digits = 0;
    std::size_t code_start = 0, end = std::string_view::npos;
    std::size_t p = pos;
    for (; p < in.size(); ++p) {
        const unsigned char ch = static_cast<unsigned char>(in[p]);
        switch (state) {
        case State::start:
        case State::H:
        case State::HT:
        case State::HTT:
        case State::HTTP: {
            static constexpr std::string_view prefix = "HTTP/";
            if (ch != prefix[static_cast<int>(state)]) return ParseStatus::invalid_request;
            state = static_cast<State>(static_cast<int>(state) + 1);
            break;
        }

        case State::first_major_digit:  // 1-9
        case State::first_minor_digit: {  // 0-9
            const bool is_major = state == State::first_major_digit;
            if (!digit(ch) || (is_major && ch == '0')) return ParseStatus::invalid_request;
            (is_major ? major : minor) = ch - '0';
            state = is_major ? State::major_digit : State::minor_digit;
            break;
        }

        case State::major_digit:  // up to the '.'
        case State::minor_digit: {  // up to the space
            const bool is_major = state == State::major_digit;
            if (ch == (is_major ? '.' : ' ')) {
                state = is_major ? State::first_minor_digit : State::status;
                break;
            }
            int& version = is_major ? major : minor;
            if (!digit(ch) || version > 99) return ParseStatus::invalid_request;
            version = version * 10 + (ch - '0');
            break;
        }

        case State::status:  // spaces, then three digits
            if (ch == ' ') break;
            if (!digit(ch)) return ParseStatus::invalid_request;
            code = code * 10 + (ch - '0');
            if (++digits == 3) {
                code_start = p - 2;
                state = State::space_after_status;
            }
            break;

        case State::space_after_status:
            switch (ch) {
            case ' ':
            case '.':  // IIS may send 403.1, 403.2, etc
                state = State::status_text;
                break;
            case CR: state = State::almost_done; break;
            case LF: goto done;
            default: return ParseStatus::invalid_request;
            }
            break;

        case State::status_text:
            if (ch == CR) state = State::almost_done;
            if (ch == LF) goto done;
            break;

        case State::almost_done:
            end = p - 1;
            if (ch != LF) return ParseStatus::invalid_request;
            goto done;
        }
    }
    return ParseStatus::again;

done:
    pos = p + 1;
    line.code = code;
    line.text = in.substr(code_start, (end == std::string_view::npos ? p : end) - code_start);
    line.version = major * 1000 + minor;
    return ParseStatus::ok;
}

std::optional<std::uint64_t> parse_offset(std::string_view digits) {
    constexpr std::uint64_t max = std::numeric_limits<std::int64_t>::max();
    if (digits.empty()) return std::nullopt;
    std::uint64_t value = 0;
    for (const char c : digits) {
        if (!digit(static_cast<unsigned char>(c))) return std::nullopt;
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (value > (max - d) / 10) return std::nullopt;
        value = value * 10 + d;
    }
    return value;
}

ChunkedParser::Status ChunkedParser::parse(std::string_view& in) {
    // nginx's bound: a size whose next digit could overflow off_t is refused.
    constexpr std::uint64_t max_size = std::numeric_limits<std::int64_t>::max();
    if (state_ == State::data) return in.empty() ? Status::again : Status::data;
    std::size_t p = 0;
    for (; p < in.size(); ++p) {
        const unsigned char ch = static_cast<unsigned char>(in[p]);
        switch (state_) {
        case State::chunk_start:
            if (hex_value(ch) < 0) return Status::invalid;
            size_ = static_cast<std::uint64_t>(hex_value(ch));
            state_ = State::chunk_size;
            break;

        case State::chunk_size:
            if (size_ > max_size / 16) return Status::invalid;
            if (hex_value(ch) >= 0) {
                size_ = size_ * 16 + static_cast<std::uint64_t>(hex_value(ch));
                break;
            }
            switch (ch) {
            case CR: state_ = size_ ? State::extension_lf : State::last_extension_lf; break;
            case LF: state_ = size_ ? State::data : State::trailer; break;
            case ';': case ' ': case '\t': state_ = size_ ? State::extension : State::last_extension; break;
            default: return Status::invalid;
            }
            break;

        case State::extension:
        case State::last_extension: {
            const bool last = state_ == State::last_extension;
            if (ch == CR) state_ = last ? State::last_extension_lf : State::extension_lf;
            if (ch == LF) state_ = last ? State::trailer : State::data;
            break;
        }

        case State::extension_lf:
            if (ch != LF) return Status::invalid;
            state_ = State::data;
            break;

        case State::data:
            break;  // not reached: parse returns as the data begins

        case State::after_data:
            if (ch == CR) {
                state_ = State::after_data_lf;
                break;
            }
            if (ch != LF) return Status::invalid;
            state_ = State::chunk_start;
            break;

        case State::after_data_lf:
            if (ch != LF) return Status::invalid;
            state_ = State::chunk_start;
            break;

        case State::last_extension_lf:
            if (ch != LF) return Status::invalid;
            state_ = State::trailer;
            break;

        case State::trailer:
            if (ch == CR) {
                state_ = State::trailer_lf;
                break;
            }
            if (ch == LF) {
                in.remove_prefix(p + 1);
                state_ = State::chunk_start;
                return Status::done;
            }
            state_ = State::trailer_header;
            break;

        case State::trailer_lf:
            if (ch != LF) return Status::invalid;
            in.remove_prefix(p + 1);
            state_ = State::chunk_start;
            return Status::done;

        case State::trailer_header:
            if (ch == CR) state_ = State::trailer_header_lf;
            if (ch == LF) state_ = State::trailer;
            break;

        case State::trailer_header_lf:
            if (ch != LF) return Status::invalid;
            state_ = State::trailer;
            break;
        }
        if (state_ == State::data) {
            in.remove_prefix(p + 1);
            return size_ > max_size - 5 ? Status::invalid : Status::data;
        }
    }
    in.remove_prefix(p);
    // nginx's room for the framing still to come after a size (ctx->length).
    return size_ > max_size - 5 ? Status::invalid : Status::again;
}

void ChunkedParser::take(std::uint64_t n) {
    size_ -= n;
    if (size_ == 0) state_ = State::after_data;
}

}  // namespace ngxlite::runtime
