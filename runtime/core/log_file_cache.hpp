// open_log_file_cache: the log files a path with variables names, kept open as nginx's
// ngx_open_cached_file keeps them for its log modules. nginx has one cache per directive
// and worker process; here one per directive and worker thread, so writers share nothing.
#pragma once

#include "parser/ir/config.hpp"

#include <chrono>
#include <list>
#include <string>
#include <unordered_map>

namespace ngxlite::runtime {

class LogFileCache {
public:
    explicit LogFileCache(const ir::OpenLogCache& settings) : settings_(settings) {}
    ~LogFileCache();
    LogFileCache(const LogFileCache&) = delete;
    LogFileCache& operator=(const LogFileCache&) = delete;

    // The calling thread's cache for `settings`.
    static LogFileCache& of_thread(const ir::OpenLogCache& settings);

    // `line` appended to the file `path` names, through a descriptor kept open once the
    // file has been used min_uses times and revalidated after valid=: the descriptor it
    // went to (closed since, unless kept), or -1 when the file will not open (errno says why).
    int write(const std::string& path, std::string_view line);

private:
    using Clock = std::chrono::steady_clock;
    struct Entry {
        int fd = -1;  // -1: not used often enough to keep open
        std::uint64_t uses = 0;
        Clock::time_point created, accessed;
        std::list<std::string>::iterator recent;  // its place in recent_
    };

    // The descriptor for `e`, opened or revalidated; -1 when it will not open.
    int descriptor(const std::string& path, Entry& e, Clock::time_point now);
    void expire(Clock::time_point now, bool make_room);
    void erase(const std::string& path);

    const ir::OpenLogCache& settings_;
    std::unordered_map<std::string, Entry> entries_;
    std::list<std::string> recent_;  // most recently used first
};

}  // namespace ngxlite::runtime
