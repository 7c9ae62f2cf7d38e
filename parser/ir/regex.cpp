#define PCRE2_CODE_UNIT_WIDTH 8
#include "parser/ir/regex.hpp"

#include <pcre2.h>

namespace ngxlite::ir {

Regex::Regex(std::string_view pattern, bool caseless) : pattern_(pattern) {
    int errcode = 0;
    PCRE2_SIZE erroffset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     caseless ? PCRE2_CASELESS : 0, &errcode, &erroffset, nullptr);
    if (code == nullptr) {
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(errcode, buf, sizeof buf);
        std::string text(reinterpret_cast<const char*>(buf));
        // nginx reports where PCRE2 stopped unless it stopped at the very end.
        if (erroffset < pattern.size())
            error_ = "pcre2_compile() failed: " + text + " in \"" + std::string(pattern) + "\" at \"" +
                     std::string(pattern.substr(erroffset)) + "\"";
        else
            error_ = "pcre2_compile() failed: " + text + " in \"" + std::string(pattern) + "\"";
        return;
    }
    code_ = code;
    std::uint32_t n = 0;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &n);
    captures_ = static_cast<int>(n);
    std::uint32_t count = 0, entry_size = 0;
    PCRE2_SPTR table = nullptr;
    pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &count);
    pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &entry_size);
    pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
    for (std::uint32_t i = 0; i < count; ++i)
        names_.emplace_back(reinterpret_cast<const char*>(table + i * entry_size + 2));
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

}  // namespace ngxlite::ir
