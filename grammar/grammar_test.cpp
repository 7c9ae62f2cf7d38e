#define BOOST_TEST_MODULE grammar
#include <boost/test/unit_test.hpp>

#include "grammar/parse.hpp"

using namespace ngxlite;

namespace {

// Flattens a parse into "name arg arg ;" / "{" / "}" for compact assertions.
void flatten(const std::vector<ast::Statement>& sts, std::string& out) {
    for (const auto& st : sts) {
        for (std::size_t i = 0; i < st.args.size(); ++i) out += (i ? " " : "") + st.args[i].text;
        if (st.end.kind == ';') out += ";";
        if (st.end.kind == '{') {
            out += "{";
            flatten(st.end.children, out);
            if (st.end.closed) out += "}";
        }
        out += "|";
    }
}

std::string shape(std::string_view text) {
    std::string out;
    flatten(grammar::parse(text).statements, out);
    return out;
}

std::string error_of(std::string_view text) {
    auto r = grammar::parse(text);
    if (!r.error) return "";
    return r.error->message + ":" + std::to_string(r.error->line);
}

}  // namespace

BOOST_AUTO_TEST_CASE(words_blocks_and_comments) {
    BOOST_TEST(shape("a b;") == "a b;|");
    BOOST_TEST(shape("http { server { listen 80; } }\n") == "http{server{listen 80;|}|}|");
    BOOST_TEST(shape("# c\nfoo bar # baz\n  qux;") == "foo bar qux;|");
    BOOST_TEST(error_of("a b;\n# only\n").empty());
}

BOOST_AUTO_TEST_CASE(nginx_lexical_quirks) {
    BOOST_TEST(shape("foo#bar baz;") == "foo#bar baz;|");         // '#' inside a word
    BOOST_TEST(shape("a b}c;") == "a b}c;|");                     // '}' inside a word
    BOOST_TEST(shape("set $a ${b}c;") == "set $a ${b}c;|");       // ${var}
    BOOST_TEST(shape("a b{c;}") == "a b{c;|}|");                  // '{' ends a word
    BOOST_TEST(shape("if ($a = \"b\") {}") == "if ($a = b ){}|");  // ')' after a quote
    BOOST_TEST(shape("a x\"y'z;") == "a x\"y'z;|");               // quotes inside a word
    BOOST_TEST(shape("a b\\ c;") == "a b\\ c;|");                 // escaped space stays
}

BOOST_AUTO_TEST_CASE(quoting_and_escapes) {
    BOOST_TEST(shape("a \"b c\";") == "a b c;|");
    BOOST_TEST(shape("a 'b \"c\"';") == "a b \"c\";|");
    BOOST_TEST(shape("a \"b\\\"c\" '\\t\\x';") == "a b\"c \t\\x;|");
    BOOST_TEST(shape("a \"multi\nline\";") == "a multi\nline;|");
    auto r = grammar::parse("a \"q\" b;");
    BOOST_TEST(r.statements.at(0).args.at(1).quoted);
    BOOST_TEST(!r.statements.at(0).args.at(2).quoted);
}

BOOST_AUTO_TEST_CASE(bytes_and_line_endings) {
    BOOST_TEST(shape("a \xff\xfe\x80;") == "a \xff\xfe\x80;|");
    BOOST_TEST(shape("a \xe4\xbd\xa0;\r\nb c;\r\n") == "a \xe4\xbd\xa0;|b c;|");
    BOOST_TEST(error_of("a b;\r}") == "unexpected \"}\":1");  // a lone CR is no newline
}

BOOST_AUTO_TEST_CASE(errors_in_nginx_words) {
    BOOST_TEST(error_of("a;\n}") == "unexpected \"}\":2");
    BOOST_TEST(error_of(";") == "unexpected \";\":1");
    BOOST_TEST(error_of("\n{") == "unexpected \"{\":2");
    BOOST_TEST(error_of("a {\n b;\n") == "unexpected end of file, expecting \"}\":3");
    BOOST_TEST(error_of("a b") == "unexpected end of file, expecting \";\" or \"}\":1");
    BOOST_TEST(error_of("a { b }") == "unexpected \"}\":1");
    BOOST_TEST(error_of("a \"b\"c;") == "unexpected \"c\":1");
    BOOST_TEST(error_of("a \"b\"}") == "unexpected \"}\":1");
    BOOST_TEST(error_of("a 'b;\n\n") == "unexpected end of file, expecting \";\" or \"}\":3");
    BOOST_TEST(error_of("a { b; ;") == "unexpected \";\":1");
}

BOOST_AUTO_TEST_CASE(partial_ast_before_error) {
    auto r = grammar::parse("a;\nhttp {\n  b c;\n  d\n");
    BOOST_REQUIRE(r.error);
    BOOST_TEST(r.error->message == "unexpected end of file, expecting \";\" or \"}\"");
    BOOST_REQUIRE(r.statements.size() == 2u);
    const auto& http = r.statements[1];
    BOOST_TEST(http.end.kind == '{');
    BOOST_TEST(!http.end.closed);
    BOOST_REQUIRE(http.end.children.size() == 2u);
    BOOST_TEST(http.end.children[0].end.kind == ';');
    BOOST_TEST(http.end.children[1].end.kind == 0);  // `d` never terminated
}

BOOST_AUTO_TEST_CASE(terminator_offsets_give_nginx_lines) {
    std::string text = "a\nb\n;\nc {\n}";
    auto r = grammar::parse(text);
    grammar::LineIndex lines(text);
    BOOST_TEST(lines.line_at(r.statements.at(0).end.offset) == 3u);
    BOOST_TEST(lines.line_at(r.statements.at(1).end.offset) == 4u);
}

BOOST_AUTO_TEST_CASE(too_long_tokens) {
    std::string comment = "#" + std::string(5000, 'x') + "\na b;\n";
    BOOST_TEST(error_of(comment) == "too long parameter \"#xxxxxxxxx...\" started:1");
    std::string quote = "a \"" + std::string(5000, 'x') + "\";\n";
    BOOST_TEST(error_of(quote) == "too long parameter, probably missing terminating \"\"\" character:1");
    std::string fine = "a " + std::string(4000, 'x') + ";\n" + std::string(3000, ' ') + "b c;\n";
    BOOST_TEST(error_of(fine).empty());
    std::string open = "a '" + std::string(9000, 'y');
    BOOST_TEST(error_of(open) == "too long parameter, probably missing terminating \"'\" character:1");
}
