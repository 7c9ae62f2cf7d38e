#include "runtime/core/process_title.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace ngxlite::runtime {

namespace {
char* g_title_start = nullptr;
char* g_title_end = nullptr;  // one past the last byte that may be written
std::string g_command_line;
}  // namespace

void init_process_title(int argc, char** argv) {
    if (argc < 1) return;
    char* end = argv[0];
    for (int i = 0; i < argc; ++i) {
        g_command_line += (i ? " " : "") + std::string(argv[i]);
        if (argv[i] == end) end = argv[i] + std::strlen(argv[i]) + 1;
    }
    // The environment's strings follow the arguments: copied, their room becomes the title's.
    for (char** e = environ; *e; ++e) {
        if (*e != end) continue;
        end = *e + std::strlen(*e) + 1;
        *e = ::strdup(*e);
    }
    g_title_start = argv[0];
    g_title_end = end;
}

const std::string& original_command_line() { return g_command_line; }

void set_process_title(const std::string& title) {
    if (!g_title_start) return;
    const std::string text = "ngxlite: " + title;
    const auto room = static_cast<std::size_t>(g_title_end - g_title_start);
    const std::size_t n = std::min(text.size(), room - 1);
    std::memcpy(g_title_start, text.data(), n);
    std::memset(g_title_start + n, 0, room - n);
}

}  // namespace ngxlite::runtime
