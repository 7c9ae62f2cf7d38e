#include "runtime/core/logs.hpp"

#include "runtime/core/log_file_cache.hpp"
#include "runtime/core/syslog.hpp"
#include "runtime/http/handlers.hpp"
#include "runtime/http/response.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace ngxlite::runtime {

int open_log(const std::string& path) {
    if (path == "stderr") return STDERR_FILENO;
    return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

void close_log(int fd) {
    if (fd > STDERR_FILENO) ::close(fd);
}

void write_all(int fd, std::string_view line) {
    if (fd < 0) return;
    [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());
}

namespace {

const char* const kLevelNames[] = {"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"};

LogLevel parse_level(const std::string& s) {
    for (int i = 0; i < 8; ++i)
        if (s == kLevelNames[i]) return static_cast<LogLevel>(i);
    return LogLevel::error;
}

std::optional<std::string> first_failure(const std::vector<std::pair<std::string, int>>& opened) {
    for (const auto& [path, fd] : opened)
        if (fd < 0) {
            struct stat st {};
            const int err = ::stat(path.c_str(), &st) == 0 ? EACCES : ENOENT;
            return "open() \"" + path + "\" failed (" + std::to_string(err) + ": " + std::strerror(err) + ")";
        }
    return std::nullopt;
}


// USR1: the file is opened anew and put in place of the old one under the same fd
// number, so worker threads writing meanwhile never see a closed or reused descriptor.
// As nginx's ngx_reopen_files, a file is made the owner's and writable by it.
void reopen_in_place(const std::string& path, int fd, uid_t owner) {
    if (fd <= STDERR_FILENO) return;
    const int fresh = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fresh < 0) return;  // keep writing to the old file, as nginx does when reopening fails
    struct stat st {};
    if (owner != kKeepOwner && ::fstat(fresh, &st) == 0) {
        if (st.st_uid != owner && ::fchown(fresh, owner, static_cast<gid_t>(-1)) != 0) {
            // the serving process will fail to reopen it and keep writing the old file
        }
        if ((st.st_mode & (S_IRUSR | S_IWUSR)) != (S_IRUSR | S_IWUSR)) ::fchmod(fresh, st.st_mode | S_IRUSR | S_IWUSR);
    }
    ::dup3(fresh, fd, O_CLOEXEC);
    ::close(fresh);
}


// nginx's default access log escaping: '"', '\' and bytes outside 0x20..0x7e as \xXX.
void append_escaped(std::string& out, std::string_view v, ir::LogFormat::Escape mode) {
    static const char hex[] = "0123456789ABCDEF";
    for (unsigned char c : v) {
        if (mode == ir::LogFormat::Escape::none) {
            out += static_cast<char>(c);
        } else if (mode == ir::LogFormat::Escape::json) {
            if (c == '"' || c == '\\') {
                out += '\\';
                out += static_cast<char>(c);
            } else if (c < 0x20) {
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 15];
            } else {
                out += static_cast<char>(c);
            }
        } else if (c == '"' || c == '\\' || c < 0x20 || c > 0x7e) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
}

}  // namespace

std::string system_error_text(const std::string& call, int err) {
    return call + " failed (" + std::to_string(err) + ": " + std::strerror(err) + ")";
}

ErrorLog::ErrorLog(const std::vector<ir::ErrorLog>& targets, const ErrorLog* main) : main_(main ? main : this) {
    for (const auto& t : targets) {
        if (t.syslog)
            targets_.push_back({t.path, parse_level(t.level), -1, std::make_unique<const SyslogSender>(*t.syslog)});
        else
            targets_.push_back({t.path, parse_level(t.level), open_log(t.path), nullptr});
        if (targets_.back().level > most_detailed_) most_detailed_ = targets_.back().level;
    }
}

ErrorLog::~ErrorLog() {
    for (const auto& t : targets_) close_log(t.fd);
}

std::optional<std::string> ErrorLog::open_error() const {
    std::vector<std::pair<std::string, int>> opened;
    for (const auto& t : targets_)
        if (!t.syslog) opened.emplace_back(t.path, t.fd);
    return first_failure(opened);
}

std::optional<std::string> AccessLogs::open_error() const {
    return first_failure({files_.begin(), files_.end()});
}

int ErrorLog::file_fd() const {
    for (const auto& t : targets_)
        if (t.fd > STDERR_FILENO) return t.fd;
    return -1;
}

void ErrorLog::reopen(uid_t owner) const {
    for (const auto& t : targets_) reopen_in_place(t.path, t.fd, owner);
}

constexpr std::size_t kMaxErrorLine = 2048;

void ErrorLog::write(LogLevel level, std::string_view message, std::uint64_t connection) const {
    emit(level, message, connection, true);
}

void ErrorLog::emit(LogLevel level, std::string_view message, std::uint64_t connection, bool to_syslog) const {
    if (!wants(level)) return;
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::localtime_r(&now, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y/%m/%d %H:%M:%S", &tm);
    std::string line = std::string(stamp) + " [" + kLevelNames[static_cast<int>(level)] + "] " +
                       std::to_string(::getpid()) + "#" + std::to_string(::syscall(SYS_gettid)) + ": ";
    if (connection) line += "*" + std::to_string(connection) + " ";
    line.append(message);
    line.resize(std::min<std::size_t>(line.size(), kMaxErrorLine - 1));  // nginx's NGX_MAX_ERROR_STR, newline included
    line += "\n";
    for (const auto& t : targets_) {
        if (level > t.level) continue;
        if (!t.syslog) {
            write_all(t.fd, line);
        } else if (to_syslog) {  // ngx_syslog_writer: the line without its newline
            const auto failed = t.syslog->send(static_cast<int>(level), std::string_view(line).substr(0, line.size() - 1));
            if (failed) main_->emit(failed->alert ? LogLevel::alert : LogLevel::error, failed->text, 0, false);
        }
    }
}

namespace {
// ngx_http_log_vars: the variables http's log module writes itself, with the room it
// reserves for each whatever the value (a buffered line that may not fit goes by that).
// None of them can be `set` or a map's: the built-in's row says which it is.
std::optional<std::size_t> reserved_length(const ir::Variable& v) {
    constexpr std::size_t int64_text = 20;  // NGX_INT64_LEN: time_t, off_t, size_t, ngx_int_t
    if (v.source != ir::Variable::Source::builtin) return std::nullopt;
    const auto row = static_cast<std::size_t>(v.index);
    if (row == ir::builtin_row("pipe")) return 1;
    if (row == ir::builtin_row("time_local")) return sizeof("28/Sep/1970:12:00:00 +0600") - 1;
    if (row == ir::builtin_row("time_iso8601")) return sizeof("1970-09-28T12:00:00+06:00") - 1;
    if (row == ir::builtin_row("msec") || row == ir::builtin_row("request_time")) return int64_text + 4;
    if (row == ir::builtin_row("status") || row == ir::builtin_row("bytes_sent") || row == ir::builtin_row("body_bytes_sent") ||
        row == ir::builtin_row("request_length"))
        return int64_text;
    return std::nullopt;
}
}  // namespace

LogLine format_log_line(const ir::LogFormat& format, const RequestContext& ctx, bool reserve) {
    LogLine out;
    std::string& line = out.text;
    std::size_t reserved_extra = 0;  // what nginx reserves beyond the values it writes
    for (const auto& p : format.format.parts) {
        if (p.kind == ir::Template::Part::Kind::literal) {
            line += p.text;
            continue;
        }
        // nginx writes "-" for a variable that is not found, nothing for an empty one; with
        // escape=json or escape=none nothing for either (ngx_*_log_unescaped_variable).
        bool found = static_cast<std::size_t>(p.capture) < ctx.captures.size();
        std::string v = p.kind == ir::Template::Part::Kind::variable ? variable(p.variable, ctx, found)
                        : found                                      ? ctx.captures[static_cast<std::size_t>(p.capture)]
                                                                     : "";
        const std::size_t before = line.size();
        if (!found && format.escape == ir::LogFormat::Escape::default_escape)
            line += "-";
        else
            append_escaped(line, v, format.escape);
        if (reserve && p.kind == ir::Template::Part::Kind::variable && !ctx.stream)
            if (const auto reserved = reserved_length(ctx.variables->names[static_cast<std::size_t>(p.variable)]);
                reserved && *reserved > line.size() - before)
                reserved_extra += *reserved - (line.size() - before);
    }
    line += "\n";
    out.reserved = line.size() + reserved_extra;
    return out;
}

namespace {
using SyslogSenders = std::map<std::string, std::unique_ptr<const SyslogSender>>;

// Every file, syslog target and buffered file the access logs name. A file is buffered
// when any access_log naming it has a buffer (the parser refuses different ones).
struct LogTargets {
    std::map<std::string, int>& files;
    SyslogSenders& syslogs;
    std::map<std::string, LogBufferSpec>& buffered;

    void collect(const std::vector<ir::AccessLog>& logs) {
        for (const auto& log : logs) {
            if (log.syslog) {
                if (!syslogs.count(log.path.literal()))
                    syslogs.emplace(log.path.literal(), std::make_unique<const SyslogSender>(*log.syslog));
                continue;
            }
            if (log.path.has_variables()) continue;
            files.emplace(log.path.literal(), -1);
            if (log.buffer > 0)
                buffered.emplace(log.path.literal(), LogBufferSpec{static_cast<std::size_t>(log.buffer), log.flush, log.gzip});
        }
    }
    void collect(const ir::Location& l) {
        collect(l.access_logs);
        for (const auto& child : l.locations) collect(child);
    }
};
}  // namespace

// Every literal path is opened here (every syslog socket made), before workers start:
// writers only read the maps.
AccessLogs::AccessLogs(const ir::Config& config, const ErrorLog& errors) : errors_(errors) {
    LogTargets targets{files_, syslogs_, buffered_};
    if (config.http)
        for (const auto& server : config.http->servers) {
            targets.collect(server.root_location);
            for (const auto& l : server.locations) targets.collect(l);
        }
    if (config.stream)
        for (const auto& server : config.stream->servers) targets.collect(server.access_logs);
    for (const auto& path : config.access_log_files) files_.emplace(path, -1);
    for (auto& [path, fd] : files_) fd = open_log(path);
}

AccessLogs::~AccessLogs() {
    for (const auto& [path, fd] : files_) close_log(fd);
}

void AccessLogs::reopen(uid_t owner) const {
    for (const auto& [path, fd] : files_) reopen_in_place(path, fd, owner);
}

namespace {

// ngx_http_log_script_write's test before a path with variables is written: the
// location's root must be a directory, else nothing is written and the error is logged.
bool root_exists(const RequestContext& ctx, const ErrorLog& errors) {
    if (!ctx.location) return true;
    const std::string root = document_root(*ctx.location, ctx);
    struct stat st {};
    const int err = ::stat(root.c_str(), &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    if (err == 0) return true;
    errors.write(LogLevel::error, system_error_text("testing \"" + root + "\" existence", err) + " while logging request" + describe(ctx),
                 ctx.connection.id);
    return false;
}

}  // namespace

void AccessLogs::write(const std::vector<ir::AccessLog>& logs, const std::vector<ir::LogFormat>& formats,
                       const RequestContext& ctx, const ErrorLog* request_errors) const {
    for (const auto& log : logs) {
        if (log.condition) {  // if=: nothing is logged when the value is empty or "0"
            const std::string value = expand(*log.condition, ctx);
            if (value.empty() || value == "0") continue;
        }
        // A buffered file's line also says the room nginx reserves for it.
        const auto spec = buffered_.empty() || log.syslog || log.path.has_variables() ? buffered_.end()
                                                                                       : buffered_.find(log.path.literal());
        const LogLine formatted = format_log_line(formats.at(log.format_index), ctx, spec != buffered_.end());
        const std::string& line = formatted.text;
        if (log.syslog) {  // ngx_http_log_handler: the line without its newline, at the peer's severity
            const auto failed =
                syslogs_.at(log.path.literal())->send(log.syslog->severity, std::string_view(line).substr(0, line.size() - 1));
            if (failed) errors_.write(failed->alert ? LogLevel::alert : LogLevel::error, failed->text);
            continue;
        }
        if (!log.path.has_variables()) {
            const std::string& path = log.path.literal();
            const int fd = files_.at(path);
            if (spec != buffered_.end())
                if (LogBuffer* buffer = WorkerLogBuffers::of_thread(path, fd, spec->second)) {
                    buffer->add(line, formatted.reserved);
                    continue;
                }
            write_all(fd, line);
            continue;
        }
        // A path with variables: opened per line, unless open_log_file_cache keeps it.
        if (request_errors && !root_exists(ctx, *request_errors)) continue;
        const std::string path = expand(log.path, ctx);
        const int fd = log.cache ? LogFileCache::of_thread(*log.cache).write(path, line) : open_log(path);
        if (fd < 0 && request_errors)
            request_errors->write(LogLevel::crit, system_error_text("open() \"" + path + "\"", errno) + " while logging request" + describe(ctx),
                                  ctx.connection.id);
        if (log.cache) continue;
        write_all(fd, line);
        close_log(fd);
    }
}

std::optional<std::string> log_files_error(const ir::Config& config) {
    const ErrorLog main(config.error_logs);
    if (auto error = main.open_error()) return error;
    for (const auto& logs : config.context_error_logs)
        if (auto error = ErrorLog(logs, &main).open_error()) return error;
    return AccessLogs(config, main).open_error();
}

}  // namespace ngxlite::runtime
