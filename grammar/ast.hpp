// The AST of one nginx configuration file: statements and blocks, nothing more.
// Directive meaning lives in parser/; this only records what nginx's tokenizer sees.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace ngxlite::ast {

// One argument as nginx hands it to a directive handler: escapes resolved,
// quotes removed. `quoted` matters to a few handlers (`if` conditions, `map`).
// Offsets are byte offsets into the file: [begin, end) of the lexeme.
struct Word {
    std::string text;
    bool quoted = false;
    std::size_t begin = 0;
    std::size_t end = 0;
};

struct Statement;

// What ends a statement: ';' or a '{' ... '}' block. `kind` stays 0 (or
// `closed` false) when parsing stopped before it: the syntax error is there.
struct Terminator {
    char kind = 0;
    std::vector<Statement> children;
    bool closed = false;
    std::size_t offset = 0;        // of the ';' or '{': nginx reports this line
    std::size_t close_offset = 0;  // of the '}': where nginx is when a block handler ends
};

struct Statement {
    std::vector<Word> args;  // args[0] is the directive name
    Terminator end;
};

}  // namespace ngxlite::ast
