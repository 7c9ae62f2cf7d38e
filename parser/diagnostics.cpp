#include "parser/diagnostics.hpp"

namespace ngxlite::conf {

const char* level_name(Level level) {
    switch (level) {
    case Level::emerg: return "emerg";
    case Level::alert: return "alert";
    case Level::crit: return "crit";
    case Level::error: return "error";
    case Level::warn: return "warn";
    case Level::notice: return "notice";
    case Level::info: return "info";
    case Level::debug: return "debug";
    }
    return "emerg";
}

std::string Diagnostic::format() const {
    std::string out = std::string("[") + level_name(level) + "] " + message;
    if (located) {
        if (file.empty())
            out += " in command line";
        else
            out += " in " + file + ":" + std::to_string(line);
    }
    return out;
}

void fail_at(const SourceRef& where, std::string message, Level level) {
    throw ConfigError(Diagnostic{level, std::move(message), true, where.file ? *where.file : "", where.line});
}

void fail(std::string message, Level level) {
    throw ConfigError(Diagnostic{level, std::move(message), false, "", 0});
}

}  // namespace ngxlite::conf
