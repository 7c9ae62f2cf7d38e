#include "grammar/parse.hpp"

#include "grammar/grammar.hpp"

#include <algorithm>

namespace ngxlite::grammar {

LineIndex::LineIndex(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i)
        if (text[i] == '\n') newlines_.push_back(i);
}

std::size_t LineIndex::line_at(std::size_t offset) const {
    return 1 + static_cast<std::size_t>(
                   std::lower_bound(newlines_.begin(), newlines_.end(), offset) - newlines_.begin());
}

namespace {

struct RawParse {
    std::vector<ast::Statement> statements;
    std::vector<CommentSpan> comments;
    SyntaxErrorSink sink;
};

RawParse parse_raw(std::string_view text) {
    RawParse r;
    r.sink.begin = text.data();
    const char* first = text.data();
    const char* last = text.data() + text.size();
    auto parser = x3::with<syntax_error_tag>(std::ref(r.sink))
        [x3::with<comments_tag>(std::ref(r.comments))[file()]];
    x3::parse(first, last, parser, r.statements);
    return r;
}

std::string unexpected_message(const SyntaxErrorSink& sink, std::string_view text) {
    if (!sink.at_eof) return std::string("unexpected \"") + text[sink.offset] + "\"";
    if (sink.expecting_block_close) return "unexpected end of file, expecting \"}\"";
    return "unexpected end of file, expecting \";\" or \"}\"";
}

// A pending token as nginx's tokenizer holds it: `start` is where nginx's `start`
// pointer rests while it reads bytes [start, hold_until]; outside every span the
// tokenizer moves `start` along with each byte it reads.
struct PendingToken {
    std::size_t start;
    std::size_t hold_until;
    std::size_t lexeme_begin;
    char quote;  // '"' or '\'' for a quoted word, 0 otherwise
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

void collect_words(const std::vector<ast::Statement>& statements, std::string_view text,
                   std::vector<PendingToken>& out) {
    for (const auto& st : statements) {
        for (const auto& w : st.args) {
            if (w.end <= w.begin) continue;
            const bool after_is_space = w.end < text.size() && is_space(text[w.end]);
            if (w.quoted) {
                out.push_back({w.begin + 1, after_is_space ? w.end : w.end - 1, w.begin, text[w.begin]});
            } else {
                out.push_back({w.begin, after_is_space ? w.end : w.end - 1, w.begin, 0});
            }
        }
        collect_words(st.end.children, text, out);
    }
}

// nginx reads a file through a 4096-byte buffer and refuses a token (or comment)
// that fills the whole buffer: "too long parameter ...". Returns the offset where
// nginx stops and the error, if the file trips over it.
std::optional<std::pair<std::size_t, SyntaxError>> too_long_token(const RawParse& raw,
                                                                 std::string_view text,
                                                                 const LineIndex& lines) {
    constexpr std::size_t buffer = 4096;
    if (text.size() <= buffer) return std::nullopt;
    std::vector<PendingToken> spans;
    collect_words(raw.statements, text, spans);
    for (const auto& c : raw.comments) spans.push_back({c.begin, c.end == 0 ? 0 : c.end - 1, c.begin, 0});
    if (raw.sink.in_quote) {  // an unterminated quote runs to the end of the file
        const std::size_t q = raw.sink.last_quote;
        spans.push_back({q + 1, text.size(), q, text[q]});
    }
    std::sort(spans.begin(), spans.end(),
              [](const PendingToken& a, const PendingToken& b) { return a.lexeme_begin < b.lexeme_begin; });
    auto start_after = [&](std::size_t pos) -> const PendingToken* {
        auto it = std::upper_bound(spans.begin(), spans.end(), pos,
                                   [](std::size_t p, const PendingToken& t) { return p < t.lexeme_begin; });
        if (it == spans.begin()) return nullptr;
        --it;
        return pos <= it->hold_until ? &*it : nullptr;
    };
    std::size_t exhausted = buffer;
    while (exhausted < text.size()) {
        const PendingToken* t = start_after(exhausted - 1);
        const std::size_t start = t ? t->start : exhausted - 1;
        if (t && exhausted - start == buffer) {
            SyntaxError e;
            e.line = lines.line_at(t->lexeme_begin);
            if (t->quote) {
                e.message = std::string("too long parameter, probably missing terminating \"") + t->quote +
                            "\" character";
            } else {
                e.message = "too long parameter \"" + std::string(text.substr(start, 10)) + "...\" started";
            }
            return std::make_pair(exhausted, e);
        }
        exhausted = start + buffer;
    }
    return std::nullopt;
}

}  // namespace

ParsedFile parse(std::string_view text) {
    RawParse raw = parse_raw(text);
    LineIndex lines(text);
    ParsedFile out;
    if (auto too_long = too_long_token(raw, text, lines);
        too_long && (!raw.sink.set || too_long->first <= raw.sink.offset)) {
        // nginx stops reading there: what it had read is what counts.
        RawParse head = parse_raw(text.substr(0, too_long->first));
        out.statements = std::move(head.statements);
        out.error = too_long->second;
        return out;
    }
    out.statements = std::move(raw.statements);
    if (raw.sink.set) {
        out.error = SyntaxError{unexpected_message(raw.sink, text),
                                lines.line_at(raw.sink.at_eof ? text.size() : raw.sink.offset)};
    }
    return out;
}

}  // namespace ngxlite::grammar
