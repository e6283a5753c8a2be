#include "sys_handle.hpp"

namespace cvmunlock::tpm {

SysHandle::~SysHandle() { flush_now(); }

void SysHandle::flush_now() noexcept {
    // A failed flush is left alone, as in ObjectHandle: the resource manager
    // drops the context when the connection closes.
    if (sys_ != nullptr && handle_ != 0) Tss2_Sys_FlushContext(sys_, handle_);
    handle_ = 0;
}

}  // namespace cvmunlock::tpm
