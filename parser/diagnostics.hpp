// Messages in nginx's exact wording and levels: users and tools grep for them.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace ngxlite::conf {

enum class Level { emerg, alert, crit, error, warn, notice, info, debug };
const char* level_name(Level level);

// Where a directive came from. `file == nullptr` means the -g command line.
struct SourceRef {
    const std::string* file = nullptr;
    std::size_t line = 0;
};

struct Diagnostic {
    Level level = Level::emerg;
    std::string message;
    bool located = false;  // nginx adds " in FILE:LINE" (or " in command line")
    std::string file;      // empty with `located`: the -g command line
    std::size_t line = 0;

    // "[emerg] MESSAGE in FILE:LINE", as nginx prints after its program name.
    std::string format() const;
};

// Thrown by setters and checks: parsing stops at the first [emerg], as in nginx.
class ConfigError : public std::runtime_error {
public:
    explicit ConfigError(Diagnostic d) : std::runtime_error(d.message), diagnostic(std::move(d)) {}
    Diagnostic diagnostic;
};

[[noreturn]] void fail_at(const SourceRef& where, std::string message, Level level = Level::emerg);
[[noreturn]] void fail(std::string message, Level level = Level::emerg);

}  // namespace ngxlite::conf
