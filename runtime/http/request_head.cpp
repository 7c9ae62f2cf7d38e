#include "runtime/http/request_head.hpp"

#include "runtime/core/text.hpp"

#include <algorithm>
#include <array>

namespace ngxlite::runtime {

namespace {

constexpr std::string_view kWhileLine = " while reading client request line";
constexpr std::string_view kWhilePipelinedLine = " while reading client pipelined request line";
constexpr std::string_view kWhileHeaders = " while reading client request headers";

// Headers nginx takes at most once (ngx_http_process_unique_header_line); Host has a
// message of its own.
bool unique_header(std::string_view name) {
    static constexpr std::array<std::string_view, 10> names = {
        "If-Modified-Since", "If-Unmodified-Since", "If-Match", "If-None-Match", "Content-Length",
        "Content-Range",     "If-Range",            "Transfer-Encoding", "Expect", "Authorization"};
    return std::any_of(names.begin(), names.end(), [&](std::string_view n) { return iequal(n, name); });
}

}  // namespace

RequestHeadReader::RequestHeadReader(const ServerSelector& selector, Request& req, bool pipelined)
    : selector_(selector), req_(req), server_(&selector.select("")), pipelined_(pipelined),
      buffer_end_(server_->header_buffer_size) {}

bool RequestHeadReader::keep_alive() const {
    if (connection_ != Connection::unset) return connection_ == Connection::keep_alive;
    return req_.version == 11;
}

RequestHeadReader::Step RequestHeadReader::refuse(int status, std::string message) {
    status_ = status;
    refusal_ = std::move(message);
    refusal_ += reading_headers_ ? kWhileHeaders : pipelined_ ? kWhilePipelinedLine : kWhileLine;
    return Step::refused;
}

RequestHeadReader::Step RequestHeadReader::step(std::string_view received) {
    if (received.data() != base_) move_fields(received.data());  // the buffer moved its bytes as it grew
    for (;;)
        if (const auto s = reading_headers_ ? header_line(received) : request_line(received)) return *s;
}

std::optional<RequestHeadReader::Step> RequestHeadReader::request_line(std::string_view received) {
    RequestLine line;
    std::size_t pos = pos_;
    const ParseStatus status = parse_request_line(received, pos, line);
    line_start_ = received.find_first_not_of("\r\n");
    if (status == ParseStatus::again) {
        if (line_start_ == std::string_view::npos || fits(line_start_, received.size(), false)) return Step::incomplete;
        req_.request_line = received.substr(line_start_, buffer_end_ - line_start_);
        return refuse(414, "client sent too long URI");
    }
    if (status != ParseStatus::ok) {
        // nginx logs what came of the line, up to its end.
        const std::string_view rest = received.substr(line_start_);
        req_.request_line = rest.substr(0, rest.find_first_of("\r\n"));
        switch (status) {
        case ParseStatus::invalid_method: return refuse(400, "client sent invalid method");
        case ParseStatus::invalid_version: return refuse(505, "client sent invalid version");
        case ParseStatus::invalid_09_method:
            req_.version = 9;  // answered the HTTP/0.9 way too: the page alone
            return refuse(400, "client sent invalid method in HTTP/0.9 request");
        default: return refuse(400, "client sent invalid request");
        }
    }
    if (!fits(line_start_, pos, true)) {
        req_.request_line = received.substr(line_start_, buffer_end_ - line_start_);
        return refuse(414, "client sent too long URI");
    }
    req_.request_line = line.text;
    req_.method = line.method;
    req_.protocol = line.protocol;
    req_.version = line.version == 9 ? 9 : line.version == 1000 ? 10 : 11;
    // The URI is decoded with the default server's merge_slashes.
    auto uri = parse_complex_uri(line.target, line.empty_path, server_->merge_slashes);
    if (!uri) return refuse(400, "client sent invalid request");
    req_.request_uri = line.target;
    req_.valid_unparsed_uri = !line.empty_path;  // "?x" is no URI to pass upstream as it came
    req_.uri = std::move(uri->path);
    req_.args = std::string(uri->args);
    req_.args_present = uri->has_args;
    if (line.absolute) {
        auto host = validate_host(line.host);
        if (!host) return refuse(400, "client sent invalid host in request line");
        req_.host = std::move(*host);
        host_from_line_ = true;
        server_ = &selector_.select(req_.host);
    }
    pos_ = pos;
    if (req_.version == 9) return Step::done;  // no headers
    reading_headers_ = true;
    return std::nullopt;
}

std::optional<RequestHeadReader::Step> RequestHeadReader::header_line(std::string_view received) {
    const bool underscores = server_->underscores_in_headers;
    HeaderLine h;
    std::size_t pos = pos_;
    const ParseStatus status = parse_header_line(received, pos, h, underscores);
    if (status == ParseStatus::again) return fits(pos_, received.size(), false) ? Step::incomplete : too_long_header(received, pos_);
    if (status == ParseStatus::invalid_header)
        return refuse(400, "client sent invalid header line: \"" + std::string(h.logged) + hex_byte(h.refused) + "...\"");
    if (!fits(pos_, pos, true)) return too_long_header(received, pos_);
    pos_ = pos;
    if (status == ParseStatus::header_done) return header_done();

    if (h.invalid_name && server_->ignore_invalid_headers) {
        ignored_ = "client sent invalid header line: \"" + std::string(h.logged) + "\"" + std::string(kWhileHeaders);
        return Step::ignored_header;
    }
    if (header_count_++ >= server_->max_headers) return refuse(494, "client sent too many header lines");
    const auto index = static_cast<int>(req_.headers.size());
    req_.headers.push_back({h.name, h.value});
    const auto duplicate = [&](int first, std::string_view what) -> Step {
        const auto& [name, value] = req_.headers[static_cast<std::size_t>(first)];
        return refuse(400, "client sent duplicate " + std::string(what) + ": \"" + std::string(h.name) + ": " +
                               std::string(h.value) + "\", previous value: \"" + std::string(name) + ": " +
                               std::string(value) + "\"");
    };
    if (iequal(h.name, "Host")) {
        if (host_ >= 0) return duplicate(host_, "host header");
        host_ = index;
        auto host = validate_host(h.value);
        if (!host) return refuse(400, "client sent invalid host header");
        if (!host_from_line_) {
            req_.host = std::move(*host);
            server_ = &selector_.select(req_.host);
        }
    } else if (unique_header(h.name)) {
        for (int i = 0; i < index; ++i)
            if (iequal(req_.headers[static_cast<std::size_t>(i)].name, h.name)) return duplicate(i, "header line");
        if (iequal(h.name, "Content-Length")) content_length_header_ = index;
        if (iequal(h.name, "Transfer-Encoding")) transfer_encoding_ = index;
    } else if (iequal(h.name, "Connection")) {
        // nginx looks for the words anywhere in the value, "close" first.
        const std::string value = lower(h.value);
        if (value.find("close") != std::string::npos)
            connection_ = Connection::close;
        else if (value.find("keep-alive") != std::string::npos)
            connection_ = Connection::keep_alive;
    }
    return std::nullopt;
}

void RequestHeadReader::keep_head(std::string_view received, std::pmr::string& bytes) {
    move_fields(received.data());
    // A request line cut short (a timeout) is logged as far as it came.
    if (req_.request_line.empty()) req_.request_line = received.substr(0, received.find_first_of("\r\n"));
    // A refused line may go past the lines taken.
    const auto line_end = static_cast<std::size_t>(req_.request_line.data() + req_.request_line.size() - received.data());
    bytes.assign(received.substr(0, std::max(pos_, line_end)));
    move_fields(bytes.data());
}

// The bytes the request's views see are at `to` now, at the same offsets as at base_ (a
// buffer that grew keeps them in order from the request's start). Before keep_head, the
// views are all into the received bytes.
void RequestHeadReader::move_fields(const char* to) {
    // Only the old pointers' values are used, as integers (the bytes they pointed at may
    // be freed, and pointer arithmetic across objects is undefined).
    const auto base = reinterpret_cast<std::uintptr_t>(base_);
    const auto move = [&](std::string_view& v) {
        if (!v.empty()) v = std::string_view(to + (reinterpret_cast<std::uintptr_t>(v.data()) - base), v.size());
    };
    for (std::string_view* v : {&req_.method, &req_.request_line, &req_.request_uri, &req_.protocol}) move(*v);
    for (auto& [name, value] : req_.headers) {
        move(name);
        move(value);
    }
    base_ = to;
}

// nginx's header buffers (client_header_buffer_size 1k, then large_client_header_buffers
// 4 8k): a line that outgrows the current buffer moves whole to a new large one. False
// when none is left or the line outgrows a large buffer of its own; buffer_end_ then
// stays where nginx's last buffer ends. A line still arriving needs the next buffer as
// soon as it has filled this one.
bool RequestHeadReader::fits(std::size_t begin, std::size_t end, bool complete) {
    // The server chosen so far decides the large buffers (nginx's r->srv_conf).
    const std::size_t large = server_->large_header_buffer_size;
    while (complete ? end > buffer_end_ : end >= buffer_end_) {
        if (large_buffers_ == server_->large_header_buffers || buffer_end_ == begin + large) return false;
        ++large_buffers_;
        buffer_end_ = begin + large;
    }
    return true;
}

// 494, with what nginx logs of the line: up to its buffer's end, at most
// NGX_MAX_ERROR_STR - 300 bytes.
RequestHeadReader::Step RequestHeadReader::too_long_header(std::string_view received, std::size_t begin) {
    const std::string_view logged = received.substr(begin, std::min<std::size_t>(buffer_end_ - begin, 2048 - 300));
    return refuse(494, "client sent too long header line: \"" + std::string(logged) + "...\"");
}

RequestHeadReader::Step RequestHeadReader::header_done() {
    if (host_ < 0 && req_.version == 11) return refuse(400, "client sent HTTP/1.1 request without \"Host\" header");
    if (content_length_header_ >= 0) {
        content_length_ = parse_offset(req_.headers[static_cast<std::size_t>(content_length_header_)].value);
        if (!content_length_) return refuse(400, "client sent invalid \"Content-Length\" header");
    }
    if (transfer_encoding_ >= 0) {
        const std::string_view value = req_.headers[static_cast<std::size_t>(transfer_encoding_)].value;
        if (req_.version < 11) return refuse(400, "client sent HTTP/1.0 request with \"Transfer-Encoding\" header");
        if (!iequal(value, "chunked")) return refuse(501, "client sent unknown \"Transfer-Encoding\": \"" + std::string(value) + "\"");
        if (content_length_)
            return refuse(400, "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time");
        chunked_ = true;
    }
    if (req_.method == "CONNECT") return refuse(405, "client sent CONNECT method");
    if (req_.method == "TRACE") return refuse(405, "client sent TRACE method");
    return Step::done;
}

RequestBody::RequestBody(const RequestHeadReader& head)
    : chunked_(head.chunked()), done_(!chunked_ && head.content_length().value_or(0) == 0),
      left_(head.content_length().value_or(0)) {}

RequestBody::Status RequestBody::take(std::string_view& in, std::string* body, std::uint64_t limit) {
    while (!done_ && !in.empty()) {
        std::uint64_t n = left_;
        if (chunked_) {
            switch (chunks_.parse(in)) {
            case ChunkedParser::Status::again: return Status::more;
            case ChunkedParser::Status::invalid: done_ = true; return Status::invalid;  // nothing more is read
            case ChunkedParser::Status::done: done_ = true; return Status::read;
            case ChunkedParser::Status::data: break;
            }
            if (limit > 0 && limit - taken_ < chunks_.chunk_left()) {  // taken_ never passes limit
                done_ = true;
                return Status::too_large;
            }
            n = chunks_.chunk_left();
        }
        n = std::min<std::uint64_t>(n, in.size());
        if (body) body->append(in.substr(0, n));
        in.remove_prefix(n);
        if (chunked_) {
            chunks_.take(n);
            taken_ += n;
        } else {
            left_ -= n;
            done_ = left_ == 0;
        }
    }
    return done_ ? Status::read : Status::more;
}

std::string RequestBody::too_large_sizes() const {
    return std::to_string(taken_) + "+" + std::to_string(chunks_.chunk_left());
}

UserAgentKind user_agent_kind(std::string_view v) {
    bool msie = false, msie6 = false;
    if (const auto at = v.find("MSIE "); at != std::string_view::npos && at + 7 < v.size()) {
        msie = true;
        if (v[at + 6] == '.')
            msie6 = v[at + 5] == '4' || v[at + 5] == '5' || (v[at + 5] == '6' && v.find("SV1", at + 8) == std::string_view::npos);
    }
    const bool opera = v.find("Opera") != std::string_view::npos;
    if (opera) msie = msie6 = false;
    const bool safari = !msie && !opera && v.find("Gecko/") == std::string_view::npos &&
                        v.find("Chrome/") == std::string_view::npos && v.find("Safari/") != std::string_view::npos &&
                        v.find("Mac OS X") != std::string_view::npos;
    return {msie6, safari};
}

}  // namespace ngxlite::runtime
