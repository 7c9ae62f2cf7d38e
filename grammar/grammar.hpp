// Rule IDs and declarations of the nginx configuration grammar (Spirit X3).
// The definitions live in grammar_def.hpp and are instantiated once, in grammar.cpp.
#pragma once

#include "grammar/ast.hpp"

#include <boost/spirit/home/x3.hpp>

#include <cstddef>

namespace ngxlite::grammar {

namespace x3 = boost::spirit::x3;

// The first syntax error of a parse. Every rule's error handler records it and
// then jumps to the end of the input, so the AST keeps everything before it.
struct SyntaxErrorSink {
    const char* begin = nullptr;  // start of the file, to turn iterators into offsets
    bool set = false;
    std::size_t offset = 0;
    bool at_eof = false;
    bool expecting_block_close = false;  // EOF inside a block: expecting "}"
    bool in_quote = false;                // EOF inside a quoted word
    std::size_t last_quote = 0;           // offset of the last opening quote seen
    std::size_t last_close = 0;           // offset of the last '}' that closed a block
};
struct syntax_error_tag;

// Comment spans: nginx's tokenizer keeps a comment as one pending token, which
// matters for its 4096-byte token limit (see parse.cpp).
struct CommentSpan {
    std::size_t begin;
    std::size_t end;
};
struct comments_tag;

using iterator_type = const char*;
using context_type = x3::context<
    comments_tag, std::reference_wrapper<std::vector<CommentSpan>>,
    x3::context<syntax_error_tag, std::reference_wrapper<SyntaxErrorSink>>>;

struct file_class;
using file_type = x3::rule<file_class, std::vector<ast::Statement>, true>;
BOOST_SPIRIT_DECLARE(file_type)

const file_type& file();

}  // namespace ngxlite::grammar
