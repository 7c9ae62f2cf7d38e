// The configuration compiler: reads files through the grammar, dispatches every
// statement through the registry (nginx's ngx_conf_handler checks and messages),
// runs each directive's setter, and builds the IR. One Compiler per load.
#pragma once

#include "grammar/parse.hpp"
#include "parser/conf_tree.hpp"
#include "parser/diagnostics.hpp"
#include "parser/load.hpp"
#include "parser/registry.hpp"
#include "parser/zones.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ngxlite::conf {

struct SourceFile {
    std::string path;   // as nginx names it in messages (prefix applied)
    std::string bytes;
    grammar::ParsedFile parsed;
    grammar::LineIndex lines{""};
    // What fstat() said when it was read: an include of the same unchanged file reuses it.
    std::uint64_t device = 0, inode = 0, size = 0;
    std::int64_t mtime_ns = 0;
};

class Compiler;
using Setter = void (*)(Compiler&, Directive&);

// Module-specific compile state (listen tables, upstream lists, ...), defined by the
// modules that use it.
struct HttpState;
struct StreamState;

// access_log's buffer (buffer=, flush=, gzip[=level]); size 0: none.
struct LogBufferSettings {
    std::int64_t size = 0;
    std::int64_t flush_ms = 0;
    int gzip = 0;
    bool operator==(const LogBufferSettings&) const = default;
};
struct MailState;

class Compiler {
public:
    explicit Compiler(const LoadOptions& options);
    ~Compiler();

    LoadResult run();

    // --- for setters -----------------------------------------------------------------
    Block& block() { return *blocks_.back(); }
    Context context() const { return blocks_.back()->context; }
    Block& root() { return root_; }

    // Parses a block directive's body as directives of `context` into d.block.
    Block& parse_block(Directive& d, Context context);
    // Calls `line` for each statement of a block whose content is not directives
    // (types, map, geo, split_clients, charset_map): nginx's cf->handler.
    // `include` inside is followed when `allow_include`.
    void parse_custom_block(Directive& d, bool allow_include,
                            const std::function<void(Directive&)>& line);

    void include(Directive& d);
    // The files an `include` names (glob order), read, each handed to `each`.
    void for_each_included(const Directive& d, const std::function<void(const SourceFile&)>& each);
    // nginx's ngx_conf_full_name: relative names against the prefix or the conf prefix.
    std::string full_path(std::string_view name, bool conf_prefix) const;
    // One error_log directive's target and level (any context).
    ir::ErrorLog error_log_target(const Directive& e) const;
    const std::string& prefix() const { return prefix_; }
    const std::string& conf_prefix() const { return conf_prefix_; }

    void warn_at(const SourceRef& where, std::string message, Level level = Level::warn);
    void warn(std::string message);

    ModuleSet& modules() { return modules_; }
    ZoneRegistry& zones() { return zones_; }
    bool test_only() const { return options_.test_only; }
    ir::Config& config() { return *config_; }

    // The buffer of each access log file, as nginx's open files hold one: for the whole
    // config (http and stream share a file's), so every access_log naming it must agree.
    std::unordered_map<std::string, LogBufferSettings>& log_buffers() { return log_buffers_; }
    // open_log_file_cache by its directive: the cache every block inheriting it shares.
    std::unordered_map<const Directive*, std::shared_ptr<const ir::OpenLogCache>>& open_log_caches() {
        return open_log_caches_;
    }

    HttpState& http();
    StreamState& stream();
    MailState& mail();

private:
    void parse_source(const SourceFile& file, const std::vector<ast::Statement>& statements,
                      bool closed);
    void dispatch(const SourceFile& file, const ast::Statement& statement);
    const SourceFile& read_file(const std::string& path, const SourceRef* included_from);
    [[noreturn]] void syntax_error(const SourceFile& file);
    void finish_main();
    void record_unimplemented(const Block& b);

    LoadOptions options_;
    std::string prefix_;
    std::string conf_file_;
    std::string conf_prefix_;
    ModuleSet modules_;
    ZoneRegistry zones_;
    Block root_;
    std::vector<Block*> blocks_;
    int include_depth_ = 0;
    std::vector<std::unique_ptr<SourceFile>> files_;
    // The last reading of each path: nginx reads a file again at every include (a file
    // including itself does so up to the depth limit); the words cannot differ while
    // the file does not change, so they are parsed once.
    std::unordered_map<std::string, const SourceFile*> read_by_path_;
    std::vector<Diagnostic> warnings_;
    std::shared_ptr<ir::Config> config_;
    std::unordered_map<std::string, LogBufferSettings> log_buffers_;
    std::unordered_map<const Directive*, std::shared_ptr<const ir::OpenLogCache>> open_log_caches_;
    std::unique_ptr<HttpState> http_;
    std::unique_ptr<StreamState> stream_;
    std::unique_ptr<MailState> mail_;
};

// Setter tables, one per module family, keyed by the nginx handler name they mirror.
using SetterTable = std::unordered_map<std::string_view, Setter>;
void register_generic_setters(SetterTable& table);
void register_core_setters(SetterTable& table);
void register_http_setters(SetterTable& table);
void register_stream_setters(SetterTable& table);
void register_mail_setters(SetterTable& table);
// nginx's cmd->post of a generic slot (a bounds check, a size turned into bits): run after
// the setter, keyed by directive name.
using PostTable = std::unordered_map<std::string_view, Setter>;
void register_gzip_posts(PostTable& table);

}  // namespace ngxlite::conf
