// The ngxlite command line: nginx's flags with nginx's output, "ngxlite" where nginx
// prints "nginx". See README.md for the flags ngxlite adds.
#include "grammar/parse.hpp"
#include "parser/load.hpp"
#include "parser/registry.hpp"
#include "runtime/core/logs.hpp"
#include "runtime/core/master.hpp"
#include "runtime/core/process_title.hpp"
#include "tools/config_json.hpp"
#include "tools/listen_check.hpp"
#include "tools/tls_lint.hpp"

#include <openssl/opensslv.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace {

using namespace ngxlite;

// Writes to stderr without assuming it is open (a harness may have closed fd 2).
void say(const std::string& line) {
    std::string out = line + "\n";
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, out.data(), out.size());
}

void say_ngxlite(const std::string& message) { say("ngxlite: " + message); }

void out(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
}

// -V's first line is what Test::Nginx and other tools parse for the release whose
// behaviour to expect; -v names ngxlite first (README.md: the corpus' check.sh tells
// ngxlite from nginx by it).
void show_version(bool configure, bool help) {
    if (configure)
        say(std::string("nginx version: nginx/1.22.1 (ngxlite/") + NGXLITE_VERSION + ")");
    else
        say(std::string("ngxlite version: ngxlite/") + NGXLITE_VERSION + " (behaves as nginx 1.22.1)");
    if (help) {
        say(std::string("Usage: ngxlite [-?hvVtTq] [-s signal] [-p prefix]\n"
                        "             [-e filename] [-c filename] [-g directives]\n\n"
                        "Options:\n"
                        "  -?,-h         : this help\n"
                        "  -v            : show version and exit\n"
                        "  -V            : show version and configure options then exit\n"
                        "  -t            : test configuration and exit\n"
                        "  -T            : test configuration, dump it and exit\n"
                        "  -q            : suppress non-error messages during configuration testing\n"
                        "  -s signal     : send signal to a master process: stop, quit, reopen, reload\n"
                        "  -p prefix     : set prefix path (default: ") +
            conf::default_prefix() +
            ")\n"
            "  -e filename   : set error log file (default: logs/error.log)\n"
            "  -c filename   : set configuration file (default: conf/nginx.conf)\n"
            "  -g directives : set global directives out of configuration file\n"
            "  --json        : with -T, print the parsed configuration as crossplane JSON\n"
            "  --lint        : with -t, also warn where TLS to upstreams is weaker than it looks\n");
    }
    if (configure) {
        say(std::string("built with ") + OPENSSL_VERSION_TEXT);
        say("TLS SNI support enabled");
        say(std::string("configure arguments: --prefix=") + conf::default_prefix() + " --http-log-path=" +
            conf::default_http_log_path() + " " + std::string(conf::configure_arguments()));
    }
}

struct Options {
    bool help = false, version = false, configure = false, test = false, dump = false, quiet = false;
    bool json = false;
    bool lint = false;  // with -t: tools/tls_lint.hpp's warnings too
    std::string signal;
    conf::LoadOptions load;
};

// nginx's ngx_get_options, message for message.
bool parse_options(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        const char* p = argv[i];
        if (std::strcmp(p, "--json") == 0) {
            o.json = true;
            continue;
        }
        if (std::strcmp(p, "--lint") == 0) {
            o.lint = true;
            continue;
        }
        if (*p++ != '-') {
            say_ngxlite(std::string("invalid option: \"") + argv[i] + "\"");
            return false;
        }
        while (*p) {
            const char flag = *p++;
            auto value = [&](const char* what, std::string& into) {
                if (*p) {
                    into = p;
                } else if (i + 1 < argc) {
                    into = argv[++i];
                } else {
                    say_ngxlite(std::string("option \"-") + flag + "\" requires " + what);
                    return false;
                }
                p = "";
                return true;
            };
            switch (flag) {
            case '?':
            case 'h': o.version = o.help = true; break;
            case 'v': o.version = true; break;
            case 'V': o.version = o.configure = true; break;
            case 't': o.test = true; break;
            case 'T': o.test = o.dump = true; break;
            case 'q': o.quiet = true; break;
            case 'p': if (!value("directory name", o.load.prefix)) return false; break;
            case 'c': if (!value("file name", o.load.conf_file)) return false; break;
            case 'g': if (!value("parameter", o.load.globals)) return false; break;
            case 'e': if (!value("file name", o.load.error_log)) return false; break;
            case 's':
                if (!value("parameter", o.signal)) return false;
                if (o.signal != "stop" && o.signal != "quit" && o.signal != "reopen" && o.signal != "reload") {
                    say_ngxlite("invalid option: \"-s " + o.signal + "\"");
                    return false;
                }
                break;
            default:
                say_ngxlite(std::string("invalid option: \"") + flag + "\"");
                return false;
            }
        }
    }
    return true;
}

void print_diagnostics(const conf::LoadResult& r) {
    for (const auto& d : r.diagnostics) say_ngxlite(d.format());
}

// The master's loader: the parser, run with the command line's options at start and at
// each reload.
runtime::LoadedConfig load_for_master(const conf::LoadOptions& options) {
    conf::LoadResult r = conf::load(options);
    runtime::LoadedConfig loaded;
    loaded.config = std::move(r.config);
    for (const auto& d : r.diagnostics) loaded.messages.push_back({static_cast<runtime::LogLevel>(d.level), d.format()});
    return loaded;
}

int test_config(const Options& o) {
    conf::LoadOptions lo = o.load;
    lo.test_only = true;
    conf::LoadResult r = conf::load(lo);
    print_diagnostics(r);
    if (!r.config) {
        say_ngxlite("configuration file " + r.conf_file + " test failed");
        return 1;
    }
    if (!o.quiet) say_ngxlite("the configuration file " + r.conf_file + " syntax is ok");
    // As nginx's ngx_init_cycle: the log files opened, then the listening addresses.
    std::optional<std::string> err = runtime::log_files_error(*r.config);
    if (!err) err = tools::test_listeners(*r.config);
    if (err) {
        say_ngxlite("[emerg] " + *err);
        say_ngxlite("configuration file " + r.conf_file + " test failed");
        return 1;
    }
    if (o.lint)
        for (const auto& finding : tools::lint_tls(*r.config)) say_ngxlite("[warn] lint: " + finding);
    if (!o.quiet) say_ngxlite("configuration file " + r.conf_file + " test is successful");
    if (o.dump) {
        if (o.json) {
            out(tools::config_json(r) + "\n");
        } else {
            for (const auto& f : r.files) out("# configuration file " + f.path + ":\n" + f.bytes + "\n");
        }
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse_options(argc, argv, o)) return 1;
    if (o.version) {
        show_version(o.configure, o.help);
        return 0;
    }
    if (o.test) return test_config(o);
    const runtime::ConfigLoader load = [&o] { return load_for_master(o.load); };
    if (!o.signal.empty()) return runtime::send_signal(load, o.signal);
    runtime::init_process_title(argc, argv);
    return runtime::run_server(load, conf::startup_error_log(o.load));
}
