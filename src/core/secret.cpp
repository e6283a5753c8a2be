#include "cvmunlock/secret.hpp"

#include <openssl/crypto.h>
#include <sys/mman.h>

#include <cstring>
#include <new>
#include <utility>

namespace cvmunlock {

// mlock is a memory-management hint, not I/O: the core may use it.
SecretBuffer::SecretBuffer(std::size_t size) {
    if (size == 0) return;
    data_ = static_cast<std::uint8_t*>(::operator new(size));
    std::memset(data_, 0, size);
    size_ = size;
    capacity_ = size;
    locked_ = ::mlock(data_, capacity_) == 0;
}

SecretBuffer SecretBuffer::copy_of(ByteView data) {
    SecretBuffer s(data.size());
    if (!data.empty()) std::memcpy(s.data_, data.data(), data.size());
    return s;
}

SecretBuffer::~SecretBuffer() { release(); }

SecretBuffer::SecretBuffer(SecretBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)),
      locked_(std::exchange(other.locked_, false)) {}

SecretBuffer& SecretBuffer::operator=(SecretBuffer&& other) noexcept {
    if (this != &other) {
        release();
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
        capacity_ = std::exchange(other.capacity_, 0);
        locked_ = std::exchange(other.locked_, false);
    }
    return *this;
}

void SecretBuffer::release() noexcept {
    if (data_ == nullptr) return;
    OPENSSL_cleanse(data_, capacity_);
    if (locked_) ::munlock(data_, capacity_);
    ::operator delete(data_);
    data_ = nullptr;
    size_ = capacity_ = 0;
    locked_ = false;
}

void SecretBuffer::resize(std::size_t size) {
    if (size <= capacity_) {
        if (size < size_) OPENSSL_cleanse(data_ + size, size_ - size);
        size_ = size;
        return;
    }
    SecretBuffer bigger(size);
    if (size_ > 0) std::memcpy(bigger.data_, data_, size_);
    *this = std::move(bigger);
}

bool SecretBuffer::equals(ByteView other) const noexcept {
    if (other.size() != size_) return false;
    if (size_ == 0) return true;
    return CRYPTO_memcmp(data_, other.data(), size_) == 0;
}

void wipe(void* data, std::size_t size) noexcept {
    if (data != nullptr && size > 0) OPENSSL_cleanse(data, size);
}

}  // namespace cvmunlock
