// access_log's buffer=, flush= and gzip[=level], as ngx_http_log_module and
// ngx_stream_log_module keep them: a file's lines gather in a buffer of its size, written
// when the next line might not fit (by the room nginx reserves for it), flush= after the first line went in, and when the
// worker ends; with gzip, each write is one gzip member, as nginx writes them. nginx keeps
// one buffer per file and worker process; here one per file and worker thread, so writers
// share nothing.
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/core/timer_tree.hpp"

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace ngxlite::runtime {

struct LogBufferSpec {
    std::size_t size = 0;  // 0: not buffered
    ir::Msec flush{0};     // 0: no flush timer
    int gzip = 0;          // 0: plain; else the zlib level
};

// One file's buffer in one worker thread.
class LogBuffer final : public Timeout {
public:
    LogBuffer(TimerTree& timers, int fd, const LogBufferSpec& spec);
    ~LogBuffer();
    LogBuffer(const LogBuffer&) = delete;
    LogBuffer& operator=(const LogBuffer&) = delete;

    // ngx_http_log_handler's buffered path: `reserved` is the room nginx asks for the line
    // (at least its size).
    void add(std::string_view line, std::size_t reserved);
    void flush();                     // ngx_http_log_flush

private:
    void expired() override { flush(); }
    void write(std::string_view bytes) const;

    int fd_;
    LogBufferSpec spec_;
    std::string pending_;
};

// One worker thread's buffers, by file path, made as lines come. The thread that made
// them writes through them (attach); other threads write straight to the file.
class WorkerLogBuffers {
public:
    explicit WorkerLogBuffers(TimerTree& timers) : timers_(timers) {}
    WorkerLogBuffers(const WorkerLogBuffers&) = delete;
    WorkerLogBuffers& operator=(const WorkerLogBuffers&) = delete;

    void attach();     // on the worker's thread, before it serves
    void flush_all();  // each buffer written and its timer stopped (the worker winds down)
    // The calling thread's buffer for `path`, or nullptr when it has none.
    static LogBuffer* of_thread(const std::string& path, int fd, const LogBufferSpec& spec);

private:
    TimerTree& timers_;
    std::map<std::string, std::unique_ptr<LogBuffer>> buffers_;
};

// nginx's ngx_http_log_gzip: `bytes` as one gzip member at `level`, with nginx's window
// and memory levels for its size (so the output matches nginx's byte for byte).
std::string gzip_member(std::string_view bytes, int level);

}  // namespace ngxlite::runtime
