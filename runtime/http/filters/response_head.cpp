#include "runtime/http/filters/response_head.hpp"

#include "runtime/core/text.hpp"

#include <algorithm>
#include <cstring>

namespace ngxlite::runtime {

std::string_view HeaderList::keep(std::string_view bytes) {
    if (bytes.empty()) return {};
    if (!kept_) kept_ = std::make_unique<std::pmr::monotonic_buffer_resource>(memory_);
    auto* into = static_cast<char*>(kept_->allocate(bytes.size(), 1));
    std::memcpy(into, bytes.data(), bytes.size());
    return {into, bytes.size()};
}

HeaderList::iterator HeaderList::find(std::string_view name) {
    return std::find_if(fields_.begin(), fields_.end(), [&](const HeaderField& f) { return iequal(f.name, name); });
}

HeaderList::const_iterator HeaderList::find(std::string_view name) const {
    return std::find_if(fields_.begin(), fields_.end(), [&](const HeaderField& f) { return iequal(f.name, name); });
}

void HeaderList::erase_all(std::string_view name) {
    std::erase_if(fields_, [&](const HeaderField& f) { return f.name == name; });
}

}  // namespace ngxlite::runtime
