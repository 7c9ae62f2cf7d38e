// nginx's static location tree (ngx_http_init_static_location_trees): the exact and
// prefix locations of one level, built once at load time, searched per request in
// O(log n) comparisons per level of names that contain each other.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ngxlite::ir {

struct Location;

struct StaticLocationTree {
    // A binary search tree on names; `tree` holds the names that start with this node's
    // name, with that part cut off (ngx_http_location_tree_node_t).
    struct Node {
        std::string name;    // the location's name after its parent node's part
        int exact = -1;      // index in the level's locations: `location = name`
        int inclusive = -1;  // index: `location name` or `location ^~ name`
        bool auto_redirect = false;
        int left = -1, right = -1, tree = -1;  // indexes in `nodes`
    };
    std::vector<Node> nodes;
    int root = -1;
};

// The tree of `locations`' exact and prefix ones (the others are ignored).
StaticLocationTree build_static_location_tree(const std::vector<Location>& locations);

// ngx_filename_cmp on a case-sensitive file system: bytes compared over at most n, '/'
// below every other character so that "/a/" sorts before "/a-".
int filename_cmp(std::string_view a, std::string_view b, std::size_t n);

}  // namespace ngxlite::ir
