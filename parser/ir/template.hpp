// A value with variables, compiled once at load time ("$scheme://$host$1"): the runtime
// walks the parts and never parses the string again, nor looks a variable up by name.
#pragma once

#include <string>
#include <vector>

namespace ngxlite::ir {

struct Template {
    struct Part {
        enum class Kind { literal, variable, capture } kind = Kind::literal;
        std::string text;  // the literal, or the variable name (lowercase)
        int capture = 0;   // $1..$9
        int variable = -1;  // its index in its context's Variables::names (variables.hpp)
    };
    std::vector<Part> parts;

    bool has_variables() const {
        for (const auto& p : parts)
            if (p.kind != Part::Kind::literal) return true;
        return false;
    }
    // The value itself when it holds no variables.
    std::string literal() const {
        std::string out;
        for (const auto& p : parts) out += p.text;
        return out;
    }
};

}  // namespace ngxlite::ir
