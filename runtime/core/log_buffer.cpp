#include "runtime/core/log_buffer.hpp"

#include <zlib.h>

#include <unistd.h>

namespace ngxlite::runtime {

namespace {
thread_local WorkerLogBuffers* this_thread_buffers = nullptr;
}  // namespace

std::string gzip_member(std::string_view bytes, int level) {
    int window_bits = MAX_WBITS;
    int memory_level = MAX_MEM_LEVEL - 1;
    while (static_cast<std::ptrdiff_t>(bytes.size()) < (1 << (window_bits - 1)) - 262) {
        --window_bits;
        --memory_level;
    }
    // deflateBound's conservative formula plus the gzip wrapper, as nginx sizes it.
    const std::size_t len = bytes.size();
    std::string out(len + ((len + 7) >> 3) + ((len + 63) >> 6) + 5 + 18, '\0');
    z_stream z{};
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
    z.avail_in = static_cast<uInt>(len);
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    if (deflateInit2(&z, level, Z_DEFLATED, window_bits + 16, memory_level, Z_DEFAULT_STRATEGY) != Z_OK) return {};
    const int rc = deflate(&z, Z_FINISH);
    out.resize(out.size() - z.avail_out);
    deflateEnd(&z);
    return rc == Z_STREAM_END ? out : std::string();
}

LogBuffer::LogBuffer(TimerTree& timers, int fd, const LogBufferSpec& spec) : Timeout(timers), fd_(fd), spec_(spec) {
    pending_.reserve(spec_.size);
}

LogBuffer::~LogBuffer() { flush(); }

void LogBuffer::add(std::string_view line, std::size_t reserved) {
    if (reserved > spec_.size - pending_.size()) flush();
    if (reserved > spec_.size) {  // more than the buffer holds: written alone
        write(line);
        return;
    }
    if (pending_.empty() && spec_.flush.count() > 0) arm(spec_.flush);
    pending_.append(line);
}

void LogBuffer::flush() {
    disarm();
    if (pending_.empty()) return;
    write(pending_);
    pending_.clear();
}

void LogBuffer::write(std::string_view bytes) const {
    if (fd_ < 0) return;
    const std::string packed = spec_.gzip ? gzip_member(bytes, spec_.gzip) : std::string();
    const std::string_view out = spec_.gzip ? std::string_view(packed) : bytes;
    [[maybe_unused]] const auto n = ::write(fd_, out.data(), out.size());
}

void WorkerLogBuffers::attach() { this_thread_buffers = this; }

void WorkerLogBuffers::flush_all() {
    for (auto& [path, buffer] : buffers_) buffer->flush();
}

LogBuffer* WorkerLogBuffers::of_thread(const std::string& path, int fd, const LogBufferSpec& spec) {
    WorkerLogBuffers* mine = this_thread_buffers;
    if (!mine) return nullptr;
    auto& buffer = mine->buffers_[path];
    if (!buffer) buffer = std::make_unique<LogBuffer>(mine->timers_, fd, spec);
    return buffer.get();
}

}  // namespace ngxlite::runtime
