// The pipes stream sessions splice(2) through: bytes from one socket into a pipe and on
// into the other, never entering user space.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace ngxlite::runtime {

// A pipe for splice(2), non-blocking at both ends; empty when the kernel would not make one.
class SplicePipe {
public:
    SplicePipe() {
        int fds[2];
        if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return;
        read_end = fds[0];
        write_end = fds[1];
        ::fcntl(write_end, F_SETPIPE_SZ, kCapacity);  // best effort: a user's pipe quota may refuse it
    }
    ~SplicePipe() {
        if (!*this) return;
        ::close(read_end);
        ::close(write_end);
    }
    SplicePipe(const SplicePipe&) = delete;
    SplicePipe& operator=(const SplicePipe&) = delete;
    explicit operator bool() const { return read_end >= 0; }

    static constexpr int kCapacity = 256 * 1024;
    int read_end = -1;
    int write_end = -1;
    std::size_t held = 0;  // bytes in the pipe
};

// Empty pipes kept by each worker thread for its next sessions: a short session would
// otherwise spend a third of its system calls making and closing two pipes.
class SplicePipePool {
public:
    std::unique_ptr<SplicePipe> take() {
        if (free_.empty()) return std::make_unique<SplicePipe>();
        auto pipe = std::move(free_.back());
        free_.pop_back();
        return pipe;
    }
    void give_back(std::unique_ptr<SplicePipe> pipe) {
        if (*pipe && pipe->held == 0 && free_.size() < kKept) free_.push_back(std::move(pipe));
    }

private:
    static constexpr std::size_t kKept = 64;
    std::vector<std::unique_ptr<SplicePipe>> free_;
};

}  // namespace ngxlite::runtime
