// Names of TPM command codes for messages and reports (TPM 2.0 Part 2, 6.5.2).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace cvmunlock::tpm {

// "Unseal" for TPM_CC_Unseal; the hex code for commands we never send.
inline std::string command_name(std::uint32_t cc) {
    struct Name {
        std::uint32_t cc;
        const char* name;
    };
    static constexpr Name kNames[] = {
        {0x120, "EvictControl"}, {0x131, "CreatePrimary"}, {0x153, "Create"},        {0x157, "Load"},
        {0x15E, "Unseal"},       {0x165, "FlushContext"},  {0x16B, "PolicyAuthValue"}, {0x173, "ReadPublic"},
        {0x176, "StartAuthSession"}, {0x17A, "GetCapability"}, {0x17B, "GetRandom"}, {0x17E, "PCR_Read"},
        {0x17F, "PolicyPCR"},    {0x182, "PCR_Extend"},    {0x144, "Startup"},      {0x148, "Certify"},
        {0x14E, "NV_Read"},      {0x169, "NV_ReadPublic"}, {0x16C, "PolicyCommandCode"}, {0x189, "PolicyGetDigest"},
        {0x171, "PolicyOR"},     {0x192, "PolicyAuthorizeNV"}, {0x151, "PolicySecret"}, {0x137, "NV_Write"},
        {0x12A, "NV_DefineSpace"}, {0x122, "NV_UndefineSpace"}, {0x167, "LoadExternal"}, {0x177, "VerifySignature"},
        {0x16A, "PolicyAuthorize"},
    };
    for (const auto& n : kNames) {
        if (n.cc == cc) return n.name;
    }
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%08x", cc);
    return buf;
}

// "TPM2_CC_Unseal": the form of the JSON reports.
inline std::string command_json_name(std::uint32_t cc) {
    const std::string name = command_name(cc);
    return name.starts_with("0x") ? name : "TPM2_CC_" + name;
}

}  // namespace cvmunlock::tpm
