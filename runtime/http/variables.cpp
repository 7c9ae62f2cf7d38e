// Variables as a request reads them: by their index in the config's ir::Variables, which
// the parser resolved once at load time (a slot for `set` and named captures, a map, a
// built-in's row, a prefix family); map, set, captures.
#include "parser/ir/values.hpp"
#include "runtime/core/text.hpp"
#include "runtime/http/builtin_variables.hpp"
#include "runtime/http/handlers.hpp"
#include "runtime/http/request.hpp"

namespace ngxlite::runtime {

const std::string_view* Request::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequal(k, name)) return &v;
    return nullptr;
}

const std::string* LocalCaptures::named(int slot) const {
    for (const LocalCaptures* m = this; m; m = m->outer)
        for (std::size_t i = 0; i < m->regex.name_slots().size(); ++i)
            if (m->regex.name_slots()[i] == slot && static_cast<std::size_t>(m->regex.name_groups()[i]) < m->groups.size())
                return &m->groups[static_cast<std::size_t>(m->regex.name_groups()[i])];
    return nullptr;
}

std::optional<LocalCaptures> match_locally(const ir::Regex& regex, std::string_view subject, const LocalCaptures* outer) {
    std::optional<LocalCaptures> m(std::in_place, LocalCaptures{regex, {}, outer});
    if (!regex.match(subject, &m->groups)) return std::nullopt;
    return m;
}

void RequestContext::set_variable(int index, std::string value) {
    const ir::Variable& v = variables->names[static_cast<std::size_t>(index)];
    if (v.source == ir::Variable::Source::builtin) {
        // The built-ins whose `set` changes what the runtime keeps (nginx's set_handler).
        if (v.index == static_cast<int>(ir::builtin_row("args"))) {
            request.args = std::move(value);
            request.args_present = true;
            return;
        }
        if (v.index == static_cast<int>(ir::builtin_row("limit_rate"))) {  // ngx_http_variable_set_limit_rate
            if (const auto size = ir::parse_size(value)) limit_rate = static_cast<std::uint64_t>(*size);
            else script_errors.emplace_back(false, "invalid $limit_rate \"" + value + "\"");
            return;
        }
    }
    if (values.size() < variables->slots) values.resize(variables->slots);
    values[static_cast<std::size_t>(v.slot)] = std::move(value);
}

void RequestContext::set_named_captures(const ir::Regex& regex, const std::vector<std::string>& groups) {
    if (regex.name_slots().empty()) return;
    if (values.size() < variables->slots) values.resize(variables->slots);
    for (std::size_t i = 0; i < regex.name_slots().size(); ++i)
        if (static_cast<std::size_t>(regex.name_groups()[i]) < groups.size())
            values[static_cast<std::size_t>(regex.name_slots()[i])] = groups[static_cast<std::size_t>(regex.name_groups()[i])];
}

bool RequestContext::match(const ir::Regex& regex, std::string_view subject) {
    std::vector<std::string> found;
    if (!regex.match(subject, &found)) return false;
    set_named_captures(regex, found);
    captures = std::move(found);
    return true;
}

namespace {

std::string variable_value(const ir::Variable& v, const RequestContext& ctx, const LocalCaptures* local, bool& found);

// map: exact keys (case-insensitive, as nginx hashes them lowercased), then the regexes
// in order (their captures for the value only), then the default.
// nginx's ngx_murmur_hash2 (MurmurHash2, seed 0), so a key lands in nginx's part.
std::uint32_t murmur_hash2(std::string_view data) {
    constexpr std::uint32_t m = 0x5bd1e995;
    std::uint32_t h = static_cast<std::uint32_t>(data.size());
    const auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(data[i])); };
    std::size_t i = 0;
    for (; data.size() - i >= 4; i += 4) {
        std::uint32_t k = byte(i) | byte(i + 1) << 8 | byte(i + 2) << 16 | byte(i + 3) << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h = h * m ^ k;
    }
    switch (data.size() - i) {
    case 3: h ^= byte(i + 2) << 16; [[fallthrough]];
    case 2: h ^= byte(i + 1) << 8; [[fallthrough]];
    case 1: h ^= byte(i); h *= m;
    }
    h ^= h >> 13;
    h *= m;
    return h ^ h >> 15;
}

// split_clients: the part the key's hash falls in, else empty.
std::string split_value(const ir::Map& map, const std::string& source) {
    const std::uint32_t hash = murmur_hash2(source);
    for (const auto& part : map.split)
        if (hash < part.below || part.below == 0) return part.value;
    return {};
}

std::string map_value(const ir::Map& map, const RequestContext& ctx, const LocalCaptures* local) {
    if (map.geo) return geo_value(*map.geo, map.source.parts.empty() ? ctx.remote_addr() : expand(map.source, ctx, local), ctx);
    std::string source = expand(map.source, ctx, local);
    if (!map.split.empty()) return split_value(map, source);
    if (map.hostnames && !source.empty() && source.back() == '.') source.pop_back();
    if (!map.hostnames) {
        for (const auto& [key, value] : map.exact)
            if (iequal(key, source)) return expand(value, ctx, local);
    } else {
        // ngx_hash_find_combined: the exact name, then the longest "*.name" (or ".name",
        // which is the name too), then the longest "name.*".
        const ir::Template* head = nullptr;
        const ir::Template* tail = nullptr;
        std::size_t head_len = 0, tail_len = 0;
        for (const auto& [key, value] : map.exact) {
            const std::string_view k = key;
            if (k.size() > 1 && k[0] == '.') {
                if (iequal(k.substr(1), source)) return expand(value, ctx, local);
                if (source.size() > k.size() - 1 && iequal(std::string_view(source).substr(source.size() - k.size()), k) &&
                    k.size() > head_len)
                    head = &value, head_len = k.size();
            } else if (k.size() > 2 && k.starts_with("*.")) {
                const std::string_view suffix = k.substr(1);
                if (source.size() > suffix.size() &&
                    iequal(std::string_view(source).substr(source.size() - suffix.size()), suffix) && suffix.size() > head_len)
                    head = &value, head_len = suffix.size();
            } else if (k.size() > 2 && k.ends_with(".*")) {
                const std::string_view prefix = k.substr(0, k.size() - 1);
                if (source.size() > prefix.size() && iequal(std::string_view(source).substr(0, prefix.size()), prefix) &&
                    prefix.size() > tail_len)
                    tail = &value, tail_len = prefix.size();
            } else if (iequal(k, source)) {
                return expand(value, ctx, local);
            }
        }
        if (head) return expand(*head, ctx, local);
        if (tail) return expand(*tail, ctx, local);
    }
    for (const auto& entry : map.regexes)
        if (auto m = match_locally(*entry.regex, source, local)) return expand(entry.value, ctx, &*m);
    return expand(map.default_value, ctx, local);
}

// A map's value: cached for the request unless volatile, or read within another's
// regex captures (the value those give stays with that expansion).
std::string map_variable(std::size_t index, const RequestContext& ctx, const LocalCaptures* local, bool& found) {
    if (!ctx.maps) {
        found = false;
        return {};
    }
    const ir::Map& map = (*ctx.maps)[index];
    if (map.is_volatile) return map_value(map, ctx, local);
    if (index < ctx.map_values.size() && ctx.map_values[index]) return *ctx.map_values[index];
    std::string v = map_value(map, ctx, local);
    if (!local) {
        if (ctx.map_values.size() < ctx.maps->size()) ctx.map_values.resize(ctx.maps->size());
        ctx.map_values[index] = v;
    }
    return v;
}

// The request's value once assigned (captures of `local` first), else the source the
// name resolved to.
std::string variable_value(const ir::Variable& v, const RequestContext& ctx, const LocalCaptures* local, bool& found) {
    using Source = ir::Variable::Source;
    found = true;
    if (v.slot >= 0) {
        if (local)
            if (const std::string* named = local->named(v.slot)) return *named;
        const auto slot = static_cast<std::size_t>(v.slot);
        if (slot < ctx.values.size() && ctx.values[slot]) return *ctx.values[slot];
    }
    std::string value;
    switch (v.source) {
    case Source::map: return map_variable(static_cast<std::size_t>(v.index), ctx, local, found);
    case Source::builtin:
        if (const BuiltinGetter get = builtin_getter(static_cast<std::size_t>(v.index))) value = get(ctx, found);
        else found = false;
        break;
    case Source::prefixed:
        if (const PrefixedGetter get = prefixed_getter(static_cast<std::size_t>(v.index))) value = get(ctx, v.suffix, found);
        else found = false;
        break;
    case Source::none: found = false; break;
    }
    if (!found && v.empty_until_set) found = true;  // the value is empty then
    return value;
}

}  // namespace

std::string variable(int index, const RequestContext& ctx, bool& found) {
    if (!ctx.variables) {  // a context without a config's variables reads none
        found = false;
        return {};
    }
    return variable_value(ctx.variables->names[static_cast<std::size_t>(index)], ctx, nullptr, found);
}

std::string expand(const ir::Template& t, const RequestContext& ctx, const LocalCaptures* local) {
    std::string out;
    for (const auto& p : t.parts) {
        switch (p.kind) {
        case ir::Template::Part::Kind::literal: out += p.text; break;
        case ir::Template::Part::Kind::capture: {
            const std::vector<std::string>& groups = local ? local->groups : ctx.captures;
            if (static_cast<std::size_t>(p.capture) < groups.size()) out += groups[static_cast<std::size_t>(p.capture)];
            break;
        }
        case ir::Template::Part::Kind::variable: {
            bool found = false;
            if (ctx.variables) out += variable_value(ctx.variables->names[static_cast<std::size_t>(p.variable)], ctx, local, found);
            break;
        }
        }
    }
    return out;
}

}  // namespace ngxlite::runtime
