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
    for (std::uint32_t i = 0; i < count; ++i) {
        const PCRE2_SPTR entry = table + i * entry_size;
        name_groups_.push_back((entry[0] << 8) | entry[1]);
        names_.emplace_back(reinterpret_cast<const char*>(entry + 2));
    }
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

bool Regex::match(std::string_view subject, std::vector<std::string>* captures) const {
    // One match-data block per thread, large enough for nginx's 9 captures and more.
    struct MatchData {
        pcre2_match_data* data = pcre2_match_data_create(64, nullptr);
        ~MatchData() { pcre2_match_data_free(data); }
    };
    thread_local MatchData md;
    auto* code = static_cast<pcre2_code*>(code_);
    int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0, md.data, nullptr);
    if (rc < 0) return false;
    if (captures) {
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.data);
        captures->clear();
        for (int i = 0; i < rc; ++i) {
            if (ov[2 * i] == PCRE2_UNSET) {
                captures->emplace_back();
                continue;
            }
            captures->emplace_back(subject.substr(ov[2 * i], ov[2 * i + 1] - ov[2 * i]));
        }
    }
    return true;
}

}  // namespace ngxlite::ir
