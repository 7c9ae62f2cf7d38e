#include "parser/zones.hpp"

#include "parser/diagnostics.hpp"

namespace ngxlite::conf {

void ZoneRegistry::declare(const std::string& name, std::int64_t size) {
    for (auto& z : zones_)
        if (z.name == name) {
            z.size = size;
            return;
        }
    zones_.push_back({name, size});
}

void ZoneRegistry::reference(const std::string& name) {
    for (const auto& z : zones_)
        if (z.name == name) return;
    zones_.push_back({name, 0});
}

void ZoneRegistry::check() const {
    for (const auto& z : zones_)
        if (z.size == 0) fail("zero size shared memory zone \"" + z.name + "\"");
}

}  // namespace ngxlite::conf
