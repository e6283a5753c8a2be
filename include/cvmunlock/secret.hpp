// SecretBuffer: the one type that holds key material. Move-only, mlock'd where
// possible, wiped with OPENSSL_cleanse on every path, never printable.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"

namespace cvmunlock {

class SecretBuffer {
public:
    SecretBuffer() noexcept = default;
    explicit SecretBuffer(std::size_t size);
    // Copies `data` in; the caller wipes its own copy.
    static SecretBuffer copy_of(ByteView data);
    ~SecretBuffer();
    SecretBuffer(SecretBuffer&& other) noexcept;
    SecretBuffer& operator=(SecretBuffer&& other) noexcept;
    SecretBuffer(const SecretBuffer&) = delete;
    SecretBuffer& operator=(const SecretBuffer&) = delete;

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    // The one accessor to the raw bytes: grep for "secret_bytes" to audit uses.
    [[nodiscard]] std::uint8_t* secret_bytes() noexcept { return data_; }
    [[nodiscard]] const std::uint8_t* secret_bytes() const noexcept { return data_; }
    [[nodiscard]] ByteView secret_view() const noexcept { return {data_, size_}; }
    // Shrinks (wiping the tail) or grows (zero-filled).
    void resize(std::size_t size);
    // Constant-time equality (sizes compared first, which are not secret).
    [[nodiscard]] bool equals(ByteView other) const noexcept;

private:
    void release() noexcept;
    std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
    bool locked_ = false;
};

// Wipes a byte buffer that held a secret (e.g. a library's output).
void wipe(void* data, std::size_t size) noexcept;

}  // namespace cvmunlock
