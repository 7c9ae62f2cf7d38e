// What the dispatcher keeps of a configuration while compiling it: each block's
// directives, validated and with their generic values parsed. Compile-time only:
// the IR builders read this tree and the runtime never sees it.
#pragma once

#include "parser/directive_name.hpp"

#include "grammar/ast.hpp"
#include "parser/diagnostics.hpp"
#include "parser/registry.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ngxlite::conf {

struct SourceFile;
struct Block;

struct Directive {
    const DirectiveSpec* spec = nullptr;
    std::vector<std::string> args;  // args[0] is the name, as in nginx
    std::vector<bool> quoted;
    SourceRef where;
    // The value a generic slot setter parsed: on/off as 0/1, numbers, sizes, times in
    // milliseconds (msec) or seconds (sec), the enum index, the bitmask; `count` for bufs.
    std::int64_t value = 0;
    std::int64_t count = 0;
    std::unique_ptr<Block> block;  // for block directives
    std::vector<std::string> condition;  // `if`: the condition's words, parentheses taken off
    // The statements inside `{ }` and the file they are in, for block handlers.
    const std::vector<ast::Statement>* body = nullptr;
    const SourceFile* body_file = nullptr;
    bool body_closed = true;
    SourceRef body_end;  // the line of the closing '}'

    const std::string& name() const { return args[0]; }
    std::size_t nargs() const { return args.size() - 1; }  // arguments after the name
};

struct Block {
    Context context = kMain;
    const Directive* opener = nullptr;  // the directive that opened it (null for main)
    std::vector<std::unique_ptr<Directive>> directives;  // in config order

    Directive& add(std::unique_ptr<Directive> d);
    // The directive `name` set in this block itself (the last one), or nullptr.
    const Directive* find(DirectiveName name) const;
    // Every `name` in this block, in config order.
    const std::vector<const Directive*>& find_all(DirectiveName name) const;

private:
    // By name: merges look settings up thousands of times in big http blocks.
    std::unordered_map<std::string_view, std::vector<const Directive*>> by_name_;
};

}  // namespace ngxlite::conf
