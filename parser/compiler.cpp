#include "parser/compiler.hpp"

#include "parser/http_state.hpp"
#include "parser/merge.hpp"
#include "parser/setters.hpp"
#include "parser/stream_state.hpp"
#include "parser/syslog.hpp"

#include <glob.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <algorithm>
#include <cstring>

namespace ngxlite::conf {

namespace {

const SetterTable& setters() {
    static const SetterTable table = [] {
        SetterTable t;
        register_generic_setters(t);
        register_core_setters(t);
        register_http_setters(t);
        register_stream_setters(t);
        register_mail_setters(t);
        return t;
    }();
    return table;
}

const PostTable& posts() {
    static const PostTable table = [] {
        PostTable t;
        register_gzip_posts(t);
        return t;
    }();
    return table;
}

std::string errno_text(int err) { return "(" + std::to_string(err) + ": " + std::strerror(err) + ")"; }

// nginx's argument_number[]: the TAKEn bit for n arguments.
constexpr std::uint32_t kTakeBits[] = {kNoArgs, kTake1, kTake2, kTake3, kTake4, kTake5, kTake6, kTake7};

bool argument_count_ok(std::uint32_t bits, std::size_t nargs) {
    if (bits & kAnyArgs) return true;
    if (bits & kFlag) return nargs == 1;
    if (bits & kOneOrMore) return nargs >= 1;
    if (bits & kTwoOrMore) return nargs >= 2;
    if (nargs >= std::size(kTakeBits)) return false;
    return (bits & kTakeBits[nargs]) != 0;
}

}  // namespace

Compiler::Compiler(const LoadOptions& options) : options_(options), config_(std::make_shared<ir::Config>()) {
    prefix_ = options.prefix.empty() ? default_prefix() : options.prefix;
    if (!prefix_.empty() && prefix_.back() != '/') prefix_ += '/';
    conf_file_ = options.conf_file.empty() ? std::string("conf/nginx.conf") : options.conf_file;
    if (conf_file_.front() != '/') conf_file_ = prefix_ + conf_file_;
    conf_prefix_ = conf_file_.substr(0, conf_file_.rfind('/') + 1);
    root_.context = kMain;
    blocks_.push_back(&root_);
}

Compiler::~Compiler() = default;

HttpState& Compiler::http() {
    if (!http_) http_ = std::make_unique<HttpState>();
    return *http_;
}

MailState& Compiler::mail() {
    if (!mail_) mail_ = std::make_unique<MailState>();
    return *mail_;
}

StreamState& Compiler::stream() {
    if (!stream_) stream_ = std::make_unique<StreamState>();
    return *stream_;
}

std::string Compiler::full_path(std::string_view name, bool conf_prefix) const {
    if (!name.empty() && name.front() == '/') return std::string(name);
    return (conf_prefix ? conf_prefix_ : prefix_) + std::string(name);
}

void Compiler::warn_at(const SourceRef& where, std::string message, Level level) {
    warnings_.push_back(Diagnostic{level, std::move(message), true, where.file ? *where.file : "", where.line});
}

void Compiler::warn(std::string message) {
    warnings_.push_back(Diagnostic{Level::warn, std::move(message), false, "", 0});
}

const SourceFile& Compiler::read_file(const std::string& path, const SourceRef* included_from) {
    auto open_failed = [&](int err) {
        std::string msg = "open() \"" + path + "\" failed " + errno_text(err);
        if (included_from) fail_at(*included_from, msg);
        fail(msg);
    };
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) open_failed(errno);
    auto file = std::make_unique<SourceFile>();
    file->path = path;
    // nginx reads as many bytes as fstat() reports: a device or FIFO reads as empty,
    // and a directory fails with EISDIR on the first read.
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        fail("fstat() \"" + path + "\" failed " + errno_text(err), Level::crit);
    }
    const std::int64_t mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    if (auto it = read_by_path_.find(path); it != read_by_path_.end() && S_ISREG(st.st_mode)) {
        const SourceFile& seen = *it->second;
        if (seen.device == st.st_dev && seen.inode == st.st_ino && seen.size == static_cast<std::uint64_t>(st.st_size) &&
            seen.mtime_ns == mtime_ns) {
            ::close(fd);
            return seen;
        }
    }
    file->device = st.st_dev;
    file->inode = st.st_ino;
    file->size = static_cast<std::uint64_t>(st.st_size);
    file->mtime_ns = mtime_ns;
    const std::size_t size = S_ISDIR(st.st_mode) ? 1 : static_cast<std::size_t>(st.st_size);
    file->bytes.resize(size);
    std::size_t got = 0;
    while (got < size) {
        ssize_t n = ::read(fd, file->bytes.data() + got, size - got);
        if (n < 0) {
            int err = errno;
            ::close(fd);
            fail("pread() \"" + path + "\" failed " + errno_text(err), Level::crit);
        }
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    file->bytes.resize(got);
    ::close(fd);
    file->parsed = grammar::parse(file->bytes);
    file->lines = grammar::LineIndex(file->bytes);
    if (S_ISREG(st.st_mode) && got == size) read_by_path_[path] = file.get();
    files_.push_back(std::move(file));
    return *files_.back();
}

void Compiler::syntax_error(const SourceFile& file) {
    const auto& e = *file.parsed.error;
    if (file.path.empty()) {
        // The -g command line: nginx has no file there, and says so at its end.
        std::string msg = e.message == "unexpected end of file, expecting \";\" or \"}\""
                              ? "unexpected end of parameter, expecting \";\""
                              : e.message;
        fail_at(SourceRef{nullptr, 0}, msg);
    }
    fail_at(SourceRef{&file.path, e.line}, e.message);
}

void Compiler::parse_source(const SourceFile& file, const std::vector<ast::Statement>& statements,
                            bool closed) {
    for (const auto& st : statements) {
        if (st.end.kind == 0) syntax_error(file);
        dispatch(file, st);
    }
    // Parsing stopped here: a block whose "}" never came, or the file's own error.
    if (!closed) syntax_error(file);
}

void Compiler::dispatch(const SourceFile& file, const ast::Statement& st) {
    auto d = std::make_unique<Directive>();
    d->where = SourceRef{file.path.empty() ? nullptr : &file.path, file.lines.line_at(st.end.offset)};
    for (const auto& w : st.args) {
        d->args.push_back(w.text);
        d->quoted.push_back(w.quoted);
    }
    if (st.end.kind == '{') {
        d->body = &st.end.children;
        d->body_file = &file;
        d->body_closed = st.end.closed;
        d->body_end = SourceRef{d->where.file, file.lines.line_at(st.end.close_offset)};
    }
    const std::string& name = d->name();
    const auto& specs = lookup_directive(name);
    bool found = false;
    for (const DirectiveSpec* spec : specs) {
        if (!modules_.enabled(spec->module)) continue;
        found = true;
        if (!(spec->contexts & context())) continue;
        const bool is_block = (spec->args & kBlock) != 0;
        if (!is_block && st.end.kind != ';')
            fail_at(d->where, "directive \"" + name + "\" is not terminated by \";\"");
        if (is_block && st.end.kind != '{')
            fail_at(d->where, "directive \"" + name + "\" has no opening \"{\"");
        if (!argument_count_ok(spec->args, d->nargs()))
            fail_at(d->where, "invalid number of arguments in \"" + name + "\" directive");
        d->spec = spec;
        Directive& ref = block().add(std::move(d));
        const auto& table = setters();
        auto it = table.find(spec->setter);
        if (it != table.end()) it->second(*this, ref);
        if (const auto post = posts().find(spec->name); post != posts().end()) post->second(*this, ref);
        return;
    }
    if (found) fail_at(d->where, "\"" + name + "\" directive is not allowed here");
    fail_at(d->where, "unknown directive \"" + name + "\"");
}

Block& Compiler::parse_block(Directive& d, Context context) {
    d.block = std::make_unique<Block>();
    d.block->context = context;
    d.block->opener = &d;
    blocks_.push_back(d.block.get());
    parse_source(*d.body_file, *d.body, d.body_closed);
    blocks_.pop_back();
    return *d.block;
}

void Compiler::parse_custom_block(Directive& d, bool allow_include,
                                  const std::function<void(Directive&)>& line) {
    std::function<void(const SourceFile&, const std::vector<ast::Statement>&, bool)> walk =
        [&](const SourceFile& file, const std::vector<ast::Statement>& statements, bool closed) {
            for (const auto& st : statements) {
                if (st.end.kind == 0) syntax_error(file);
                Directive entry;
                entry.where = SourceRef{&file.path, file.lines.line_at(st.end.offset)};
                for (const auto& w : st.args) {
                    entry.args.push_back(w.text);
                    entry.quoted.push_back(w.quoted);
                }
                if (st.end.kind == '{') fail_at(entry.where, "unexpected \"{\"");
                if (allow_include && entry.args[0] == "include") {
                    if (entry.nargs() != 1)
                        fail_at(entry.where, "invalid number of arguments in \"include\" directive");
                    for_each_included(entry, [&](const SourceFile& f) { walk(f, f.parsed.statements, !f.parsed.error); });
                    continue;
                }
                line(entry);
            }
            if (!closed) syntax_error(file);
        };
    walk(*d.body_file, *d.body, d.body_closed);
}

void Compiler::for_each_included(const Directive& d, const std::function<void(const SourceFile&)>& each) {
    // nginx keeps every file it is reading open, so a file that includes itself ends in
    // EMFILE, or in a stack overflow when the fd limit is high. ngxlite stops at a fixed
    // depth with the error nginx gives under a common 1024-file limit.
    constexpr int kMaxIncludeDepth = 200;
    const std::string pattern = full_path(d.args[1], true);
    if (include_depth_ >= kMaxIncludeDepth)
        fail_at(d.where, "open() \"" + pattern + "\" failed (24: Too many open files)");
    ++include_depth_;
    struct Leave {
        int& depth;
        ~Leave() { --depth; }
    } leave{include_depth_};
    std::vector<std::string> names;
    if (pattern.find_first_of("*?[") == std::string::npos) {
        names.push_back(pattern);
    } else {
        glob_t g{};
        const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
        if (rc != 0 && rc != GLOB_NOMATCH) {
            const int err = errno;
            ::globfree(&g);
            fail_at(d.where, "glob() \"" + pattern + "\" failed " + errno_text(err));
        }
        for (std::size_t i = 0; rc == 0 && i < g.gl_pathc; ++i) names.emplace_back(g.gl_pathv[i]);
        ::globfree(&g);
    }
    for (const auto& name : names) each(read_file(name, &d.where));
}

void Compiler::include(Directive& d) {
    for_each_included(d, [&](const SourceFile& f) { parse_source(f, f.parsed.statements, !f.parsed.error); });
}

LoadResult Compiler::run() {
    LoadResult result;
    result.conf_file = conf_file_;
    try {
        if (!options_.globals.empty()) {
            auto cmdline = std::make_unique<SourceFile>();
            cmdline->bytes = options_.globals;
            cmdline->parsed = grammar::parse(cmdline->bytes);
            cmdline->lines = grammar::LineIndex(cmdline->bytes);
            files_.push_back(std::move(cmdline));
            const SourceFile& g = *files_.back();
            parse_source(g, g.parsed.statements, !g.parsed.error);
        }
        const SourceFile& main = read_file(conf_file_, nullptr);
        parse_source(main, main.parsed.statements, !main.parsed.error);
        finish_main();
        result.config = config_;
    } catch (const ConfigError& e) {
        result.diagnostics = std::move(warnings_);
        result.diagnostics.push_back(e.diagnostic);
        warnings_.clear();
    }
    for (auto& w : warnings_) result.diagnostics.push_back(std::move(w));
    for (const auto& f : files_)
        if (!f->path.empty()) result.files.push_back({f->path, f->bytes});
    return result;
}

ir::ErrorLog Compiler::error_log_target(const Directive& e) const {
    const std::string& name = e.args[1];
    const bool as_is = name == "stderr" || name.starts_with("syslog:");
    ir::ErrorLog log{as_is ? name : full_path(name, false), e.nargs() >= 2 ? e.args[2] : "error", {}};
    if (name.starts_with("syslog:")) log.syslog = syslog_peer(name, e.where);
    return log;
}

// nginx's core modules' init_conf, then the cycle's shared memory: what follows parsing.
void Compiler::finish_main() {
    const Scope main(std::vector<const Block*>{&root_});
    ir::Config& cfg = *config_;
    cfg.daemon = main.value<bool>("daemon", true);
    cfg.master_process = main.value<bool>("master_process", true);
    if (const Directive* w = main.find("worker_processes"))
        cfg.worker_processes = w->value ? static_cast<int>(w->value) : static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
    cfg.pid_path = full_path(main.str("pid", "logs/nginx.pid"), false);
    for (const Directive* e : root_.find_all("error_log")) cfg.error_logs.push_back(error_log_target(*e));
    // ngx_log_open_default: with no file among them, the -e file at "error" joins the logs.
    const bool has_file = std::any_of(cfg.error_logs.begin(), cfg.error_logs.end(),
                                      [](const ir::ErrorLog& e) { return !e.path.starts_with("syslog:"); });
    if (!has_file && !options_.error_log.empty()) cfg.error_logs.push_back({startup_error_log(options_), "error", {}});
    if (const Directive* u = main.find("user")) {
        cfg.user = u->args[1];
        cfg.group = u->nargs() == 2 ? u->args[2] : u->args[1];
    }
    cfg.worker_shutdown_timeout = ir::Msec(main.value<std::int64_t>("worker_shutdown_timeout", 0));
    cfg.worker_rlimit_nofile = main.value<std::int64_t>("worker_rlimit_nofile", 0);
    const Directive* events = root_.find("events");
    if (!events) fail("no \"events\" section in configuration");
    cfg.worker_connections = static_cast<int>(Scope({events->block.get()}).value<std::int64_t>("worker_connections", 512));
    zones_.check();
    record_unimplemented(root_);
}

// Directives the runtime does not act on (parser/support.tsv): kept with their place so
// that the runtime refuses or warns, never silently changes behaviour.
void Compiler::record_unimplemented(const Block& b) {
    for (const auto& d : b.directives) {
        const Support support = d->spec->support;
        const bool asks_default = d->spec->off_is_default && d->nargs() == 1 && d->args[1] == "off";
        if ((support == Support::warns || support == Support::refuses) && !asks_default)
            config_->unimplemented.push_back({d->name(), std::string(d->spec->module), location_of(d->where),
                                              support == Support::refuses, {}});
        if (d->block) record_unimplemented(*d->block);
    }
}

LoadResult load(const LoadOptions& options) {
    Compiler compiler(options);
    return compiler.run();
}

const char* default_prefix() { return NGXLITE_PREFIX; }

std::string startup_error_log(const LoadOptions& options) {
    const std::string& name = options.error_log;
    if (name.empty() || name == "stderr" || name.front() == '/') return name;
    std::string prefix = options.prefix.empty() ? default_prefix() : options.prefix;
    if (!prefix.empty() && prefix.back() != '/') prefix += '/';
    return prefix + name;
}
const char* default_http_log_path() { return NGXLITE_HTTP_LOG_PATH; }

}  // namespace ngxlite::conf
