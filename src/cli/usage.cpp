#include "usage.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "cvmunlock/closest_name.hpp"
#include "exit_codes.hpp"
#include "output.hpp"

namespace cvmunlock::cli {

namespace {

bool wants_json(int argc, const char* const* argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--") == 0) break;
        if (std::strcmp(argv[i], "--json") == 0) return true;
    }
    return false;
}

std::vector<std::string> command_names(const CLI::App& app) {
    std::vector<std::string> names;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(sub->get_name());
    return names;
}

std::vector<std::string> option_names(const CLI::App& app) {
    std::vector<std::string> names;
    for (const CLI::Option* opt : app.get_options()) {
        for (const auto& l : opt->get_lnames()) names.push_back("--" + l);
        for (const auto& s : opt->get_snames()) names.push_back("-" + s);
    }
    return names;
}

std::string path_of(const CLI::App* app) {
    std::string path;
    for (; app != nullptr && app->get_parent() != nullptr; app = app->get_parent()) {
        path = app->get_name() + (path.empty() ? "" : " " + path);
    }
    return path;
}

std::string join(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
    return out;
}

int say(const std::string& command, bool json, const std::string& message) {
    begin_output(command, json);
    return usage_error(message);
}

}  // namespace

int check_commands(CLI::App& app, int argc, const char* const* argv) {
    CLI::App* current = &app;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--") break;
        if (arg.starts_with("-")) continue;  // the command groups take no option values
        const std::vector<std::string> names = command_names(*current);
        if (names.empty()) break;
        CLI::App* sub = nullptr;
        try {
            sub = current->get_subcommand(std::string(arg));
        } catch (const CLI::OptionNotFound&) {
            sub = nullptr;
        }
        if (sub == nullptr) {
            const std::string suggestion = closest_name(arg, names);
            const std::string where = current == &app ? "command" : "subcommand";
            return say(path_of(current), wants_json(argc, argv),
                       "unknown " + where + " '" + std::string(arg) + "'" +
                           (suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?") + " (one of: " + join(names) + ")");
        }
        current = sub;
    }
    return -1;
}

int report_parse_error(CLI::App& app, const CLI::ParseError& error, int argc, const char* const* argv) {
    CLI::App* current = &app;
    for (;;) {
        const auto parsed = current->get_subcommands();
        if (parsed.empty()) break;
        current = parsed.back();
    }
    const bool json = wants_json(argc, argv);
    const std::string command = path_of(current);
    std::string message = error.what();
    if (dynamic_cast<const CLI::ExtrasError*>(&error) != nullptr) {
        // "The following arguments were not expected: A B": name the first one.
        // Options first: a value after an unknown option is only its casualty.
        const auto colon = message.find(": ");
        std::istringstream words(colon == std::string::npos ? message : message.substr(colon + 2));
        std::string first, word;
        while (words >> word) {
            if (first.empty() || (word.starts_with("-") && !first.starts_with("-"))) first = word;
        }
        if (first.starts_with("-")) {
            const std::string bare = first.substr(0, first.find('='));
            const std::string suggestion = closest_name(bare, option_names(*current));
            message = "unknown option '" + bare + "'" + (suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?");
        } else {
            message = "unexpected argument '" + first + "'";
        }
    } else if (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr && !command_names(*current).empty() &&
               current->get_subcommands().empty()) {
        message = "a subcommand is required (one of: " + join(command_names(*current)) + ")";
    }
    const std::string help = "see 'cvmunlock " + (command.empty() ? "" : command + " ") + "--help'";
    return say(command, json, message + (message.ends_with("?") ? " " + help : "; " + help));
}

}  // namespace cvmunlock::cli
