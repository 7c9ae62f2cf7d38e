// Shared memory zones (limit_req_zone, upstream zone, ssl_session_cache shared:, ...):
// a zone referenced but never given a size fails the load, as in nginx.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ngxlite::conf {

class ZoneRegistry {
public:
    void declare(const std::string& name, std::int64_t size);
    void reference(const std::string& name);
    void check() const;  // `zero size shared memory zone "x"`

private:
    struct Zone {
        std::string name;
        std::int64_t size = 0;
    };
    std::vector<Zone> zones_;
};

}  // namespace ngxlite::conf
