// Parsed header fields kept in memory of the exchange's own: a field (or a list's
// growth) allocated on its own was a third of the allocations of a proxied request. The
// arena lives as long as the head that uses it and is released at once.
#pragma once

#include <array>
#include <cstddef>
#include <memory_resource>

namespace ngxlite::runtime {

using ArenaAllocator = std::pmr::polymorphic_allocator<char>;

template <std::size_t Size>
class HeaderArena {
public:
    HeaderArena() = default;
    HeaderArena(const HeaderArena&) = delete;
    HeaderArena& operator=(const HeaderArena&) = delete;
    ArenaAllocator allocator() { return ArenaAllocator(&resource_); }

private:
    // Larger header blocks continue on the heap (the resource's upstream).
    alignas(std::max_align_t) std::array<std::byte, Size> memory_;
    std::pmr::monotonic_buffer_resource resource_{memory_.data(), memory_.size()};
};

}  // namespace ngxlite::runtime
