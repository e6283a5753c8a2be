#!/usr/bin/env python3
"""The JSON contract (docs/json.md): every command's --json output, on success
and on failure, validates against docs/schema/<command>.schema.json, and the
exit status is the document's error.exit (0 when ok).

usage: json_contract_test.py CVMUNLOCK SOURCE_DIR WORK_DIR EXTEND_LOG
Needs swtpm, cryptsetup and tpm2-tools (PCR extends); exits 77 without them.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

try:
    import jsonschema
except ImportError:
    print("SKIP: python3-jsonschema is not installed")
    sys.exit(77)

cli, src, work, extend_log = sys.argv[1:5]
for tool in ("swtpm", "cryptsetup", "tpm2_pcrextend"):
    if shutil.which(tool) is None:
        print(f"SKIP: {tool} is not installed")
        sys.exit(77)

schema_dir = os.path.join(src, "docs", "schema")
data = os.path.join(src, "tests", "data")
store = {}
for name in os.listdir(schema_dir):
    with open(os.path.join(schema_dir, name)) as f:
        s = json.load(f)
    store[s["$id"]] = s
base = "https://cvmunlock.invalid/schema/"
resolver = jsonschema.RefResolver(base, None, store=store)


def validator(name):
    schema = store[base + name + ".schema.json"]
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, resolver=resolver)


failures = []
seen = {}  # schema name -> {"ok": n, "error": n}


def run(args, expect_ok=None, expect_exit=None, expect_code=None, env=None):
    """Runs cvmunlock ARGS --json and checks its document; returns it."""
    p = subprocess.run([cli] + args + ["--json"], capture_output=True, text=True, env=env, timeout=120)
    where = "cvmunlock " + " ".join(args)
    try:
        doc = json.loads(p.stdout)
    except json.JSONDecodeError as e:
        failures.append(f"{where}: stdout is not one JSON document ({e}): {p.stdout!r} {p.stderr!r}")
        return None
    name = (doc.get("command") or "").replace(" ", "-")
    # No command: a command line that named none that exists; only the envelope applies.
    v = validator(name) if name else jsonschema.Draft202012Validator(
        {"$id": base + "usage.json", "$ref": "common.schema.json#/$defs/envelope"}, resolver=resolver)
    errors = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
    for e in errors:
        failures.append(f"{where}: {'/'.join(map(str, e.path)) or '(top)'}: {e.message}")
    want_exit = 0 if doc.get("ok") else (doc.get("error") or {}).get("exit")
    if p.returncode != want_exit:
        failures.append(f"{where}: exit {p.returncode}, but the document says {want_exit}")
    if expect_ok is not None and doc.get("ok") != expect_ok:
        failures.append(f"{where}: ok is {doc.get('ok')}, expected {expect_ok}: {p.stderr.strip()}")
    if expect_exit is not None and p.returncode != expect_exit:
        failures.append(f"{where}: exit {p.returncode}, expected {expect_exit}: {p.stderr.strip()}")
    if expect_code is not None and (doc.get("error") or {}).get("code") != expect_code:
        failures.append(f"{where}: error code {(doc.get('error') or {}).get('code')}, expected {expect_code}")
    if not doc.get("ok") and p.stderr.find((doc.get("error") or {}).get("message", "\0")) < 0 and want_exit != 5:
        failures.append(f"{where}: stderr does not say what the error object says: {p.stderr!r}")
    if name:
        seen.setdefault(name, {"ok": 0, "error": 0})["ok" if doc.get("ok") else "error"] += 1
    return doc


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


os.makedirs(work, exist_ok=True)
state = os.path.join(work, "tpm")
shutil.rmtree(state, ignore_errors=True)
os.makedirs(state)
def start_swtpm():
    """swtpm on a free port P and P+1 (the swtpm TCTI finds the control channel there); tried again
    on other ports when a parallel test took one first."""
    for _ in range(20):
        port = free_port()
        proc = subprocess.Popen(["swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + state,
                                 "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                                 "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                                 "--flags", "not-need-init,startup-clear"], stderr=subprocess.DEVNULL)
        for _ in range(200):
            if proc.poll() is not None:
                break
            with socket.socket() as a, socket.socket() as b:
                if a.connect_ex(("127.0.0.1", port)) == 0 and b.connect_ex(("127.0.0.1", port + 1)) == 0:
                    return proc, port
            time.sleep(0.05)
        proc.kill()
        proc.wait()
    raise SystemExit("could not start swtpm")


swtpm, port = start_swtpm()
tcti = f"swtpm:host=127.0.0.1,port={port}"
env = dict(os.environ, CVMUNLOCK_TCTI=tcti, TPM2TOOLS_TCTI=tcti)

try:
    img = os.path.join(work, "disk.img")
    key = os.path.join(work, "key")
    with open(key, "w") as f:
        f.write("correct horse battery staple")
    with open(img, "wb") as f:
        f.truncate(32 << 20)
    subprocess.run(["cryptsetup", "luksFormat", "--type", "luks2", "--batch-mode", "--pbkdf", "pbkdf2",
                    "--pbkdf-force-iterations", "1000", img, key], check=True, capture_output=True)
    log = os.path.join(data, "eventlog", "go-tpm-tools", "ubuntu-2404-amd-sevsnp.bin")
    missing = os.path.join(work, "no-such-log")
    wrong = os.path.join(work, "wrong-key")
    with open(wrong, "w") as f:
        f.write("not the passphrase")

    # The event log.
    run(["eventlog", "show", "--eventlog", log], expect_ok=True)
    run(["eventlog", "show", "--eventlog", missing], expect_exit=4)
    replay = run(["eventlog", "replay", "--eventlog", log], expect_ok=True)
    expected = os.path.join(work, "expected.json")
    with open(expected, "w") as f:
        json.dump({"banks": replay["banks"]}, f)
    run(["eventlog", "verify", "--eventlog", log, "--expected", expected], expect_ok=True)
    # The next boot: with no image changing, this boot's values; a file that is no PE image, refused.
    predicted = run(["predict", "--eventlog", log, "--pcrs", "0,4,7"], expect_ok=True)
    if predicted and any(p["changed"] or p["predicted"] != replay["banks"]["sha256"].get(str(p["pcr"]), p["current"])
                         for p in predicted["pcrs"]):
        failures.append("predict with no update does not give this boot's values: " + json.dumps(predicted))
    run(["predict", "--eventlog", log, "--update", key + ":" + key], expect_exit=3)
    run(["predict", "--eventlog", log, "--update", missing + ":" + key], expect_exit=4)
    run(["predict", "--eventlog", log, "--update", key], expect_exit=2, expect_code="usage")
    # A dbx update: only PCR 7 changes, and the dbx event is named; a variable that is no policy variable is a
    # usage error, one the log never measured (dbt) is not found.
    dbx = os.path.join(work, "dbx.esl")
    with open(dbx, "wb") as f:
        f.write(bytes.fromhex("2616c4c14c509240aca941f936934328") + (76).to_bytes(4, "little") + bytes(4) +
                (48).to_bytes(4, "little") + bytes([0x5a]) * 48)
    predicted = run(["predict", "--eventlog", log, "--pcrs", "4,7", "--efi-variable", "dbx=" + dbx], expect_ok=True)
    if predicted and ([p["pcr"] for p in predicted["pcrs"] if p["changed"]] != [7] or
                      [e["variable"] for e in predicted["replaced_events"]] != ["dbx"]):
        failures.append("predict --efi-variable dbx=FILE does not change PCR 7 alone: " + json.dumps(predicted))
    run(["predict", "--eventlog", log, "--efi-variable", "SecureBoot=" + dbx], expect_exit=2, expect_code="usage")
    # --esp: the log's shim and grub (\\EFI\\ubuntu\\...) are not on an empty ESP.
    esp = os.path.join(work, "esp")
    os.makedirs(esp, exist_ok=True)
    refused = run(["predict", "--eventlog", log, "--esp", esp], expect_exit=1)
    if refused and "shimx64.efi" not in (refused.get("error") or {}).get("message", ""):
        failures.append("predict --esp with an empty ESP does not name the missing shim: " + json.dumps(refused))
    run(["predict", "--eventlog", log, "--efi-variable", "dbt=" + dbx], expect_exit=1)
    # The vTPM as firmware would have left it: the log's events extended into it.
    subprocess.run([extend_log, tcti, log], check=True, capture_output=True)
    run(["eventlog", "verify", "--eventlog", log, "--tpm", tcti], expect_ok=True)
    run(["agent", "check", "--eventlog", log, "--tpm", tcti], expect_ok=True)
    run(["agent", "check", "--eventlog", missing, "--tpm", tcti], expect_exit=4)

    # A volume: no token yet, enrolled, unlocked, locked, changed, wiped.
    run(["status", img, "--tpm", tcti], expect_exit=5, expect_code="no-token")
    run(["explain", img, "--tpm", tcti], expect_exit=5, expect_code="no-token")
    run(["unlock", "--test", img, "--tpm", tcti], expect_exit=5, expect_code="no-token")
    run(["enroll", img, "--tpm", tcti, "--unlock-key-file", wrong, "--eventlog", log], expect_ok=False)
    enrolled = run(["enroll", img, "--tpm", tcti, "--unlock-key-file", key, "--recovery-key", "--eventlog", log],
                   expect_ok=True)
    run(["unlock", "--test", img, "--tpm", tcti, "--eventlog", log], expect_ok=True)
    run(["status", img, "--tpm", tcti], expect_ok=True)
    run(["status", img, "--tpm", "swtpm:host=127.0.0.1,port=1"], expect_exit=4)
    run(["lock", "--tpm", tcti], expect_ok=True)
    run(["status", img, "--tpm", tcti], expect_ok=True)  # locked after boot: as it should be
    run(["unlock", "--test", img, "--tpm", tcti, "--eventlog", log], expect_exit=1, expect_code="locked")
    ext = subprocess.run(["tpm2_pcrextend", "7:sha256=" + "ab" * 32], env=env, capture_output=True, text=True)
    if ext.returncode != 0:
        raise SystemExit("tpm2_pcrextend failed: " + ext.stderr)
    status = run(["status", img, "--tpm", tcti], expect_exit=1, expect_code="pcr-changed")
    run(["explain", img, "--tpm", tcti, "--eventlog", log], expect_ok=True)
    if status and status["tokens"][0]["problem"] != "pcr-changed":
        failures.append("status: the token's problem is not pcr-changed: " + json.dumps(status))
    run(["unlock", "--test", img, "--tpm", tcti, "--eventlog", log], expect_exit=1, expect_code="pcr-changed")
    run(["eventlog", "verify", "--eventlog", log, "--tpm", tcti], expect_exit=1, expect_code="log-mismatch")
    run(["agent", "check", "--eventlog", log, "--tpm", tcti], expect_exit=1, expect_code="log-mismatch")
    run(["wipe", img, "--tpm", tcti, "--unlock-key-file", key], expect_ok=True)
    run(["wipe", img, "--tpm", tcti, "--unlock-key-file", key], expect_ok=False)

    # A policy index (--nv-policy): this boot admitted; without the writer file, refused.
    states = os.path.join(work, "state")
    shutil.rmtree(states, ignore_errors=True)
    run(["update-policy", img, "--tpm", tcti, "--state-dir", states], expect_exit=5, expect_code="no-token")
    nv = run(["enroll", img, "--tpm", tcti, "--unlock-key-file", key, "--nv-policy", "--state-dir", states,
              "--eventlog", log], expect_ok=True)
    if nv and not isinstance(nv.get("nv_index"), int):
        failures.append("enroll --nv-policy: no nv_index: " + json.dumps(nv))
    run(["update-policy", img, "--tpm", tcti, "--state-dir", states, "--eventlog", log], expect_ok=True)
    # This boot ran `cvmunlock lock` above: the lock PCR still guards a policy-index token.
    run(["unlock", "--test", img, "--tpm", tcti, "--eventlog", log], expect_exit=1, expect_code="locked")
    run(["update-policy", img, "--tpm", tcti, "--state-dir", os.path.join(work, "elsewhere")], expect_exit=4)

    # SEV-SNP, offline.
    gsg = os.path.join(data, "snp", "go-sev-guest")
    tr = os.path.join(data, "snp", "trustee")
    run(["snp", "check"], expect_ok=True)
    run(["snp", "verify", "--report", gsg + "/attestation.bin", "--certs", gsg + "/vcek.testcer", "--allow-debug"],
        expect_ok=True)
    run(["snp", "verify", "--report", gsg + "/attestation.bin", "--certs", gsg + "/vcek.testcer"],
        expect_exit=1, expect_code="snp-refused")
    run(["snp", "verify", "--report", tr + "/azure-hcl-report.bin", "--certs", tr + "/azure-vcek.pem"], expect_ok=True)
    run(["snp", "verify", "--report", key, "--certs", gsg + "/vcek.testcer"], expect_exit=3)
    run(["snp", "verify", "--report", missing], expect_exit=4)
    run(["snp", "report", gsg + "/attestation.bin"], expect_ok=True)
    run(["snp", "report", tr + "/azure-hcl-report.bin"], expect_ok=True)
    run(["snp", "report", key], expect_exit=3)

    # Usage errors: the same error object.
    run(["unlok", img], expect_exit=2, expect_code="usage")
    run(["status", img, "--frobnicate"], expect_exit=2, expect_code="usage")
    run(["enroll", img, "--pcrs", "99"], expect_exit=2, expect_code="usage")
finally:
    swtpm.terminate()
    swtpm.wait()

schemas = {n[: -len(".schema.json")] for n in os.listdir(schema_dir)} - {"common"}
for name in sorted(schemas):
    counts = seen.get(name, {"ok": 0, "error": 0})
    print(f"{name}: {counts['ok']} ok, {counts['error']} error documents validated")
    if counts["ok"] == 0:
        failures.append(f"no successful {name} document was checked")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
