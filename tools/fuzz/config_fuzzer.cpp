// libFuzzer target over the grammar and the whole compiler: any bytes as nginx.conf
// must give a config or nginx's diagnostics, never a crash, hang or leak.
#include "grammar/parse.hpp"
#include "parser/load.hpp"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace {
std::string scratch_prefix() {
    char tmpl[] = "/tmp/ngxlite-fuzz.XXXXXX";
    return std::string(::mkdtemp(tmpl)) + "/";
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::string prefix = scratch_prefix();
    const std::string text(reinterpret_cast<const char*>(data), size);
    ngxlite::grammar::parse(text);
    FILE* f = std::fopen((prefix + "nginx.conf").c_str(), "wb");
    if (!f) return 0;
    std::fwrite(data, 1, size, f);
    std::fclose(f);
    ngxlite::conf::LoadOptions o;
    o.prefix = prefix;
    o.conf_file = "nginx.conf";
    o.test_only = true;
    ngxlite::conf::load(o);
    return 0;
}
