#include "grammar/unescape.hpp"

namespace ngxlite::grammar {

std::string unescape(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        char c = raw[i];
        if (c == '\\' && i + 1 < raw.size()) {
            switch (raw[i + 1]) {
            case '"':
            case '\'':
            case '\\':
                c = raw[++i];
                break;
            case 't':
                c = '\t';
                ++i;
                break;
            case 'r':
                c = '\r';
                ++i;
                break;
            case 'n':
                c = '\n';
                ++i;
                break;
            default:
                break;
            }
        }
        out.push_back(c);
    }
    return out;
}

}  // namespace ngxlite::grammar
