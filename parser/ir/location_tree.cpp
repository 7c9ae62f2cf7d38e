#include "parser/ir/location_tree.hpp"

#include "parser/ir/config.hpp"

#include <algorithm>

namespace ngxlite::ir {

int filename_cmp(std::string_view a, std::string_view b, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        // Past its end a name reads as nginx's terminating NUL.
        const unsigned c1 = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        const unsigned c2 = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        if (c1 == c2) {
            if (c1 == 0) return 0;
            continue;
        }
        if (c1 == 0 || c2 == 0) return static_cast<int>(c1) - static_cast<int>(c2);
        return static_cast<int>(c1 == '/' ? 0 : c1) - static_cast<int>(c2 == '/' ? 0 : c2);
    }
    return 0;
}

namespace {

// ngx_http_location_queue_t: a name with its exact and prefix locations, and the names
// of the same level that start with it.
struct Entry {
    std::string_view name;
    int exact = -1;
    int inclusive = -1;
    bool auto_redirect = false;
    std::vector<Entry> list;
};

// ngx_http_create_locations_list: each entry takes the entries after it that start with
// its name (the order makes them consecutive), and so on inside them.
std::vector<Entry> nest(std::vector<Entry> flat) {
    std::vector<Entry> level;
    for (std::size_t i = 0; i < flat.size();) {
        std::size_t end = i + 1;
        while (end < flat.size() && flat[end].name.size() >= flat[i].name.size() &&
               filename_cmp(flat[i].name, flat[end].name, flat[i].name.size()) == 0)
            ++end;
        Entry e = std::move(flat[i]);
        e.list = nest({std::make_move_iterator(flat.begin() + static_cast<std::ptrdiff_t>(i) + 1),
                       std::make_move_iterator(flat.begin() + static_cast<std::ptrdiff_t>(end))});
        level.push_back(std::move(e));
        i = end;
    }
    return level;
}

// ngx_http_create_locations_tree: the middle entry is the node, the halves its left and
// right, its list its tree (names cut by the node's own).
int build(StaticLocationTree& tree, const std::vector<Entry>& list, std::size_t lo, std::size_t hi, std::size_t prefix) {
    if (lo >= hi) return -1;
    const std::size_t mid = lo + (hi - lo) / 2;
    const Entry& e = list[mid];
    const int index = static_cast<int>(tree.nodes.size());
    tree.nodes.push_back({std::string(e.name.substr(prefix)), e.exact, e.inclusive, e.auto_redirect});
    const int left = build(tree, list, lo, mid, prefix);
    const int right = build(tree, list, mid + 1, hi, prefix);
    const int inner = build(tree, e.list, 0, e.list.size(), e.name.size());
    StaticLocationTree::Node& node = tree.nodes[static_cast<std::size_t>(index)];
    node.left = left;
    node.right = right;
    node.tree = inner;
    return index;
}

}  // namespace

StaticLocationTree build_static_location_tree(const std::vector<Location>& locations) {
    std::vector<Entry> flat;
    for (std::size_t i = 0; i < locations.size(); ++i) {
        const Location& l = locations[i];
        const bool exact = l.match == LocationMatch::exact;
        if (!exact && l.match != LocationMatch::prefix && l.match != LocationMatch::prefix_no_regex) continue;
        Entry e;
        e.name = l.name;
        (exact ? e.exact : e.inclusive) = static_cast<int>(i);
        e.auto_redirect = l.auto_redirect;
        flat.push_back(std::move(e));
    }
    // ngx_http_cmp_locations (names with their terminating NUL, exact first on a tie),
    // then ngx_http_join_exact_locations: an exact and a prefix location of one name
    // share an entry (two of one kind were refused as duplicates at load).
    std::stable_sort(flat.begin(), flat.end(), [](const Entry& a, const Entry& b) {
        const int rc = filename_cmp(a.name, b.name, std::min(a.name.size(), b.name.size()) + 1);
        return rc != 0 ? rc < 0 : a.exact >= 0 && b.exact < 0;
    });
    std::vector<Entry> joined;
    for (Entry& e : flat) {
        if (!joined.empty() && joined.back().name == e.name) {
            if (e.inclusive >= 0) joined.back().inclusive = e.inclusive;
            joined.back().auto_redirect = joined.back().auto_redirect || e.auto_redirect;
            continue;
        }
        joined.push_back(std::move(e));
    }
    StaticLocationTree tree;
    const std::vector<Entry> level = nest(std::move(joined));
    tree.root = build(tree, level, 0, level.size(), 0);
    return tree;
}

}  // namespace ngxlite::ir
