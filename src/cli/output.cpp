#include "output.hpp"

#include <cstdio>

#include "exit_codes.hpp"

namespace cvmunlock::cli {

namespace {
struct OutputState {
    std::string command;
    bool json = false;
};
OutputState& state() {
    static OutputState s;
    return s;
}
}  // namespace

void begin_output(std::string_view command, bool json) {
    state().command = command;
    state().json = json;
}

bool json_output() noexcept { return state().json; }

OutJson new_document() { return engine::json_document(state().command); }

int report_error(const std::string& what, const Error& error) {
    std::fprintf(stderr, "cvmunlock: %s: %s\n", what.c_str(), error.message.c_str());
    const int code = exit_code_for(error);
    if (json_output()) {
        OutJson doc = new_document();
        engine::set_error(doc, error, code);
        engine::print_json(doc);
    }
    return code;
}

int usage_error(const std::string& message) {
    if (state().command.empty()) {
        std::fprintf(stderr, "cvmunlock: %s\n", message.c_str());
    } else {
        std::fprintf(stderr, "cvmunlock: %s: %s\n", state().command.c_str(), message.c_str());
    }
    if (json_output()) {
        OutJson doc = new_document();
        engine::set_error(doc, kExitUsage, "usage", message);
        engine::print_json(doc);
    }
    return kExitUsage;
}

int finish(const OutJson& doc, bool said) {
    engine::print_json(doc);
    const auto& error = doc["error"];
    if (!error.is_object()) return kExitOk;
    if (!said) {
        const std::string message = error["message"].get<std::string>();
        std::fprintf(stderr, "cvmunlock: %s%s%s\n", state().command.c_str(), state().command.empty() ? "" : ": ",
                     message.c_str());
    }
    return error["exit"].get<int>();
}

}  // namespace cvmunlock::cli
