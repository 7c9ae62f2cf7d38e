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

ir::Template compile_template(std::string_view v, const SourceRef& where) {
    using Part = ir::Template::Part;
    ir::Template t;
    auto literal = [&](std::string_view text) {
        if (text.empty()) return;
        if (!t.parts.empty() && t.parts.back().kind == Part::Kind::literal)
            t.parts.back().text += text;
        else
            t.parts.push_back({Part::Kind::literal, std::string(text), 0});
    };
    std::size_t i = 0;
    while (i < v.size()) {
        const std::size_t dollar = v.find('$', i);
        literal(v.substr(i, dollar == std::string_view::npos ? std::string_view::npos : dollar - i));
        if (dollar == std::string_view::npos) break;
        i = dollar + 1;
        if (i == v.size()) fail_at(where, "invalid variable name");
        if (v[i] >= '1' && v[i] <= '9') {
            t.parts.push_back({Part::Kind::capture, "", v[i] - '0'});
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
        t.parts.push_back({Part::Kind::variable, lower(name), 0});
    }
    return t;
}

ir::Template VariableScope::template_of(std::string_view v, const SourceRef& where) {
    ir::Template t = compile_template(v, where);
    for (const auto& p : t.parts)
        if (p.kind == ir::Template::Part::Kind::variable) reference(p.text);
    return t;
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
    for (const auto& v : builtin_variables()) {
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
        for (const auto& v : builtin_variables()) {
            if (!v.module.starts_with(module_prefix_) || !modules.enabled(v.module)) continue;
            if (v.name == name || (v.name.ends_with('_') && name.starts_with(v.name))) {
                known = true;
                break;
            }
        }
        if (!known) fail("unknown \"" + name + "\" variable");
    }
}

}  // namespace ngxlite::conf
