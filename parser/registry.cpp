#include "parser/registry.hpp"

#include <algorithm>
#include <unordered_map>

namespace ngxlite::conf {

namespace {

#include "parser/directive_table.inc"

// nginx's ngx_modules[] order matters where two modules declare the same name in one
// context: the first module wins. Core before events before http before stream/mail.
int module_rank(std::string_view module) {
    static constexpr std::string_view order[] = {"nginx", "ngx_log", "ngx_conf_file", "ngx_regex",
                                                 "ngx_thread_pool", "ngx_event_openssl", "ngx_event",
                                                 "ngx_epoll_module", "ngx_http", "ngx_http_core_module"};
    for (std::size_t i = 0; i < std::size(order); ++i)
        if (order[i] == module) return static_cast<int>(i);
    if (module.starts_with("ngx_http")) return 100;
    if (module.starts_with("ngx_stream")) return 200;
    if (module.starts_with("ngx_mail")) return 300;
    return 400;
}

using DirectiveIndex = std::unordered_map<std::string_view, std::vector<const DirectiveSpec*>>;

const DirectiveIndex& directive_index() {
    static const DirectiveIndex index = [] {
        DirectiveIndex idx;
        for (const auto& table : kModuleTables)
            for (const auto& spec : table.directives) idx[spec.name].push_back(&spec);
        for (auto& [name, specs] : idx)
            std::stable_sort(specs.begin(), specs.end(), [](auto* a, auto* b) {
                return module_rank(a->module) < module_rank(b->module);
            });
        return idx;
    }();
    return index;
}

}  // namespace

const std::vector<const DirectiveSpec*>& lookup_directive(std::string_view name) {
    static const std::vector<const DirectiveSpec*> none;
    const auto& idx = directive_index();
    auto it = idx.find(name);
    return it == idx.end() ? none : it->second;
}

const char* dynamic_module_file(std::string_view module) {
    // Modules of the nginx source tree that Debian's nginx-full does not build.
    static constexpr std::string_view absent[] = {
        "ngx_kqueue_module", "ngx_iocp_module", "ngx_devpoll_module", "ngx_eventport_module",
        "ngx_google_perftools_module", "ngx_http_degradation_module"};
    if (std::find(std::begin(absent), std::end(absent), module) != std::end(absent)) return nullptr;
    if (module == "ngx_stream_geoip_module") return "ngx_stream_geoip_module.so";
    // ngxlite builds stream in, as nginx.org's packages do; Debian's build loads it.
    if (module == "ngx_stream" || module.starts_with("ngx_stream_")) return "";
    if (module == "ngx_mail" || module.starts_with("ngx_mail_")) return "ngx_mail_module.so";
    if (module == "ngx_http_geoip_module") return "ngx_http_geoip_module.so";
    if (module == "ngx_http_image_filter_module") return "ngx_http_image_filter_module.so";
    if (module == "ngx_http_xslt_filter_module") return "ngx_http_xslt_filter_module.so";
    if (module == "ngx_http_perl_module") return "ngx_http_perl_module.so";
    return "";
}

bool ModuleSet::enabled(std::string_view module) const {
    const char* file = dynamic_module_file(module);
    if (file == nullptr) return false;
    if (*file == '\0') return true;
    return std::find(loaded_files_.begin(), loaded_files_.end(), file) != loaded_files_.end();
}

bool ModuleSet::load(std::string_view file_name) {
    static constexpr std::string_view known[] = {
        "ngx_stream_module.so", "ngx_mail_module.so", "ngx_stream_geoip_module.so",
        "ngx_http_geoip_module.so", "ngx_http_image_filter_module.so",
        "ngx_http_xslt_filter_module.so", "ngx_http_perl_module.so"};
    if (std::find(std::begin(known), std::end(known), file_name) == std::end(known)) return false;
    loaded_files_.emplace_back(file_name);
    return true;
}

std::string_view configure_arguments() { return kConfigureArguments; }

}  // namespace ngxlite::conf
