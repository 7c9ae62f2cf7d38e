// A PCRE2 regular expression compiled once at load time, as nginx compiles its own.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ngxlite::ir {

class Regex {
public:
    // Compiles `pattern`; on failure `error()` holds PCRE2's message and the offset
    // in nginx's form: `pcre2_compile() failed: MESSAGE in "PATTERN"`.
    Regex(std::string_view pattern, bool caseless);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    bool ok() const { return code_ != nullptr; }
    const std::string& error() const { return error_; }
    const std::string& pattern() const { return pattern_; }
    int captures() const { return captures_; }
    const std::vector<std::string>& names() const { return names_; }  // named captures
    const std::vector<int>& name_groups() const { return name_groups_; }  // their group numbers
    // The request's slots their values go to (Variable::slot), given at load time.
    const std::vector<int>& name_slots() const { return name_slots_; }
    void set_name_slots(std::vector<int> slots) { name_slots_ = std::move(slots); }

    // Matches `subject`; fills `captures` ($0, $1, ...) when given. Thread-safe: the match
    // data is per thread.
    bool match(std::string_view subject, std::vector<std::string>* captures) const;

private:
    std::string pattern_;
    std::string error_;
    void* code_ = nullptr;  // pcre2_code_8
    int captures_ = 0;
    std::vector<std::string> names_;
    std::vector<int> name_groups_;
    std::vector<int> name_slots_;
};

}  // namespace ngxlite::ir
