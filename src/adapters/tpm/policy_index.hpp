// The policy NV index of `enroll --nv-policy` (docs/updates.md): a vTPM NV
// index holding, as a TPMT_HA, the PCR policy that TPM2_PolicyAuthorizeNV
// (TPM 2.0 Part 3, 23.22) admits, and the writer object whose use authorizes
// changing it. Reading the index takes no secret (TPMA_NV_AUTHREAD, empty
// authValue); writing it takes a policy session with TPM2_PolicySecret on the
// writer object and TPM2_PolicyCommandCode(TPM2_NV_Write), so whoever can
// load the writer blob under this vTPM's SRK (it is kept on the encrypted
// root) can authorize a new boot, and nobody else can.
#pragma once

#include <cstdint>
#include <optional>

#include "sealed_object.hpp"

namespace cvmunlock::tpm {

// Searched for a free handle, in the TCG registry's owner range.
inline constexpr std::uint32_t kPolicyIndexFirst = 0x01300000;
inline constexpr std::uint32_t kPolicyIndexLast = 0x013000FF;

// Whether TPM2_GetCapability(TPM_CAP_COMMANDS) lists TPM2_PolicyAuthorizeNV.
Result<bool> supports_policy_authorize_nv(TpmContext& tpm);

// The writer: a keyedhash object under the SRK with an empty authValue,
// userWithAuth and noDA (it guards no secret of its own, only NV writes).
Result<SealedBlob> create_policy_writer(TpmContext& tpm, const Srk& srk);

// TPM name of an object from its marshaled TPM2B_PUBLIC (nameAlg || H(TPMT_PUBLIC)).
Result<Bytes> object_name(const Bytes& public_blob);

// Defines the index (`wanted`, or the first free handle of the range) with the
// owner hierarchy's empty password; returns its handle.
Result<std::uint32_t> define_policy_index(TpmContext& tpm, ByteView writer_name, std::optional<std::uint32_t> wanted);

// Writes `policy` (a sha256 policy digest) into the index, authorized by the
// writer; returns the index's name after the write (TPMA_NV_WRITTEN set).
Result<Bytes> write_policy_index(TpmContext& tpm, const Srk& srk, const SealedBlob& writer, std::uint32_t index,
                                 ByteView policy);

// The policy digest the index holds now.
Result<Bytes> read_policy_index(TpmContext& tpm, std::uint32_t index);

// Removes the index (owner hierarchy, empty password).
Result<void> undefine_policy_index(TpmContext& tpm, std::uint32_t index);

// Removes the index only if it is the one `writer_name` writes: its name (as
// the vTPM computes it) is that of the public area define_policy_index gives it
// for that writer, once written. NotFound when no index is there;
// PolicyRefused, touching nothing, for another index at that handle.
Result<void> undefine_policy_index_of(TpmContext& tpm, std::uint32_t index, ByteView writer_name);

}  // namespace cvmunlock::tpm
