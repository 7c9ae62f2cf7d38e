#include "tools/config_json.hpp"

#include "grammar/parse.hpp"

#include <boost/json/src.hpp>

#include <glob.h>

namespace ngxlite::tools {

namespace {

namespace json = boost::json;

std::string directory_of(const std::string& path) { return path.substr(0, path.rfind('/') + 1); }

// The indexes of the loaded files an `include` argument names, in crossplane's manner.
json::array included(const std::string& pattern, const std::string& includer_conf_prefix,
                     const std::vector<conf::LoadedFile>& files) {
    std::string full = !pattern.empty() && pattern[0] == '/' ? pattern : includer_conf_prefix + pattern;
    json::array out;
    glob_t g{};
    if (::glob(full.c_str(), GLOB_NOCHECK, nullptr, &g) == 0) {
        for (std::size_t i = 0; i < g.gl_pathc; ++i)
            for (std::size_t f = 0; f < files.size(); ++f)
                if (files[f].path == g.gl_pathv[i]) out.push_back(static_cast<std::int64_t>(f));
    }
    ::globfree(&g);
    return out;
}

json::array statements(const std::vector<ast::Statement>& sts, const grammar::LineIndex& lines,
                       const std::string& conf_prefix, const std::vector<conf::LoadedFile>& files) {
    json::array out;
    for (const auto& st : sts) {
        if (st.args.empty() || st.end.kind == 0) continue;
        json::object d;
        d["directive"] = st.args[0].text;
        d["line"] = static_cast<std::int64_t>(lines.line_at(st.args[0].begin));
        json::array args;
        for (std::size_t i = 1; i < st.args.size(); ++i) args.push_back(json::string(st.args[i].text));
        d["args"] = std::move(args);
        if (st.args[0].text == "include" && st.args.size() == 2)
            d["includes"] = included(st.args[1].text, conf_prefix, files);
        if (st.end.kind == '{') d["block"] = statements(st.end.children, lines, conf_prefix, files);
        out.push_back(std::move(d));
    }
    return out;
}

}  // namespace

std::string config_json(const conf::LoadResult& r) {
    json::object root;
    const bool ok = r.config != nullptr;
    root["status"] = ok ? "ok" : "failed";
    json::array errors;
    for (const auto& d : r.diagnostics) {
        if (d.level == conf::Level::warn) continue;
        json::object e;
        e["error"] = d.format();
        if (d.located && !d.file.empty()) {
            e["file"] = d.file;
            e["line"] = static_cast<std::int64_t>(d.line);
        }
        errors.push_back(std::move(e));
    }
    root["errors"] = errors;
    json::array config;
    const std::string conf_prefix = directory_of(r.conf_file);
    for (const auto& f : r.files) {
        json::object file;
        file["file"] = f.path;
        file["status"] = "ok";
        file["errors"] = json::array();
        grammar::ParsedFile parsed = grammar::parse(f.bytes);
        grammar::LineIndex lines(f.bytes);
        file["parsed"] = statements(parsed.statements, lines, conf_prefix, r.files);
        config.push_back(std::move(file));
    }
    root["config"] = std::move(config);
    return json::serialize(root);
}

}  // namespace ngxlite::tools
