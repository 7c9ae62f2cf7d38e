// The http locations' IR: each location merged down from http and server (proxy, logs,
// headers, core settings, rewrite statements, access phase) with its nested locations, in
// nginx's match order; and the duplicate location check.
#include "parser/build_http.hpp"

#include "parser/http_state.hpp"
#include "parser/load.hpp"
#include "parser/setters.hpp"
#include "parser/values.hpp"
#include "parser/variables.hpp"

#include <algorithm>
#include <cctype>

namespace ngxlite::conf {

namespace {

bool opens_location(const Directive& d) {
    return d.block && (d.name() == "location" || d.name() == "if" || d.name() == "limit_except");
}

ir::LocationMatch match_of(const Directive& d) {
    std::string_view mod = d.nargs() == 2 ? std::string_view(d.args[1]) : std::string_view();
    std::string_view n = d.args[1];
    if (mod == "=" || (mod.empty() && n.starts_with("="))) return ir::LocationMatch::exact;
    if (mod == "^~" || (mod.empty() && n.starts_with("^~"))) return ir::LocationMatch::prefix_no_regex;
    if (mod == "~*" || (mod.empty() && n.starts_with("~*"))) return ir::LocationMatch::regex_caseless;
    if (mod == "~" || (mod.empty() && n.starts_with("~"))) return ir::LocationMatch::regex;
    if (n.starts_with("@")) return ir::LocationMatch::named;
    return ir::LocationMatch::prefix;
}

std::string name_of(const Directive& d) {
    if (d.nargs() == 2) return d.args[2];
    std::string_view n = d.args[1];
    switch (match_of(d)) {
    case ir::LocationMatch::exact: return std::string(n.substr(1));
    case ir::LocationMatch::prefix_no_regex: return std::string(n.substr(2));
    case ir::LocationMatch::regex_caseless: return std::string(n.substr(2));
    case ir::LocationMatch::regex: return std::string(n.substr(1));
    default: return std::string(n);
    }
}

// nginx's ngx_http_cmp_locations order, which its matcher relies on.
void sort_in_match_order(std::vector<ir::Location>& locations) {
    auto rank = [](const ir::Location& l) {
        switch (l.match) {
        case ir::LocationMatch::regex:
        case ir::LocationMatch::regex_caseless: return 1;
        case ir::LocationMatch::named: return 2;
        default: return 0;
        }
    };
    std::stable_sort(locations.begin(), locations.end(), [&](const ir::Location& a, const ir::Location& b) {
        if (rank(a) != rank(b)) return rank(a) < rank(b);
        if (rank(a) == 1) return false;  // regexes keep config order
        if (a.name != b.name) return a.name < b.name;
        return a.match == ir::LocationMatch::exact && b.match != ir::LocationMatch::exact;
    });
}

// The rewrite module's statements other than `if`, compiled (the setters checked them).
std::optional<ir::RewriteOp> rewrite_op(VariableScope& vars, const Directive& d) {
    using Kind = ir::RewriteOp::Kind;
    ir::RewriteOp op;
    op.where = location_of(d.where);
    if (d.name() == "return") {
        op.kind = Kind::return_;
        const bool url = !parse_number(d.args[1]);
        op.ret.code = url ? 302 : static_cast<int>(*parse_number(d.args[1]));
        if (url || d.nargs() == 2) op.ret.text = vars.unchecked_template(d.args[url ? 1 : 2], d.where);
    } else if (d.name() == "break") {
        op.kind = Kind::break_;
    } else if (d.name() == "set") {
        op.kind = Kind::set;
        op.variable = vars.assigned(variable_target(d, 1));
        op.value = vars.unchecked_template(d.args[2], d.where);
    } else if (d.name() == "rewrite") {
        op.kind = Kind::rewrite;
        auto regex = std::make_shared<ir::Regex>(d.args[1], false);
        vars.bind_captures(*regex);
        op.regex = std::move(regex);
        std::string replacement = d.args[2];
        // ngx_http_rewrite: a trailing '?' drops the request's arguments.
        if (!replacement.empty() && replacement.back() == '?') {
            replacement.pop_back();
            op.add_args = false;
        }
        if (replacement.starts_with("http://") || replacement.starts_with("https://") || replacement.starts_with("$scheme")) {
            op.redirect = true;
            op.status = 302;
        }
        const std::string flag = d.nargs() == 3 ? d.args[3] : "";
        if (flag == "last") op.flag = ir::RewriteOp::Flag::last;
        else if (flag == "break") op.flag = ir::RewriteOp::Flag::break_;
        else if (flag == "redirect") op.redirect = true, op.status = 302;
        else if (flag == "permanent") op.redirect = true, op.status = 301;
        op.replacement = vars.unchecked_template(replacement, d.where);
    } else {
        return std::nullopt;
    }
    return op;
}

// The condition of `if`, from the words the setter left without parentheses.
ir::IfCondition if_condition(VariableScope& vars, const Directive& d) {
    using Kind = ir::IfCondition::Kind;
    const auto& w = d.condition;
    ir::IfCondition cond;
    if (w[0][0] == '$') {
        cond.subject = vars.unchecked_template(w[0], d.where);
        if (w.size() == 1) return cond;
        const std::string& op = w[1];
        if (op == "=" || op == "!=") {
            cond.kind = op == "=" ? Kind::equal : Kind::not_equal;
            cond.value = vars.unchecked_template(w[2], d.where);
        } else {
            cond.kind = op[0] == '!' ? Kind::not_match : Kind::match;
            auto regex = std::make_shared<ir::Regex>(w[2], op.back() == '*');
            vars.bind_captures(*regex);
            cond.regex = std::move(regex);
        }
        return cond;
    }
    cond.negated = w[0][0] == '!';
    switch (w[0].back()) {
    case 'f': cond.kind = Kind::file; break;
    case 'd': cond.kind = Kind::directory; break;
    case 'e': cond.kind = Kind::exists; break;
    default: cond.kind = Kind::executable; break;
    }
    cond.subject = vars.unchecked_template(w[1], d.where);
    return cond;
}

// expires: off, epoch, max, @time of day, or [modified] [-]time.
void merge_expires(const Scope& s, ir::Location& loc) {
    if (const Directive* e = s.find("expires")) {
        using Expires = ir::Location::Expires;
        const std::string_view v = e->args.back();
        if (v == "off") loc.expires = Expires::off;
        else if (v == "epoch") loc.expires = Expires::epoch;
        else if (v == "max") loc.expires = Expires::max;
        else if (v.starts_with("@")) {
            loc.expires = Expires::daily;
            loc.expires_seconds = parse_time(v.substr(1), true).value_or(0);
        } else {
            loc.expires = e->nargs() == 2 ? Expires::modified : Expires::access;
            const bool negative = v.starts_with("-");
            const std::int64_t seconds = parse_time(v.substr(negative ? 1 : 0), true).value_or(0);
            loc.expires_seconds = negative ? -seconds : seconds;
        }
    }
}

// add_header, add_trailer, access_log (http's default when none), index, types, default_type.
void merge_response_settings(Compiler& c, const Scope& s, ir::Location& loc) {
    for (const Directive* h : s.find_list("add_header"))
        loc.add_headers.push_back({h->args[1], c.http().variables.unchecked_template(h->args[2], h->where), h->nargs() == 3});
    for (const Directive* h : s.find_list("add_trailer"))
        loc.add_trailers.push_back({h->args[1], c.http().variables.unchecked_template(h->args[2], h->where), h->nargs() == 3});
    loc.access_logs = merge_access_logs(c, s, c.http().log_formats, c.http().variables);
    if (!s.find("access_log")) {
        ir::AccessLog log;
        log.path.parts.push_back({ir::Template::Part::Kind::literal, c.full_path(default_http_log_path(), false), 0});
        loc.access_logs.push_back(std::move(log));
    }
    if (const auto index = s.find_list("index"); !index.empty()) {
        loc.index.clear();
        for (const Directive* d : index) {
            loc.index.insert(loc.index.end(), d->args.begin() + 1, d->args.end());
            for (std::size_t i = 1; i < d->args.size(); ++i) loc.index_values.push_back(c.http().variables.unchecked_template(d->args[i], d->where));
        }
    }
    if (const Directive* t = s.find("types")) loc.types = c.http().types.at(t);
    loc.default_type = s.str("default_type", "text/plain");
}

// The core module's flags, timeouts, limits and client body settings.
void merge_core_settings(Compiler& c, const Scope& s, ir::Location& loc) {
    loc.server_tokens = s.value<std::int64_t>("server_tokens", 1) != 0;
    loc.client_max_body_size = s.value<std::int64_t>("client_max_body_size", 1048576);
    loc.keepalive_timeout = ir::Msec(s.value<std::int64_t>("keepalive_timeout", 75000));
    if (const Directive* k = s.find("keepalive_timeout"); k && k->nargs() == 2)
        loc.keepalive_header = parse_time(k->args[2], true).value_or(-1);
    loc.client_body_timeout = ir::Msec(s.value<std::int64_t>("client_body_timeout", 60000));
    loc.send_timeout = ir::Msec(s.value<std::int64_t>("send_timeout", 60000));
    loc.keepalive_requests = s.value<int>("keepalive_requests", 1000);
    loc.keepalive_time = ir::Msec(s.value<std::int64_t>("keepalive_time", 3600000));
    loc.keepalive_disable = s.value<std::uint32_t>("keepalive_disable", 1u << 2);
    loc.absolute_redirect = s.value<bool>("absolute_redirect", true);
    loc.port_in_redirect = s.value<bool>("port_in_redirect", true);
    loc.server_name_in_redirect = s.value<bool>("server_name_in_redirect", false);
    loc.chunked_transfer_encoding = s.value<bool>("chunked_transfer_encoding", true);
    loc.etag = s.value<bool>("etag", true);
    loc.if_modified_since = static_cast<ir::Location::IfModifiedSince>(s.value<int>("if_modified_since", 1));
    loc.log_not_found = s.value<bool>("log_not_found", true);
    loc.max_ranges = s.value<std::int64_t>("max_ranges", -1);
    if (const Directive* d = s.find("disable_symlinks")) {
        for (std::size_t i = 1; i < d->args.size(); ++i) {
            const std::string& a = d->args[i];
            if (a == "off") loc.disable_symlinks = ir::Location::Symlinks::off;
            else if (a == "on") loc.disable_symlinks = ir::Location::Symlinks::on;
            else if (a == "if_not_owner") loc.disable_symlinks = ir::Location::Symlinks::if_not_owner;
            else if (a.starts_with("from=")) loc.disable_symlinks_from = c.http().variables.unchecked_template(a.substr(5), d->where);
        }
    }
    loc.limit_rate = merge_complex_size(s, "limit_rate", c.http().variables);
    loc.limit_rate_after = merge_complex_size(s, "limit_rate_after", c.http().variables);
    loc.post_action = s.str("post_action", "");
    loc.gzip = merge_gzip(s);
    loc.client_body_buffer_size = s.value<std::int64_t>("client_body_buffer_size", 8192);
    loc.client_body_in_file_only =
        static_cast<ir::Location::BodyInFile>(s.value<int>("client_body_in_file_only", 0));
    if (const Directive* d = s.find("client_body_temp_path")) {
        loc.client_body_temp_path = c.full_path(d->args[1], false);
        for (std::size_t i = 2; i < d->args.size(); ++i)
            loc.client_body_temp_levels.push_back(static_cast<int>(*parse_number(d->args[i])));
    } else {
        loc.client_body_temp_path = c.full_path("client_body_temp", false);
    }
}

void merge_paths_and_error_pages(Compiler& c, const Scope& s, ir::Location& loc) {
    // nginx resolves root and alias against the prefix at load time (unless they hold variables).
    auto resolved = [&](const std::string& path) { return has_variables(path) ? path : c.full_path(path, false); };
    loc.root = resolved(s.str("root", "html"));
    loc.prefix = c.prefix();
    if (const Directive* r = s.find("root"); r && has_variables(r->args[1])) loc.root_template = c.http().variables.unchecked_template(r->args[1], r->where);
    if (const Directive* a = s.innermost().find("alias")) {
        loc.alias = resolved(a->args[1]);
        if (has_variables(a->args[1])) loc.alias_template = c.http().variables.unchecked_template(a->args[1], a->where);
    }
    for (const Directive* e : s.find_list("error_page")) {
        const std::size_t last = e->args.size() - 1;
        const bool overwrite = e->args[last - 1].starts_with("=");
        const int response = overwrite ? static_cast<int>(parse_number(std::string_view(e->args[last - 1]).substr(1)).value_or(0)) : -1;
        for (std::size_t i = 1; i < (overwrite ? last - 1 : last); ++i)
            loc.error_pages.push_back({static_cast<int>(*parse_number(e->args[i])), response, c.http().variables.unchecked_template(e->args[last], e->where)});
    }
    loc.recursive_error_pages = s.value<bool>("recursive_error_pages", false);
}

// What the location itself says, not inherited: try_files, internal, and whether nginx
// redirects a request for its name without the trailing slash (proxy_pass in "/name/").
void merge_own_settings(const Scope& s, ir::Location& loc, VariableScope& vars) {
    if (const Directive* t = s.innermost().find("try_files")) {
        ir::TryFiles tf;
        for (std::size_t i = 1; i + 1 < t->args.size(); ++i) tf.files.push_back(vars.unchecked_template(t->args[i], t->where));
        const std::string& last = t->args.back();
        if (last.starts_with("=")) tf.code = static_cast<int>(parse_number(std::string_view(last).substr(1)).value_or(404));
        else tf.fallback = vars.unchecked_template(last, t->where);
        loc.try_files = std::move(tf);
    }
    loc.internal = s.innermost().find("internal") != nullptr;
    loc.auto_redirect = s.innermost().find("proxy_pass") && !loc.name.empty() && loc.name.back() == '/' &&
                        (loc.match == ir::LocationMatch::exact || loc.match == ir::LocationMatch::prefix ||
                         loc.match == ir::LocationMatch::prefix_no_regex) &&
                        s.innermost().opener && s.innermost().opener->name() == "location";
}

// The rewrite statements in order, with the locations, `if` and limit_except blocks nested
// in the location, each merged down from it.
void merge_nested(Compiler& c, const Scope& s, ir::Location& loc, const Directive* pass) {
    for (const auto& d : s.innermost().directives) {
        if (auto op = rewrite_op(c.http().variables, *d)) {
            loc.script.push_back(std::move(*op));
            continue;
        }
        if (!opens_location(*d)) continue;
        ir::Location child;
        child.where = location_of(d->where);
        // An `if` block is a nameless location with its parent's name (nginx's noname).
        child.match = loc.match;
        child.name = loc.name;
        if (d->name() == "location") {
            child.match = match_of(*d);
            child.name = name_of(*d);
            if (child.match == ir::LocationMatch::regex || child.match == ir::LocationMatch::regex_caseless) {
                auto regex = std::make_shared<ir::Regex>(child.name, child.match == ir::LocationMatch::regex_caseless);
                c.http().variables.bind_captures(*regex);
                child.regex = std::move(regex);
            }
        }
        merge_locations(c, s.child(d->block.get()), child, pass);
        if (d->name() == "location") {
            loc.locations.push_back(std::move(child));
        } else if (d->name() == "limit_except") {
            for (std::size_t i = 1; i < d->args.size(); ++i) loc.limit_except_methods |= ir::method_bit(d->args[i]);
            // GET allows HEAD too (ngx_http_core_limit_except).
            if (loc.limit_except_methods & ir::kMethodGet) loc.limit_except_methods |= ir::kMethodHead;
            loc.limit_except = std::make_shared<ir::Location>(std::move(child));
        } else if (d->name() == "if") {
            ir::RewriteOp op;
            op.kind = ir::RewriteOp::Kind::if_;
            op.where = location_of(d->where);
            op.condition = if_condition(c.http().variables, *d);
            op.if_location = std::make_shared<ir::Location>(std::move(child));
            loc.script.push_back(std::move(op));
        }
    }
}

}  // namespace

void merge_locations(Compiler& c, const Scope& s, ir::Location& loc, const Directive* inherited_pass) {
    const Directive* pass = s.innermost().find("proxy_pass");
    const bool noname = s.innermost().opener && s.innermost().opener->name() != "location" &&
                        s.innermost().opener->name() != "server";
    if (!pass && noname) pass = inherited_pass;
    if (pass) loc.proxy = merge_proxy(c, s, *pass, loc.name);
    loc.error_log = merge_error_log(c, s);
    merge_expires(s, loc);
    merge_response_settings(c, s, loc);
    merge_core_settings(c, s, loc);
    merge_paths_and_error_pages(c, s, loc);
    for (const Directive* d : s.find_list("set_real_ip_from")) add_real_ip_from(*d, loc.real_ip_from);
    loc.real_ip_header = s.str("real_ip_header", "X-Real-IP");
    loc.real_ip_recursive = s.value<bool>("real_ip_recursive", false);
    merge_access_phase(c, s, loc);
    merge_own_settings(s, loc, c.http().variables);
    merge_nested(c, s, loc, pass);
    sort_in_match_order(loc.locations);
    // A regex location's exact and prefix locations are never searched: nginx builds no
    // tree for them (ngx_http_init_static_location_trees no longer sees regexes).
    if (!loc.regex) loc.static_tree = ir::build_static_location_tree(loc.locations);
}

void check_duplicate_locations(const Block& b) {
    struct Entry {
        std::string name;
        bool exact;
        const Directive* d;
    };
    std::vector<Entry> list;
    for (const auto& d : b.directives) {
        if (!d->block || d->name() != "location") continue;
        const auto m = match_of(*d);
        if (m == ir::LocationMatch::exact || m == ir::LocationMatch::prefix || m == ir::LocationMatch::prefix_no_regex)
            list.push_back({name_of(*d), m == ir::LocationMatch::exact, d.get()});
    }
    std::stable_sort(list.begin(), list.end(), [](const Entry& a, const Entry& b) {
        if (a.name != b.name) return a.name < b.name;
        return a.exact && !b.exact;
    });
    for (const auto& e : list) check_duplicate_locations(*e.d->block);
    for (std::size_t i = 0; i + 1 < list.size();) {
        Entry& q = list[i];
        const Entry& x = list[i + 1];
        if (q.name == x.name) {
            if (q.exact == x.exact) fail("duplicate location \"" + x.name + "\"" + at(x.d->where));
            q.exact = false;  // the joined node is now inclusive
            list.erase(list.begin() + static_cast<std::ptrdiff_t>(i) + 1);
            continue;
        }
        ++i;
    }
}

}  // namespace ngxlite::conf
