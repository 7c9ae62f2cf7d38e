#include "runtime/http/filters/gzip_filter.hpp"

namespace ngxlite::runtime {

GzipStream::GzipStream(const ir::Gzip& settings, std::int64_t length)
    : settings_(settings), window_bits_(settings.window_bits), mem_level_(settings.mem_level) {
    if (length > 0) {  // ngx_http_gzip_filter_memory: zlib's window is 262 bytes short of its size
        while (length < (std::int64_t{1} << (window_bits_ - 1)) - 262) {
            --window_bits_;
            --mem_level_;
        }
        if (mem_level_ < 1) mem_level_ = 1;
    }
}

GzipStream::~GzipStream() {
    if (started_ && !done_) deflateEnd(&zs_);
}

bool GzipStream::start() {
    // windowBits + 16: zlib writes the gzip header and trailer, as nginx 1.22 has it do.
    const int rc = deflateInit2(&zs_, settings_.level, Z_DEFLATED, window_bits_ + 16, mem_level_, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) {
        error_ = "deflateInit2() failed: " + std::to_string(rc);
        return false;
    }
    started_ = true;
    buffer_.resize(settings_.buffer_size);
    return true;
}

void GzipStream::take_buffer() {
    pass_.append(reinterpret_cast<const char*>(buffer_.data()), buffer_.size() - zs_.avail_out);
    ++pass_buffers_;
    zs_.avail_out = 0;
}

void GzipStream::end_pass() {
    passes_.push_back(std::move(pass_));
    pass_.clear();
    pass_buffers_ = 0;
}

bool GzipStream::compress(std::string_view in, Flush flush) {
    passes_.clear();
    if (done_ || (in.empty() && flush == Flush::none)) return true;  // nothing for zlib
    if (!started_ && !start()) return false;
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs_.avail_in = static_cast<uInt>(in.size());
    const int mode = flush == Flush::finish ? Z_FINISH : flush == Flush::sync ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    for (;;) {
        if (zs_.avail_out == 0) {  // ngx_http_gzip_filter_get_buf
            // Every buffer is in the pass: it goes on (and comes back free) first.
            if (pass_buffers_ == settings_.buffers) end_pass();
            zs_.next_out = buffer_.data();
            zs_.avail_out = static_cast<uInt>(buffer_.size());
        }
        const int rc = deflate(&zs_, mode);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            error_ = "deflate() failed: " + std::to_string(mode) + ", " + std::to_string(rc);
            return false;
        }
        if (zs_.avail_out == 0 && rc != Z_STREAM_END) {  // zlib has more to write
            take_buffer();
            continue;
        }
        if (mode == Z_SYNC_FLUSH) {  // the partial buffer goes with the flush; the next output starts a new one
            if (zs_.avail_out < buffer_.size()) take_buffer();
            end_pass();
            break;
        }
        if (rc == Z_STREAM_END) {
            total_in_ = zs_.total_in;
            total_out_ = zs_.total_out;
            take_buffer();
            deflateEnd(&zs_);
            done_ = true;
            end_pass();
            break;
        }
        break;  // Z_NO_FLUSH with the input taken: the filled buffers go on
    }
    if (!pass_.empty()) end_pass();
    return true;
}

std::string gzip_ratio(std::uint64_t in, std::uint64_t out) {
    if (out == 0) return {};
    std::uint64_t whole = in / out, fraction = in * 100 / out % 100;
    if (in * 1000 / out % 10 > 4 && ++fraction > 99) {  // 2.125 rounds to 2.13
        ++whole;
        fraction = 0;
    }
    return std::to_string(whole) + "." + (fraction < 10 ? "0" : "") + std::to_string(fraction);
}

}  // namespace ngxlite::runtime
