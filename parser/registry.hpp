// The directive registry: every directive of every nginx 1.22.1 module, as nginx declares
// it (name, contexts, argument count, handler), and which modules a configuration has.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ngxlite::conf {

// Where a directive may appear (nginx's NGX_*_CONF bits, one per block kind).
enum Context : std::uint32_t {
    kMain = 1u << 0,
    kEvents = 1u << 1,
    kHttp = 1u << 2,
    kHttpServer = 1u << 3,
    kHttpLocation = 1u << 4,
    kHttpUpstream = 1u << 5,
    kHttpServerIf = 1u << 6,
    kHttpLocationIf = 1u << 7,
    kHttpLimitExcept = 1u << 8,
    kStream = 1u << 9,
    kStreamServer = 1u << 10,
    kStreamUpstream = 1u << 11,
    kMail = 1u << 12,
    kMailServer = 1u << 13,
    kAnyContext = (1u << 14) - 1,
};

// Argument counts (nginx's NGX_CONF_TAKE* bits and friends).
enum ArgBits : std::uint32_t {
    kNoArgs = 1u << 0,
    kTake1 = 1u << 1,
    kTake2 = 1u << 2,
    kTake3 = 1u << 3,
    kTake4 = 1u << 4,
    kTake5 = 1u << 5,
    kTake6 = 1u << 6,
    kTake7 = 1u << 7,
    kBlock = 1u << 8,
    kFlag = 1u << 9,
    kAnyArgs = 1u << 10,
    kOneOrMore = 1u << 11,
    kTwoOrMore = 1u << 12,
};

// What ngxlite's runtime does with a directive (parser/support.tsv says why, per row).
enum class Support : std::uint8_t {
    serves,   // acted on
    inert,    // accepted quietly: it changes nothing ngxlite does
    warns,    // served without it, with a [warn] at start
    refuses,  // start fails: serving without it would change meaning or weaken protection
};

struct DirectiveSpec {
    std::string_view name;
    std::string_view module;
    std::uint32_t contexts;
    std::uint32_t args;
    std::string_view setter;  // the nginx handler this directive's setter mirrors
    std::string_view values;  // allowed words of enum and bitmask directives, comma-separated
    Support support;
    bool off_is_default;      // `name off;` asks for nginx's default: inert whatever `support` says
};

struct ModuleTable {
    std::string_view name;
    std::span<const DirectiveSpec> directives;
};

// All directives named `name`, in nginx's module order (empty when unknown).
const std::vector<const DirectiveSpec*>& lookup_directive(std::string_view name);

// -V's configure arguments: --with-X for each module nginx leaves out by default that
// ngxlite serves, --without-X for each module nginx builds by default that it does not.
std::string_view configure_arguments();

// The dynamic module file that provides a module ("" when ngxlite builds it in: Debian's
// built-in modules and stream), or nullptr when Debian's nginx-full has no such module.
const char* dynamic_module_file(std::string_view module);

// The modules a configuration can use: the built-in ones plus what load_module added.
class ModuleSet {
public:
    bool enabled(std::string_view module) const;
    // Enables the modules a dynamic module file provides (none for ngx_stream_module.so,
    // built in); false for a file ngxlite does not know (a third-party module).
    bool load(std::string_view file_name);

private:
    std::vector<std::string> loaded_files_;
};

}  // namespace ngxlite::conf
