// The sealed object's authValue (requirements_auth_value): the token's SEV-SNP
// requirement is bound into it, so a token whose "snp" object was removed or
// altered presents another authValue and the TPM refuses the Unseal.
#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <functional>
#include <set>

#include "cvmunlock/sealed_secret.hpp"
#include "cvmunlock/token.hpp"

namespace cvmunlock {
namespace {

constexpr std::string_view kDomain = "cvmunlock requirements auth v1";

// An enrolled-looking token with an SNP requirement that sets every kind of field.
CvmToken snp_token() {
    CvmToken t;
    t.keyslot = 1;
    t.pcrs = {7};
    t.pcr_values = {{7, Bytes(32, 7)}};
    t.policy_digest = Bytes(32, 0xaa);
    t.srk_name = Bytes(34, 0x0b);
    t.tpm_public = Bytes(90, 2);
    t.tpm_private = Bytes(160, 3);
    SnpRequirement req;
    req.evidence = snp::EvidenceKind::AzureHcl;
    req.policy.max_vmpl = 0;
    req.policy.measurements.push_back({});
    req.policy.measurements.back().fill(0x5a);
    req.vcek = Bytes(64, 0xc3);
    t.snp = req;
    return t;
}

SecretBuffer pin_base(std::string_view pin) {
    auto p = SecretBuffer::copy_of(ByteView(reinterpret_cast<const std::uint8_t*>(pin.data()), pin.size()));
    auto a = pin_auth_value(p, Bytes(16, 0x11), 1000);
    EXPECT_TRUE(a.has_value());
    return a ? std::move(*a) : SecretBuffer();
}

Bytes auth_of(const SecretBuffer& base, const CvmToken& token) {
    auto a = requirements_auth_value(base, token_requirements(token));
    EXPECT_TRUE(a.has_value()) << a.error().message;
    return a ? Bytes(a->secret_view().begin(), a->secret_view().end()) : Bytes();
}

// The documented layout, assembled as one buffer and hashed in one call.
Bytes documented_auth(ByteView base, ByteView requirements) {
    Bytes msg(kDomain.begin(), kDomain.end());
    msg.push_back(0x00);
    msg.insert(msg.end(), base.begin(), base.end());
    msg.push_back(0x00);
    msg.insert(msg.end(), requirements.begin(), requirements.end());
    Bytes out(32);
    unsigned int len = 0;
    EXPECT_EQ(EVP_Digest(msg.data(), msg.size(), out.data(), &len, EVP_sha256(), nullptr), 1);
    EXPECT_EQ(len, 32u);
    return out;
}

TEST(SealedAuth, MatchesTheDocumentedLayout) {
    const CvmToken t = snp_token();
    const Bytes req = token_requirements(t);
    ASSERT_FALSE(req.empty());
    const SecretBuffer none;
    EXPECT_EQ(auth_of(none, t), documented_auth({}, req));
    const SecretBuffer base = pin_base("1234");
    ASSERT_EQ(base.size(), 32u);
    EXPECT_EQ(auth_of(base, t), documented_auth(base.secret_view(), req));
}

TEST(SealedAuth, WithoutRequirementsTheAuthIsTheBase) {
    CvmToken t = snp_token();
    t.snp.reset();
    ASSERT_TRUE(token_requirements(t).empty());
    const SecretBuffer base = pin_base("1234");
    EXPECT_EQ(auth_of(base, t), Bytes(base.secret_view().begin(), base.secret_view().end()));
    EXPECT_TRUE(auth_of(SecretBuffer(), t).empty());  // no PIN, no snp: no authValue, as before
}

TEST(SealedAuth, StrippedRequirementGivesAnotherAuth) {
    const CvmToken t = snp_token();
    CvmToken stripped = t;
    stripped.snp.reset();
    for (const char* pin : {"", "1234"}) {
        const SecretBuffer base = *pin == '\0' ? SecretBuffer() : pin_base(pin);
        EXPECT_NE(auth_of(base, t), auth_of(base, stripped)) << "PIN \"" << pin << "\"";
    }
}

TEST(SealedAuth, EveryRelaxationOrChangeOfTheRequirementGivesAnotherAuth) {
    const CvmToken original = snp_token();
    const struct {
        const char* what;
        std::function<void(SnpRequirement&)> edit;
    } cases[] = {
        {"allow_debug", [](SnpRequirement& r) { r.policy.allow_debug = true; }},
        {"allow_migration_agent", [](SnpRequirement& r) { r.policy.allow_migration_agent = true; }},
        {"max_vmpl relaxed", [](SnpRequirement& r) { r.policy.max_vmpl = 3; }},
        {"max_vmpl dropped", [](SnpRequirement& r) { r.policy.max_vmpl.reset(); }},
        {"measurements dropped", [](SnpRequirement& r) { r.policy.measurements.clear(); }},
        {"measurement flipped", [](SnpRequirement& r) { r.policy.measurements[0][47] ^= 1; }},
        {"measurement added", [](SnpRequirement& r) { r.policy.measurements.push_back({}); }},
        {"evidence kind", [](SnpRequirement& r) { r.evidence = snp::EvidenceKind::Auto; }},
        {"vcek dropped", [](SnpRequirement& r) { r.vcek.clear(); }},
        {"vcek flipped", [](SnpRequirement& r) { r.vcek[0] ^= 0x80; }},
        {"smt set", [](SnpRequirement& r) { r.policy.smt = false; }},
    };
    const SecretBuffer none;
    const SecretBuffer base = pin_base("1234");
    std::set<Bytes> seen = {auth_of(none, original), auth_of(base, original)};
    for (const auto& c : cases) {
        CvmToken edited = original;
        c.edit(*edited.snp);
        ASSERT_NE(token_requirements(edited), token_requirements(original)) << c.what;
        EXPECT_TRUE(seen.insert(auth_of(none, edited)).second) << c.what << " (no PIN)";
        EXPECT_TRUE(seen.insert(auth_of(base, edited)).second) << c.what << " (PIN)";
    }
}

TEST(SealedAuth, PinAndRequirementAreBothBound) {
    const CvmToken t = snp_token();
    const Bytes with_pin = auth_of(pin_base("1234"), t);
    EXPECT_NE(with_pin, auth_of(pin_base("1235"), t));  // wrong PIN, same requirement
    EXPECT_NE(with_pin, auth_of(SecretBuffer(), t));   // PIN dropped, same requirement
    EXPECT_EQ(with_pin, auth_of(pin_base("1234"), t));  // deterministic
}

TEST(SealedAuth, SurvivesTheTokenJsonRoundTrip) {
    // Unlock derives the auth from the token as parsed back from the header:
    // the canonical requirement bytes must not depend on key order or whitespace.
    const CvmToken t = snp_token();
    nlohmann::json doc = token_to_json(t);
    auto reparsed = token_from_json(doc.dump(4));
    ASSERT_TRUE(reparsed.has_value()) << reparsed.error().message;
    EXPECT_EQ(auth_of(SecretBuffer(), *reparsed), auth_of(SecretBuffer(), t));
}

TEST(SealedAuth, FlippingAnyRequirementByteChangesTheAuth) {
    const Bytes req = token_requirements(snp_token());
    auto reference = requirements_auth_value(SecretBuffer(), req);
    ASSERT_TRUE(reference.has_value());
    for (std::size_t i = 0; i < req.size(); ++i) {
        Bytes m = req;
        m[i] ^= 0x01;
        auto a = requirements_auth_value(SecretBuffer(), m);
        ASSERT_TRUE(a.has_value());
        EXPECT_FALSE(a->equals(reference->secret_view())) << "byte " << i;
    }
    // Truncation at every length (down to one byte) changes it too.
    for (std::size_t n = 1; n < req.size(); ++n) {
        auto a = requirements_auth_value(SecretBuffer(), ByteView(req.data(), n));
        ASSERT_TRUE(a.has_value());
        EXPECT_FALSE(a->equals(reference->secret_view())) << "truncated to " << n;
    }
}

TEST(SealedAuth, NeedsAuthValueWithPinOrSnp) {
    CvmToken t = snp_token();
    EXPECT_TRUE(needs_auth_value(t));
    t.pin = PinKdf{1000, Bytes(16, 1)};
    EXPECT_TRUE(needs_auth_value(t));
    t.snp.reset();
    EXPECT_TRUE(needs_auth_value(t));
    t.pin.reset();
    EXPECT_FALSE(needs_auth_value(t));
}

}  // namespace
}  // namespace cvmunlock
