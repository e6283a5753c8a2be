#include "test_data.hpp"

#include <fstream>
#include <iterator>
#include <stdexcept>

#include "cvmunlock/pcr_json.hpp"

namespace cvmunlock::testing {

std::string data_path(const std::string& relative) { return std::string(CVMUNLOCK_TEST_DATA) + "/" + relative; }

Bytes read_data(const std::string& relative) {
    std::ifstream in(data_path(relative), std::ios::binary);
    if (!in) throw std::runtime_error("cannot open test data " + relative);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

nlohmann::json expected_metadata(const std::string& name) {
    const Bytes raw = read_data("eventlog/expected_pcrs.json");
    return nlohmann::json::parse(raw.begin(), raw.end()).at(name);
}

std::vector<LogVector> log_vectors() {
    const Bytes raw = read_data("eventlog/expected_pcrs.json");
    const auto doc = nlohmann::json::parse(raw.begin(), raw.end());
    std::vector<LogVector> out;
    for (const auto& [name, entry] : doc.items()) {
        LogVector v{name, "eventlog/" + name, {}};
        if (entry.contains("expected_pcrs")) {
            nlohmann::json banks{{"banks", entry["expected_pcrs"]}};
            auto values = pcr_values_from_json(banks.dump());
            if (!values) throw std::runtime_error(name + ": " + values.error().message);
            v.expected = std::move(*values);
        }
        out.push_back(std::move(v));
    }
    return out;
}

}  // namespace cvmunlock::testing
