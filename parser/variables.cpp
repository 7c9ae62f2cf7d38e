#include "parser/variables.hpp"

#include "parser/registry.hpp"

#include <algorithm>

namespace ngxlite::conf {

namespace {
std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return out;
}

bool name_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}
}  // namespace

ir::Template VariableScope::compile_template(std::string_view v, const SourceRef& where) {
    using Part = ir::Template::Part;
    ir::Template t;
    auto literal = [&](std::string_view text) {
        if (text.empty()) return;
        if (!t.parts.empty() && t.parts.back().kind == Part::Kind::literal)
            t.parts.back().text += text;
        else
            t.parts.push_back({Part::Kind::literal, std::string(text), 0, -1});
    };
    std::size_t i = 0;
    while (i < v.size()) {
        const std::size_t dollar = v.find('$', i);
        literal(v.substr(i, dollar == std::string_view::npos ? std::string_view::npos : dollar - i));
        if (dollar == std::string_view::npos) break;
        i = dollar + 1;
        if (i == v.size()) fail_at(where, "invalid variable name");
        if (v[i] >= '1' && v[i] <= '9') {
            t.parts.push_back({Part::Kind::capture, "", v[i] - '0', -1});
            ++i;
            continue;
        }
        bool bracket = false;
        if (v[i] == '{') {
            bracket = true;
            if (++i == v.size()) fail_at(where, "invalid variable name");
        }
        const std::size_t start = i;
        std::size_t len = 0;
        for (; i < v.size(); ++i, ++len) {
            if (v[i] == '}' && bracket) {
                ++i;
                bracket = false;
                break;
            }
            if (!name_char(v[i])) break;
        }
        std::string_view name = v.substr(start, len);
        if (bracket) fail_at(where, "the closing bracket in \"" + std::string(name) + "\" variable is missing");
        if (name.empty()) fail_at(where, "invalid variable name");
        std::string n = lower(name);
        const int index = index_of(n);
        t.parts.push_back({Part::Kind::variable, std::move(n), 0, index});
    }
    return t;
}

ir::Template VariableScope::template_of(std::string_view v, const SourceRef& where) {
    ir::Template t = compile_template(v, where);
    for (const auto& p : t.parts)
        if (p.kind == ir::Template::Part::Kind::variable) reference(p.text);
    return t;
}

ir::Template VariableScope::unchecked_template(std::string_view v, const SourceRef& where) { return compile_template(v, where); }

// Names are as given: scripts' and `set`'s lowercased, a regex's named captures as
// written (one with capitals is a name no script reads).
int VariableScope::index_of(std::string_view name) {
    const auto it = std::find_if(names_.begin(), names_.end(), [&](const ir::Variable& v) { return v.name == name; });
    if (it != names_.end()) return static_cast<int>(it - names_.begin());
    names_.push_back({std::string(name), -1, ir::Variable::Source::none, -1, {}, false});
    return static_cast<int>(names_.size()) - 1;
}

int VariableScope::slot_of(int index) {
    ir::Variable& v = names_[static_cast<std::size_t>(index)];
    if (v.slot < 0) v.slot = static_cast<int>(slots_++);
    return v.slot;
}

int VariableScope::assigned(std::string_view name) {
    const int index = index_of(lower(name));
    slot_of(index);
    // ngx_stream_set_var: a stream variable `set` assigns reads as empty before that.
    if (module_prefix_ == "ngx_stream") names_[static_cast<std::size_t>(index)].empty_until_set = true;
    return index;
}

void VariableScope::define_captures(ir::Regex& regex) {
    for (const auto& n : regex.names()) define(n);
    bind_captures(regex);
}

void VariableScope::bind_captures(ir::Regex& regex) {
    std::vector<int> slots;
    for (const auto& n : regex.names()) slots.push_back(slot_of(index_of(n)));
    regex.set_name_slots(std::move(slots));
}

void VariableScope::reference(std::string_view name) {
    std::string n = lower(name);
    if (std::find(referenced_.begin(), referenced_.end(), n) == referenced_.end()) referenced_.push_back(n);
}

void VariableScope::define(std::string_view name) { defined_.insert(lower(name)); }

void VariableScope::define(std::string_view name, const ModuleSet& modules, const SourceRef& where) {
    // Built-ins nginx 1.22.1 flags NGX_HTTP_VAR_CHANGEABLE (checked against nginx -t).
    static constexpr std::string_view changeable[] = {"args", "limit_rate", "proxy_host", "proxy_port",
                                                      "uid_reset", "invalid_referer", "ancient_browser",
                                                      "modern_browser", "msie"};
    const std::string n = lower(name);
    for (const auto& v : ir::kBuiltinVariables) {
        if (v.name != n || !v.module.starts_with(module_prefix_) || !modules.enabled(v.module)) continue;
        const bool is_changeable = std::find(std::begin(changeable), std::end(changeable), n) != std::end(changeable) ||
                                   v.module == "ngx_http_ssl_module" || v.module == "ngx_stream_ssl_module" ||
                                   v.module.find("geoip") != std::string_view::npos;
        if (!is_changeable) fail_at(where, "the duplicate \"" + n + "\" variable");
    }
    defined_.insert(n);
}

void VariableScope::check(const ModuleSet& modules) const {
    for (const auto& name : referenced_) {
        if (defined_.count(name)) continue;
        bool known = false;
        for (const auto& v : ir::kBuiltinVariables) {
            if (!v.module.starts_with(module_prefix_) || !modules.enabled(v.module)) continue;
            if (v.name == name || (v.name.ends_with('_') && name.starts_with(v.name))) {
                known = true;
                break;
            }
        }
        if (!known) fail("unknown \"" + name + "\" variable");
    }
}

// The runtime's order: a map of that name, else a prefix family ("http_host" too, which
// nginx also lists alone: its handler reads the same header), else a built-in's row, of
// whichever module (the runtime serves a name the same in http and stream).
ir::Variables VariableScope::resolve(const std::vector<ir::Map>& maps) const {
    using Source = ir::Variable::Source;
    ir::Variables out{names_, slots_};
    for (auto& v : out.names) {
        const auto map = std::find_if(maps.begin(), maps.end(), [&](const ir::Map& m) { return m.variable == v.name; });
        if (map != maps.end()) {
            v.source = Source::map;
            v.index = static_cast<int>(map - maps.begin());
            continue;
        }
        for (std::size_t row = 0; row < std::size(ir::kBuiltinVariables); ++row) {
            const std::string_view builtin = ir::kBuiltinVariables[row].name;
            if (builtin.ends_with('_') && std::string_view(v.name).starts_with(builtin)) {
                v.source = Source::prefixed;
                v.index = static_cast<int>(row);
                v.suffix = v.name.substr(builtin.size());
                break;
            }
            if (builtin == v.name && v.source == Source::none) {
                v.source = Source::builtin;
                v.index = static_cast<int>(row);
            }
        }
    }
    return out;
}

}  // namespace ngxlite::conf
