// A private temporary directory for one test, removed with everything in it.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace cvmunlock::testing {

class TempDir {
public:
    TempDir() {
        char tpl[] = "/tmp/cvmunlock-test-XXXXXX";
        if (::mkdtemp(tpl) != nullptr) path_ = tpl;
    }
    ~TempDir() {
        std::error_code ec;
        if (!path_.empty()) std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    // Writes `content` to NAME (creating its directories); returns the path.
    std::string write(const std::string& name, const std::string& content) const {
        const std::filesystem::path p = path_ / name;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << content;
        return p.string();
    }
    // Creates the directory NAME; returns its path.
    std::string sub(const std::string& name) const {
        const std::filesystem::path p = path_ / name;
        std::filesystem::create_directories(p);
        return p.string();
    }

private:
    std::filesystem::path path_;
};

}  // namespace cvmunlock::testing
