// The grammar's interface: one file's bytes in, its statements and first syntax error out.
#pragma once

#include "grammar/ast.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ngxlite::grammar {

struct SyntaxError {
    std::string message;  // nginx's wording, e.g. `unexpected "}"`
    std::size_t line = 0;
};

// Statements up to the first syntax error. Where parsing stopped, the AST shows it:
// a statement with no terminator, a block not closed, or the end of the file.
// The caller runs the statements before that point first, as nginx does, and
// reports `error` only when it gets there.
struct ParsedFile {
    std::vector<ast::Statement> statements;
    std::optional<SyntaxError> error;
};

ParsedFile parse(std::string_view text);

// Line numbers as nginx counts them: 1 + the LFs before the offset.
class LineIndex {
public:
    explicit LineIndex(std::string_view text);
    std::size_t line_at(std::size_t offset) const;

private:
    std::vector<std::size_t> newlines_;
};

}  // namespace ngxlite::grammar
