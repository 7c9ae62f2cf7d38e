// The one translation unit that instantiates the grammar.
#include "grammar/grammar_def.hpp"

namespace ngxlite::grammar {

BOOST_SPIRIT_INSTANTIATE(file_type, iterator_type, context_type)

const file_type& file() { return file_rule; }

}  // namespace ngxlite::grammar
