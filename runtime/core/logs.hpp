// nginx's log lines: the error log ("2026/11/24 22:18:59 [error] PID#TID: *CID message")
// and access logs from log_format templates. Files are opened once per configuration and
// written with O_APPEND, so workers need no locks.
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/core/log_buffer.hpp"
#include "runtime/http/request.hpp"

#include <sys/types.h>

#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

namespace ngxlite::runtime {

enum class LogLevel { emerg, alert, crit, error, warn, notice, info, debug };

// nginx's text for a failed system call: "CALL failed (ERR: TEXT)".
std::string system_error_text(const std::string& call, int err);

// A log file opened for appending as nginx opens them ("stderr": the standard error),
// closed (the standard streams are left), and a line written to it (-1: nowhere).
int open_log(const std::string& path);
void close_log(int fd);
void write_all(int fd, std::string_view line);

// reopen()'s owner when the files keep theirs (the serving process reopening).
inline constexpr uid_t kKeepOwner = static_cast<uid_t>(-1);

class SyslogSender;

class ErrorLog {
public:
    // `main`: where a syslog target's failures are logged (nginx's cycle log); null: here.
    explicit ErrorLog(const std::vector<ir::ErrorLog>& targets, const ErrorLog* main = nullptr);
    ~ErrorLog();
    ErrorLog(const ErrorLog&) = delete;
    ErrorLog& operator=(const ErrorLog&) = delete;

    void write(LogLevel level, std::string_view message, std::uint64_t connection = 0) const;
    // Some target logs this level: a message costly to make is made only then.
    bool wants(LogLevel level) const { return level <= most_detailed_; }
    // USR1, safe while workers write; a file not owned by `owner` is chowned to it (the
    // master, as root, for a serving process that is not).
    void reopen(uid_t owner) const;
    // nginx's message for the first log file that would not open, if any.
    std::optional<std::string> open_error() const;
    int file_fd() const;  // the first target that is a file, or -1

private:
    struct Target {
        std::string path;
        LogLevel level;
        int fd;                                      // -1 for syslog
        std::unique_ptr<const SyslogSender> syslog;  // syslog:...
    };
    // The line to every target that wants `level`; with `to_syslog` false, to files only
    // (a failed send's own line, which must not loop).
    void emit(LogLevel level, std::string_view message, std::uint64_t connection, bool to_syslog) const;

    std::vector<Target> targets_;
    LogLevel most_detailed_ = LogLevel::emerg;
    const ErrorLog* main_;
};

// Every access log file of a configuration (http and stream), opened once.
class AccessLogs {
public:
    // `errors`: where a syslog log's failed sends are logged (nginx's cycle log).
    AccessLogs(const ir::Config& config, const ErrorLog& errors);
    ~AccessLogs();
    AccessLogs(const AccessLogs&) = delete;
    AccessLogs& operator=(const AccessLogs&) = delete;

    // A line in each of `logs` whose if= condition holds, with `formats` (http{}'s or stream{}'s).
    // `request_errors`: an http request's error log; a path with variables is then written
    // only when the location's root exists, and what fails is logged there, as nginx's
    // ngx_http_log_script_write.
    void write(const std::vector<ir::AccessLog>& logs, const std::vector<ir::LogFormat>& formats,
               const RequestContext& ctx, const ErrorLog* request_errors = nullptr) const;
    void reopen(uid_t owner) const;  // as ErrorLog::reopen
    std::optional<std::string> open_error() const;

private:
    std::map<std::string, int> files_;  // path -> fd
    std::map<std::string, std::unique_ptr<const SyslogSender>> syslogs_;  // "syslog:..." -> its sender
    std::map<std::string, LogBufferSpec> buffered_;                     // path -> its buffer
    const ErrorLog& errors_;
};

// What `-t` checks of the logs, as nginx's ngx_init_cycle opens them (creating the files):
// the first error or access log file that will not open, in nginx's words.
std::optional<std::string> log_files_error(const ir::Config& config);

// The line a log_format produces: unset or empty variables as "-", escaped as nginx does;
// with `reserve`, `reserved`: the room nginx's log module asks of a buffer for it (its own
// variables, such as $status, reserve their longest text).
struct LogLine {
    std::string text;
    std::size_t reserved = 0;
};
LogLine format_log_line(const ir::LogFormat& format, const RequestContext& ctx, bool reserve);

}  // namespace ngxlite::runtime
