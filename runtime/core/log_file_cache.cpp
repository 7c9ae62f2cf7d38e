#include "runtime/core/log_file_cache.hpp"

#include "runtime/core/logs.hpp"

#include <sys/stat.h>

#include <map>
#include <memory>

namespace ngxlite::runtime {

LogFileCache::~LogFileCache() {
    for (const auto& [path, e] : entries_) close_log(e.fd);
}

LogFileCache& LogFileCache::of_thread(const ir::OpenLogCache& settings) {
    thread_local std::map<const ir::OpenLogCache*, std::unique_ptr<LogFileCache>> caches;
    auto& cache = caches[&settings];
    if (!cache) cache = std::make_unique<LogFileCache>(settings);
    return *cache;
}

int LogFileCache::write(const std::string& path, std::string_view line) {
    const auto now = Clock::now();
    expire(now, false);
    auto it = entries_.find(path);
    if (it == entries_.end()) {
        const int fd = open_log(path);
        if (fd < 0) return -1;  // nginx caches no failure for its logs
        if (entries_.size() >= settings_.max) expire(now, true);
        recent_.push_front(path);
        it = entries_.emplace(path, Entry{fd, 0, now, now, recent_.begin()}).first;
    } else {
        recent_.splice(recent_.begin(), recent_, it->second.recent);
        if (descriptor(path, it->second, now) < 0) {
            const int err = errno;
            erase(path);
            errno = err;
            return -1;
        }
    }
    Entry& e = it->second;
    ++e.uses;
    e.accessed = now;
    const int fd = e.fd;
    write_all(fd, line);
    if (e.uses < settings_.min_uses) {  // not used often enough to keep open
        close_log(e.fd);
        e.fd = -1;
    }
    return fd;
}

// An entry past valid= is checked against the file its path names now: the same file
// keeps its descriptor, another (rotated, moved) is opened, none fails.
int LogFileCache::descriptor(const std::string& path, Entry& e, Clock::time_point now) {
    if (e.fd >= 0 && now - e.created < settings_.valid) return e.fd;
    struct stat named {}, held {};
    if (e.fd >= 0) {
        if (::stat(path.c_str(), &named) != 0) return -1;
        if (::fstat(e.fd, &held) == 0 && held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
            e.created = now;
            return e.fd;
        }
    }
    const int fresh = open_log(path);
    if (fresh < 0) return -1;
    close_log(e.fd);
    e.fd = fresh;
    e.created = now;
    return fresh;
}

// ngx_expire_old_cached_files: from the least recently used, up to two entries idle past
// inactive=; `make_room`: the least recently used one first, whatever its age.
void LogFileCache::expire(Clock::time_point now, bool make_room) {
    for (int n = make_room ? 0 : 1; n < 3 && !recent_.empty(); ++n) {
        const std::string& oldest = recent_.back();
        if (n != 0 && now - entries_.at(oldest).accessed <= settings_.inactive) return;
        erase(oldest);
    }
}

void LogFileCache::erase(const std::string& path) {
    const auto it = entries_.find(path);
    close_log(it->second.fd);
    recent_.erase(it->second.recent);
    entries_.erase(it);
}

}  // namespace ngxlite::runtime
