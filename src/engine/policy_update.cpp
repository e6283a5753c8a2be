#include "policy_update.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "../adapters/file/read_file.hpp"
#include "../adapters/file/write_file.hpp"
#include "cvmunlock/replay.hpp"
#include "cvmunlock/token_policy.hpp"
#include "luks/volume.hpp"
#include "tpm/policy_index.hpp"
#include "unseal.hpp"

namespace cvmunlock::engine {

namespace {
using nlohmann::json;

constexpr const char* kWriterType = "cvmunlock-policy-writer";

std::string hex_handle(std::uint32_t index) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", index);
    return buf;
}

struct WriterFile {
    std::string luks_uuid;
    std::uint32_t index = 0;
    Bytes srk_name;
    tpm::SealedBlob writer;
};

Result<void> save_writer(const std::string& path, const WriterFile& w) {
    const json doc{{"type", kWriterType},
                   {"version", 1},
                   {"luks_uuid", w.luks_uuid},
                   {"nv_index", w.index},
                   {"srk_name", to_hex(w.srk_name)},
                   {"public", base64_encode(w.writer.public_blob)},
                   {"private", base64_encode(w.writer.private_blob)}};
    const std::string text = doc.dump(2) + "\n";
    return file::write_atomic(path, ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), 0600);
}

Result<WriterFile> load_writer(const std::string& path) {
    auto bytes = file::read_all(path, 64 * 1024);
    if (!bytes) {
        return std::unexpected(bytes.error().context("the policy writer file (kept on the root file system since "
                                                     "enroll --nv-policy; without it the policy cannot be updated: "
                                                     "re-enroll with the recovery key)"));
    }
    const json doc = json::parse(bytes->begin(), bytes->end(), nullptr, false);
    auto bad = [&path](const std::string& what) { return fail(ErrorCode::InvalidInput, path + ": " + what); };
    if (!doc.is_object() || !doc.contains("type") || doc["type"] != kWriterType || !doc.contains("version") ||
        doc["version"] != 1) {
        return bad("not a cvmunlock policy writer file (version 1)");
    }
    WriterFile w;
    for (const char* key : {"luks_uuid", "srk_name", "public", "private"}) {
        if (!doc.contains(key) || !doc[key].is_string()) return bad(std::string(key) + ": missing or not a string");
    }
    if (!doc.contains("nv_index") || !doc["nv_index"].is_number_unsigned()) return bad("nv_index: missing");
    w.luks_uuid = doc["luks_uuid"].get<std::string>();
    w.index = doc["nv_index"].get<std::uint32_t>();
    auto srk = from_hex(doc["srk_name"].get<std::string>());
    auto pub = base64_decode(doc["public"].get<std::string>());
    auto priv = base64_decode(doc["private"].get<std::string>());
    if (!srk || !pub || !priv) return bad("srk_name, public or private is not hex/base64");
    w.srk_name = std::move(*srk);
    w.writer = {std::move(*pub), std::move(*priv)};
    return w;
}

Error as_error(const Refusal& r) { return Error(ErrorCode::PolicyRefused, r.summary(), r.native); }

Result<std::optional<FoundToken>> policy_token(luks::Volume& volume, const PolicyUpdateRequest& rq) {
    auto text = volume.metadata_json();
    if (!text) return std::unexpected(text.error());
    auto tokens = cvmunlock_tokens(json::parse(*text, nullptr, false));
    if (!tokens) return std::unexpected(tokens.error());
    std::vector<FoundToken> nv;
    for (auto& t : *tokens) {
        if (t.token.nv_policy && (!rq.token || *rq.token == t.id)) nv.push_back(std::move(t));
    }
    if (nv.empty()) return std::optional<FoundToken>();
    if (nv.size() > 1) return fail(ErrorCode::InvalidInput, rq.device + ": several --nv-policy tokens: choose one with --token");
    return std::optional<FoundToken>(std::move(nv.front()));
}

// This boot's branch: the sealed PCRs as the vTPM has them, the lock PCR at its boot value.
Result<PcrBranch> current_branch(tpm::TpmContext& tpm, const CvmToken& token) {
    PcrBranch branch;
    auto now = tpm.read_pcrs({{token.pcr_bank, std::set<std::uint32_t>(token.pcrs.begin(), token.pcrs.end())}});
    if (!now) return std::unexpected(now.error());
    for (std::uint32_t pcr : token.pcrs) {
        auto v = (*now)[token.pcr_bank].find(pcr);
        if (v == (*now)[token.pcr_bank].end()) return fail(ErrorCode::Unavailable, "the vTPM did not return PCR " + std::to_string(pcr));
        branch[pcr] = v->second;
    }
    if (token.lock_pcr) branch[*token.lock_pcr] = pcr_initial_value(token.pcr_bank, *token.lock_pcr, std::nullopt);
    return branch;
}

// The next boot's branch, from this boot's log with the updates applied. The
// log must reproduce the vTPM's sealed PCRs, or the prediction stands on sand.
Result<PcrBranch> predicted_branch(const CvmToken& token, const PcrBranch& current, const PolicyUpdateRequest& rq,
                                   PolicyUpdateReport& report) {
    auto bytes = file::read_all(rq.eventlog_path);
    if (!bytes) return std::unexpected(bytes.error());
    auto log = parse_event_log(*bytes);
    if (!log) return std::unexpected(log.error().context(rq.eventlog_path));
    auto p = predict_next_boot(*log, rq.updates);
    if (!p) return std::unexpected(p.error());
    const std::string bank(hash_alg_name(token.pcr_bank));
    auto replayed = p->current.find(token.pcr_bank);
    auto next = p->predicted.find(token.pcr_bank);
    if (replayed == p->current.end() || next == p->predicted.end()) {
        return fail(ErrorCode::NotFound, rq.eventlog_path + ": the log records no " + bank + " digests");
    }
    PcrBranch out = current;
    for (std::uint32_t pcr : token.pcrs) {
        auto value_in = [&](const std::map<std::uint32_t, Bytes>& m) {
            auto it = m.find(pcr);
            return it == m.end() ? pcr_initial_value(token.pcr_bank, pcr, std::nullopt) : it->second;
        };
        if (value_in(replayed->second) != current.at(pcr)) {
            return fail(ErrorCode::PolicyRefused, rq.eventlog_path + ": replaying the log does not give the vTPM's PCR " +
                                                      std::to_string(pcr) + " (" + bank + "): cannot predict from it "
                                                      "(cvmunlock eventlog verify names the difference)");
        }
        out[pcr] = value_in(next->second);
    }
    report.replaced = std::move(p->replaced);
    return out;
}
// The branches the index really admits: the token's list (or, after an
// interrupted update, its pending one) whose policy is the index's content.
// The list is host-writable; the index is not.
Result<std::vector<PcrBranch>> admitted_branches(tpm::TpmContext& tpm, const CvmToken& token) {
    auto held = tpm::read_policy_index(tpm, token.nv_policy->index);
    if (!held) return std::unexpected(held.error());
    for (const auto* list : {&token.nv_policy->branches, &token.nv_policy->pending}) {
        if (list->empty()) continue;
        auto digest = authorized_policy(token.pcr_bank, *list);
        if (digest && *digest == *held) return *list;
    }
    return fail(ErrorCode::Tampered, "the token's list of admitted boots is not what the vTPM's policy index " +
                                         hex_handle(token.nv_policy->index) + " holds: the header was altered");
}

// Only a boot the index admitted may admit others: a boot that opened with the
// recovery key (Secure Boot off, an unpredicted change) must not make itself
// the new normal.
std::string not_admitted_message(const CvmToken& token, const PcrBranch& current, const std::vector<PcrBranch>& admitted) {
    std::string differ;
    std::size_t n = 0;
    for (const auto& [pcr, value] : current) {
        if (admitted.front().at(pcr) != value) differ += (n++ == 0 ? "" : ", ") + std::to_string(pcr);
    }
    return "this boot is not one the vTPM's policy index admits (" + std::string(n == 1 ? "PCR " : "PCRs ") + differ +
           " (" + std::string(hash_alg_name(token.pcr_bank)) + ") " + (n == 1 ? "differs" : "differ") +
           " from the last admitted boot): update-policy "
           "only extends the policy from an admitted boot; to bind the volume to this boot, enroll again with the "
           "recovery key (cvmunlock enroll --nv-policy --wipe-slot=cvmunlock)";
}
}  // namespace

std::string policy_writer_path(const std::string& state_dir, const std::string& luks_uuid, std::uint32_t index) {
    return (std::filesystem::path(state_dir) / ("policy-writer-" + luks_uuid + "-" + hex_handle(index) + ".json")).string();
}

std::vector<std::uint32_t> policy_indexes_of(const std::vector<luks::TokenEntry>& entries, const std::vector<int>& tokens) {
    std::vector<std::uint32_t> removed;
    std::set<std::uint32_t> kept;
    for (const luks::TokenEntry& t : entries) {
        if (t.type != kTokenType) continue;
        auto token = token_from_json(t.json);
        if (!token || !token->nv_policy) continue;
        if (std::find(tokens.begin(), tokens.end(), t.id) != tokens.end()) {
            removed.push_back(token->nv_policy->index);
        } else {
            kept.insert(token->nv_policy->index);
        }
    }
    // An index a token that stays names is never released: the header is host-writable, and a removed
    // token edited to name the index enroll just made for its successor must not take it along.
    std::erase_if(removed, [&kept](std::uint32_t index) { return kept.contains(index); });
    return removed;
}

std::vector<std::string> release_policy_indexes(tpm::TpmContext& tpm, const std::vector<std::uint32_t>& indexes,
                                                const std::string& state_dir, const std::string& luks_uuid) {
    std::vector<std::string> notes;
    for (std::uint32_t index : indexes) {
        const std::string path = policy_writer_path(state_dir, luks_uuid, index);
        const std::string what = "policy index " + hex_handle(index);
        std::error_code ec;
        if (!std::filesystem::exists(path, ec)) {
            notes.push_back(what + " kept: this volume has no writer file for it (" + path + ")");
            continue;
        }
        auto writer = load_writer(path);
        auto name = writer ? tpm::object_name(writer->writer.public_blob) : Result<Bytes>(std::unexpected(writer.error()));
        if (!name) {
            notes.push_back(what + " kept: " + name.error().message);
            continue;
        }
        auto gone = tpm::undefine_policy_index_of(tpm, index, *name);
        if (!gone && gone.error().code != ErrorCode::NotFound) {
            notes.push_back(what + " and " + path + " kept: " + gone.error().message);
            continue;
        }
        if (!std::filesystem::remove(path, ec) && ec) {
            notes.push_back(what + (gone ? " removed" : " was already gone") + "; " + path + " kept: " + ec.message());
            continue;
        }
        notes.push_back(what + (gone ? " removed" : " was already gone") + ", and its writer file " + path);
    }
    return notes;
}

Result<NvPolicy> setup_policy_index(tpm::TpmContext& tpm, const tpm::Srk& srk, HashAlg bank, const PcrBranch& branch,
                                    std::optional<std::uint32_t> wanted, const std::string& state_dir,
                                    const std::string& luks_uuid) {
    auto supported = tpm::supports_policy_authorize_nv(tpm);
    if (!supported) return std::unexpected(supported.error());
    if (!*supported) {
        return fail(ErrorCode::Unavailable, "this vTPM does not implement TPM2_PolicyAuthorizeNV: enroll without "
                                            "--nv-policy (then a change of the sealed PCRs needs enrolling again "
                                            "with the recovery key)");
    }
    auto writer = tpm::create_policy_writer(tpm, srk);
    if (!writer) return std::unexpected(writer.error());
    auto writer_name = tpm::object_name(writer->public_blob);
    if (!writer_name) return std::unexpected(writer_name.error());
    auto index = tpm::define_policy_index(tpm, *writer_name, wanted);
    if (!index) return std::unexpected(index.error());
    auto undo = [&tpm, &index](Error e) {
        (void)tpm::undefine_policy_index(tpm, *index);
        return std::unexpected(std::move(e));
    };
    NvPolicy nv;
    nv.index = *index;
    nv.branches = {branch};
    auto digest = authorized_policy(bank, nv.branches);
    if (!digest) return undo(digest.error());
    auto name = tpm::write_policy_index(tpm, srk, *writer, *index, *digest);
    if (!name) return undo(name.error());
    nv.name = std::move(*name);
    const std::string path = policy_writer_path(state_dir, luks_uuid, *index);
    if (auto r = save_writer(path, {luks_uuid, *index, srk.name, *writer}); !r) return undo(r.error());
    return nv;
}

Result<std::optional<PolicyUpdateReport>> update_policy(const PolicyUpdateRequest& rq) {
    auto volume = luks::Volume::open(rq.device);
    if (!volume) return std::unexpected(volume.error());
    auto found = policy_token(*volume, rq);
    if (!found) return std::unexpected(found.error());
    if (!*found) return std::optional<PolicyUpdateReport>();
    CvmToken token = std::move((*found)->token);
    const int id = (*found)->id;
    if (auto r = check_token_consistency(token, id)) return std::unexpected(as_error(*r));
    PolicyUpdateReport report;
    report.token = id;
    report.index = token.nv_policy->index;

    auto writer = load_writer(policy_writer_path(rq.state_dir, volume->uuid(), token.nv_policy->index));
    if (!writer) return std::unexpected(writer.error());
    if (writer->srk_name != token.srk_name || writer->index != token.nv_policy->index) {
        return fail(ErrorCode::InvalidInput, "the policy writer file is for another SRK or index than token " + std::to_string(id));
    }
    auto tpm = tpm::TpmContext::open(rq.tcti, rq.limits);
    if (!tpm) return std::unexpected(tpm.error());
    auto srk = enrolled_srk(token, id, **tpm);
    if (!srk) return std::unexpected(as_error(srk.error()));
    auto current = current_branch(**tpm, token);
    if (!current) return std::unexpected(current.error());
    report.current = *current;
    auto admitted = admitted_branches(**tpm, token);
    if (!admitted) return std::unexpected(admitted.error());
    if (std::find(admitted->begin(), admitted->end(), *current) == admitted->end()) {
        return fail(ErrorCode::PolicyRefused, not_admitted_message(token, *current, *admitted));
    }
    std::vector<PcrBranch> branches{*current};
    if (!rq.updates.empty()) {
        auto next = predicted_branch(token, *current, rq, report);
        if (!next) return std::unexpected(next.error());
        if (*next != *current) {
            report.predicted = *next;
            branches.push_back(std::move(*next));
        }
    }
    for (const PcrBranch& old : token.nv_policy->branches) {
        if (std::find(branches.begin(), branches.end(), old) == branches.end()) ++report.dropped;
    }
    if (branches == token.nv_policy->branches && token.nv_policy->pending.empty()) {
        return std::optional<PolicyUpdateReport>(std::move(report));  // the index admits exactly these already
    }
    auto digest = authorized_policy(token.pcr_bank, branches);
    if (!digest) return std::unexpected(digest.error());

    // Token with the pending list, index, token with the list in force: a
    // crash between any two leaves a token whose lists include the index's.
    token.nv_policy->pending = branches;
    if (auto r = volume->replace_token(id, token_to_json(token).dump()); !r) return std::unexpected(r.error());
    auto name = tpm::write_policy_index(**tpm, *srk, writer->writer, token.nv_policy->index, *digest);
    if (!name) return std::unexpected(name.error());
    if (*name != token.nv_policy->name) {
        return fail(ErrorCode::Tampered, "the policy index " + hex_handle(token.nv_policy->index) +
                                             " changed its name: it is not the index the key was sealed for");
    }
    report.written = true;
    token.nv_policy->branches = branches;
    token.nv_policy->pending.clear();
    token.pcr_values = branches.front();
    if (!rq.eventlog_path.empty()) {
        if (auto bytes = file::read_all(rq.eventlog_path)) {
            if (auto log = parse_event_log(*bytes)) {
                for (std::uint32_t pcr : token.pcrs) token.events[pcr] = event_digest_prefixes(*log, token.pcr_bank, pcr);
            }
        }
    }
    if (auto r = volume->replace_token(id, token_to_json(token).dump()); !r) return std::unexpected(r.error());
    return std::optional<PolicyUpdateReport>(std::move(report));
}

}  // namespace cvmunlock::engine
