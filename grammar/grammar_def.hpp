// The nginx configuration grammar, as ngx_conf_read_token() in nginx 1.22.1 reads it.
//
// Quirks kept on purpose (they decide real configs' verdicts):
// - `#` starts a comment only where a token could start: `foo#bar` is one word.
// - `}` and quotes inside a bare word are ordinary characters; only whitespace,
//   `;` and `{` end it, except that `{` right after `$` belongs to the word (`${var}`).
// - A closing quote must be followed by whitespace, `;`, `{` or `)`, else
//   `unexpected "x"`; a `)` right after it starts the next word.
// - A backslash escapes any next byte, LF included; only LF ends a line.
#pragma once

#include "grammar/ast.hpp"
#include "grammar/grammar.hpp"
#include "grammar/unescape.hpp"

namespace ngxlite::grammar {

using x3::char_;
using x3::lit;

// Records the first error, then moves to the end of input and accepts, so the
// enclosing rules keep what they parsed and stop (see SyntaxErrorSink).
struct record_first_error {
    template <typename Iterator, typename Exception, typename Context>
    x3::error_handler_result on_error(Iterator& first, Iterator const& last, Exception const& x,
                                      Context const& context) const {
        SyntaxErrorSink& sink = x3::get<syntax_error_tag>(context).get();
        if (!sink.set) {
            sink.set = true;
            sink.offset = static_cast<std::size_t>(x.where() - sink.begin);
            sink.at_eof = x.where() == last;
            sink.expecting_block_close = x.which() == "block_close";
            sink.in_quote = x.which() == "closing_quote";
        }
        first = last;
        return x3::error_handler_result::accept;
    }
};

struct word_class : record_first_error {};
struct statement_class : record_first_error {};
struct block_class : record_first_error {};
struct file_class : record_first_error {};
struct statement_end_class;
struct semicolon_class;
struct block_close_class;
struct closing_dquote_class;
struct closing_squote_class;
struct need_space_class;
struct file_end_class;

const x3::rule<word_class, ast::Word> word = "word";
const x3::rule<statement_class, ast::Statement> statement = "statement";
const x3::rule<statement_end_class, ast::Terminator, true> statement_end = "statement_end";
const x3::rule<semicolon_class, ast::Terminator> semicolon = "semicolon";
const x3::rule<block_class, ast::Terminator> block = "block";
const x3::rule<block_close_class> block_close = "block_close";
const x3::rule<closing_dquote_class> closing_dquote = "closing_quote";
const x3::rule<closing_squote_class> closing_squote = "closing_quote";
const x3::rule<need_space_class> need_space = "need_space";
const x3::rule<file_end_class> file_end = "file_end";
const file_type file_rule = "file";

inline std::size_t offset_of(const char* p, const SyntaxErrorSink& sink) {
    return static_cast<std::size_t>(p - sink.begin);
}

const auto record_comment = [](auto& ctx) {
    const auto& sink = x3::get<syntax_error_tag>(ctx).get();
    const auto& range = x3::_attr(ctx);
    x3::get<comments_tag>(ctx).get().push_back(
        {offset_of(range.begin(), sink), offset_of(range.end(), sink)});
};

const auto make_word = [](auto& ctx) {
    const auto& sink = x3::get<syntax_error_tag>(ctx).get();
    const auto& range = x3::_attr(ctx);
    ast::Word& w = x3::_val(ctx);
    const char* b = range.begin();
    const char* e = range.end();
    w.begin = offset_of(b, sink);
    w.end = offset_of(e, sink);
    w.quoted = *b == '"' || *b == '\'';
    w.text = w.quoted ? unescape({b + 1, static_cast<std::size_t>(e - b - 2)})
                      : unescape({b, static_cast<std::size_t>(e - b)});
};

const auto mark_terminator = [](auto& ctx) {
    const auto& sink = x3::get<syntax_error_tag>(ctx).get();
    ast::Terminator& t = x3::_val(ctx);
    t.kind = *x3::_attr(ctx).begin();
    t.closed = t.kind == ';';
    t.offset = offset_of(x3::_attr(ctx).begin(), sink);
};

const auto note_quote = [](auto& ctx) {
    auto& sink = x3::get<syntax_error_tag>(ctx).get();
    sink.last_quote = offset_of(x3::_attr(ctx).begin(), sink);
};

// Children are taken as soon as the statement list ends, so a block whose `}`
// is missing still carries them.
const auto take_children = [](auto& ctx) { x3::_val(ctx).children = std::move(x3::_attr(ctx)); };
const auto take_args = [](auto& ctx) { x3::_val(ctx).args = std::move(x3::_attr(ctx)); };
const auto take_end = [](auto& ctx) { x3::_val(ctx).end = std::move(x3::_attr(ctx)); };
const auto mark_closed = [](auto& ctx) {
    x3::_val(ctx).closed = true;
    x3::_val(ctx).close_offset = x3::get<syntax_error_tag>(ctx).get().last_close;
};
const auto note_close = [](auto& ctx) {
    auto& sink = x3::get<syntax_error_tag>(ctx).get();
    sink.last_close = offset_of(x3::_attr(ctx).begin(), sink);
};

const auto space = char_(" \t\r\n");
const auto comment = x3::raw[lit('#') >> *(char_ - '\n')][record_comment];
const auto gap = x3::omit[*(space | comment)];
const auto escaped = lit('\\') >> char_;

const auto closing_dquote_def = lit('"');
const auto closing_squote_def = lit('\'');
const auto need_space_def = &char_(" \t\r\n;{)") | x3::eoi;
const auto dquoted = ((x3::raw[lit('"')][note_quote] >> *(escaped | (char_ - '"'))) > closing_dquote) > need_space;
const auto squoted = ((x3::raw[lit('\'')][note_quote] >> *(escaped | (char_ - '\''))) > closing_squote) > need_space;
const auto bare_piece = escaped | (lit('$') >> *lit('{')) | (char_ - char_(" \t\r\n;{"));
// `char_ - set` keeps bytes >= 0x80 ordinary, as nginx treats them.
const auto bare_word = &(char_ - char_(" \t\r\n;{}#\"'")) >> +bare_piece;

const auto word_def = x3::raw[dquoted | squoted | bare_word][make_word];
const auto semicolon_def = x3::raw[lit(';')][mark_terminator];
const auto block_close_def = x3::raw[lit('}')][note_close];
const auto block_def = ((x3::raw[lit('{')][mark_terminator] >> gap >> (*(statement >> gap))[take_children])
                        > block_close) >> x3::eps[mark_closed];
const auto statement_end_def = semicolon | block;
const auto statement_def = (+(word >> gap))[take_args] > statement_end[take_end];
const auto file_end_def = x3::eoi;
const auto file_rule_def = (gap >> *(statement >> gap)) > file_end;

BOOST_SPIRIT_DEFINE(word, statement, statement_end, semicolon, block, block_close, closing_dquote,
                    closing_squote, need_space, file_end, file_rule)

}  // namespace ngxlite::grammar
