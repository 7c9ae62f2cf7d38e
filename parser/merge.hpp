// Inheritance as nginx merges it: a setting comes from the innermost block that sets it;
// a list directive set in a block replaces the whole list of the blocks above.
#pragma once

#include "parser/conf_tree.hpp"

#include <initializer_list>
#include <string_view>
#include <vector>

namespace ngxlite::conf {

class Scope {
public:
    Scope() = default;
    explicit Scope(std::vector<const Block*> chain) : chain_(std::move(chain)) {}
    Scope child(const Block* b) const {
        Scope s = *this;
        s.chain_.push_back(b);
        return s;
    }
    const Block& innermost() const { return *chain_.back(); }

    const Directive* find(DirectiveName name) const {
        for (auto it = chain_.rbegin(); it != chain_.rend(); ++it)
            if (const Directive* d = (*it)->find(name)) return d;
        return nullptr;
    }
    std::vector<const Directive*> find_list(DirectiveName name) const {
        for (auto it = chain_.rbegin(); it != chain_.rend(); ++it) {
            auto all = (*it)->find_all(name);
            if (!all.empty()) return all;
        }
        return {};
    }
    // The innermost block holding any of `names` (nginx's list settings made of several
    // directives, as allow and deny), or nullptr.
    const Block* innermost_with(std::initializer_list<DirectiveName> names) const {
        for (auto it = chain_.rbegin(); it != chain_.rend(); ++it)
            for (DirectiveName n : names)
                if ((*it)->find(n)) return *it;
        return nullptr;
    }
    // Whether any block of the chain has a directive `name` that `pred` holds for.
    template <typename Pred>
    bool any_of(DirectiveName name, Pred pred) const {
        for (const Block* b : chain_)
            for (const Directive* d : b->find_all(name))
                if (pred(*d)) return true;
        return false;
    }
    template <typename T>
    T value(DirectiveName name, T fallback) const {
        const Directive* d = find(name);
        return d ? static_cast<T>(d->value) : fallback;
    }
    std::string str(DirectiveName name, std::string fallback) const {
        const Directive* d = find(name);
        return d ? d->args[1] : fallback;
    }

private:
    std::vector<const Block*> chain_;
};

}  // namespace ngxlite::conf
