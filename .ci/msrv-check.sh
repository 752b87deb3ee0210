#!/usr/bin/env bash
# Is evloop's declared `rust-version` true for a program that depends on it?
#
# Rust cannot build a crate whose edition it does not know, and cargo refuses
# a package whose `rust-version` is newer than the toolchain. For each set of
# evloop's features (none, each one alone, all), this makes a scratch crate
# that depends on evloop by path, generates its lockfile, and reads
# `cargo metadata`: every package that program would build (evloop's normal
# and build dependencies for those features, on every target; never evloop's
# dev-dependencies, which a dependent does not resolve) must declare edition
# <= 2021 and a `rust-version` <= evloop's.
#
# Each set is resolved first as cargo 1.83 would (newest semver-compatible
# versions: the MSRV-aware fallback arrived in cargo 1.84). Fails if:
# - the default features (what `evloop = "0.1"` gives) need a newer Rust, or
# - a feature set needs a newer Rust even with
#   CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback (cargo >= 1.84 picks
#   versions whose rust-version fits). When only the fallback fits, it says
#   so and prints the `cargo update --precise` pins that a user of an older
#   cargo needs; the README's Features section lists them.
#
# It checks the dependency tree with the installed cargo; it does not compile
# evloop with the old toolchain (this machine and CI have none). clippy's
# `incompatible_msrv` lint (on in `cargo clippy`) checks evloop's own use of
# std against the same `rust-version`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "$PWD" <<'PY'
import itertools, json, os, subprocess, sys, tempfile

root = sys.argv[1]

def cargo(*args, env=None):
    out = subprocess.run(["cargo", *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"msrv-check: cargo {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout

def version(v):
    parts = [int(x) for x in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))

meta = json.loads(cargo("metadata", "--no-deps", "--format-version", "1", "--manifest-path", f"{root}/Cargo.toml"))
evloop = next(p for p in meta["packages"] if p["name"] == "evloop")
msrv = evloop["rust_version"]
if not msrv:
    sys.exit("msrv-check: evloop declares no rust-version")
features = sorted(f for f in evloop["features"] if f != "default")

def resolve(feats, fallback):
    """Packages a dependent with evloop `feats` builds: {id: (pkg, chain)}."""
    with tempfile.TemporaryDirectory() as d:
        os.mkdir(f"{d}/src")
        open(f"{d}/src/lib.rs", "w").close()
        with open(f"{d}/Cargo.toml", "w") as f:
            f.write(f"""[package]
name = "evloop-msrv-probe"
version = "0.0.0"
edition = "2021"
rust-version = "{msrv}"
publish = false

[dependencies]
evloop = {{ path = "{root}", features = {json.dumps(feats)} }}

# Not part of any workspace around the scratch folder.
[workspace]
""")
        env = dict(os.environ, CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS="fallback" if fallback else "allow")
        cargo("generate-lockfile", "--quiet", "--manifest-path", f"{d}/Cargo.toml", env=env)
        m = json.loads(cargo("metadata", "--format-version", "1", "--manifest-path", f"{d}/Cargo.toml", env=env))
    pkgs = {p["id"]: p for p in m["packages"]}
    nodes = {n["id"]: n for n in m["resolve"]["nodes"]}
    start = next(i for i, p in pkgs.items() if p["name"] == "evloop")
    via, stack = {start: None}, [start]
    while stack:
        node = nodes[stack.pop()]
        for dep in node["deps"]:
            if {k["kind"] for k in dep["dep_kinds"]} & {None, "build"} and dep["pkg"] not in via:
                via[dep["pkg"]] = node["id"]
                stack.append(dep["pkg"])

    def chain(i):
        names = []
        while i is not None:
            names.append(pkgs[i]["name"])
            i = via[i]
        return " <- ".join(names)

    return {i: (pkgs[i], chain(i)) for i in via}

def problems(resolved):
    bad, unknown = [], []
    for p, chain in sorted(resolved.values(), key=lambda pc: (pc[0]["name"], pc[0]["version"])):
        why = []
        if int(p["edition"]) > 2021:
            why.append(f"edition {p['edition']}")
        rv = p.get("rust_version")
        if rv is None:
            unknown.append(f"{p['name']} {p['version']}")
        elif version(rv) > version(msrv):
            why.append(f"rust-version {rv}")
        if why:
            bad.append((p, f"{p['name']} {p['version']}: {', '.join(why)} ({chain})"))
    return bad, unknown

sets = [[]] + [[f] for f in features] + ([features] if len(features) > 1 else [])
failed = False
print(f"msrv-check: evloop rust-version {msrv}, features {features}")
for feats in sets:
    label = "default features" if not feats else "features " + ",".join(feats)
    resolved = resolve(feats, fallback=False)
    bad, unknown = problems(resolved)
    if not bad:
        print(f"  ok   {label}: {len(resolved)} packages, newest versions fit")
        if unknown:
            print(f"       (no rust-version, edition checked only: {', '.join(unknown)})")
        continue
    for _, b in bad:
        print(f"       newest versions: TOO NEW {b}")
    if not feats:
        print(f"  FAIL {label}: `evloop = \"0.1\"` needs a newer Rust than {msrv}")
        failed = True
        continue
    resolved_fb = resolve(feats, fallback=True)
    bad_fb, _ = problems(resolved_fb)
    if bad_fb:
        for _, b in bad_fb:
            print(f"       MSRV-aware fallback: TOO NEW {b}")
        print(f"  FAIL {label}: no version of its dependencies fits Rust {msrv}")
        failed = True
        continue
    fb = {p["name"]: p["version"] for p, _ in resolved_fb.values()}
    pins = sorted({f"cargo update -p {p['name']} --precise {fb[p['name']]}" for p, _ in bad if p["name"] in fb})
    print(f"  ok   {label}: fits Rust {msrv} with cargo >= 1.84's MSRV-aware resolution; "
          f"with an older cargo: {'; '.join(pins)}")
if failed:
    sys.exit(1)
print("msrv-check: passed")
PY
