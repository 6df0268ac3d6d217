#!/usr/bin/python3
"""Benchmark: lookup tables. Postern's postmap beside Debian's Postfix
postmap, on this machine, in the same run.

1. build: a text table of N (default 1 000 000) lines
   "user<N>@example<M>.com value<N>", once shuffled and once sorted, turned
   into an indexed table by `postmap hash:FILE` (Postern: LMDB; Postfix:
   Berkeley DB, and LMDB when Debian's postfix-lmdb is installed). Wall
   time, user+sys CPU and peak RSS of the postmap process (wait4), size of
   the table file; best of --repeat runs (CPU and RSS from GNU time). Also the cost of one
   `postmap -d KEY` on the built table.
2. lookups: `postmap -q - hash:FILE` with every key, shuffled (all found),
   and with as many keys that are not there (all missed): lookups/s of one
   process. Then the same keys (--proxy-lookups of them) through a real
   proxymap: a private Postern instance (master + proxymap, from
   tests/integration/conftest.py) and tests/svc/mapq as the client, chrooted
   into the queue directory as mail_owner like smtpd, asking
   proxy:hash:FILE; mapq asking hash:FILE directly is the baseline that
   shows what proxymap itself costs (mapq answers one line per lookup, so it
   is slower than postmap -q - even without proxymap).
3. LDAP latency (ldap: tables against a real slapd from
   tests/integration/slapd.py): one `postmap -q -` process doing
   --ldap-lookups lookups over one connection, against a new postmap process
   (and connection) per lookup; a new process per lookup on a small hash:
   table shows what process start-up alone costs. Skipped, saying why, when
   slapd or the ldap: type does not work here.

Every file is in a temp dir, every socket on loopback. /etc/postfix is not
touched: Postfix's postmap gets a throwaway config directory (-c). Results
go to bench/results/maps.json, and a table is printed.

Needs root for the proxymap part (the real privilege model); the rest runs
as any user. Run after `make`:
  [POSTERN_BUILD=build-dir] /usr/bin/python3 bench/maps.py [-n 1000000] [--repeat 3]
      [--proxy-lookups 200000] [--ldap-lookups 2000] [--only build,lookup,proxy,ldap]
"""

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from conftest import BUILD, IS_ROOT, SBIN, Instance, ensure_accounts, wait_for  # noqa: E402

POSTMAP = os.path.join(SBIN, "postmap")
MAPQ = os.path.join(BUILD, "tests", "svc", "mapq")
PF_POSTMAP = "/usr/sbin/postmap"
GNU_TIME = "/usr/bin/time"
PF_POSTCONF = "/usr/sbin/postconf"
RESULTS = os.path.join(HERE, "results", "maps.json")
PARTS = ("build", "lookup", "proxy", "ldap")


class BenchError(Exception):
    pass


# -- running and measuring one process ------------------------------------------
def measure(argv, stdin=None, stdout=None, env=None):
    """Run argv to completion: wall seconds, user and sys CPU, peak RSS (KiB)
    of that process alone, exit status, stderr text.

    The figures come from GNU time (wait4 of a process that time forked):
    wait4 of a child forked by this Python would count Python's own RSS
    in ru_maxrss (the peak survives exec)."""
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as tf:
        fin = open(stdin, "rb") if stdin else subprocess.DEVNULL
        fout = open(stdout, "wb") if stdout else subprocess.DEVNULL
        try:
            t0 = time.perf_counter()
            p = subprocess.run([GNU_TIME, "-q", "-f", "%M %U %S", "-o", tf.name, *argv],
                               stdin=fin, stdout=fout, stderr=err, env=env)
            wall = time.perf_counter() - t0
        finally:
            for f in (fin, fout):
                if f is not subprocess.DEVNULL:
                    f.close()
        err.seek(0)
        fields = tf.read().split()
        rss, user, sys_ = int(fields[-3]), float(fields[-2]), float(fields[-1])
        return {"wall": wall, "cpu": user + sys_, "user": user, "sys": sys_, "rss_kb": rss,
                "rc": p.returncode, "stderr": err.read().decode(errors="replace")}


def best_of(n, fn):
    runs = [fn() for _ in range(n)]
    return min(runs, key=lambda r: r["wall"])


def count_lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


# -- Postfix ----------------------------------------------------------------------
def postfix_conf(tmp):
    """A throwaway config directory for Postfix's postmap (never /etc/postfix)."""
    d = os.path.join(tmp, "postfix-etc")
    os.makedirs(d)
    with open(os.path.join(d, "main.cf"), "w") as f:
        f.write("# bench/maps.py: a throwaway Postfix config directory\n"
                "compatibility_level = 3.6\n")
    return d


def postfix_types(conf):
    """Table types Debian's Postfix can build here: hash, and lmdb if installed."""
    if not os.access(PF_POSTMAP, os.X_OK):
        return []
    r = subprocess.run([PF_POSTCONF, "-c", conf, "-m"], capture_output=True, text=True)
    have = set(r.stdout.split())
    return [t for t in ("hash", "lmdb") if t in have]


def postfix_version(conf):
    r = subprocess.run([PF_POSTCONF, "-c", conf, "-h", "mail_version"], capture_output=True,
                       text=True)
    return r.stdout.strip() or "?"


# -- the data ---------------------------------------------------------------------
def make_sources(tmp, n):
    keys = [f"user{i}@example{i % 1000}.com" for i in range(n)]
    lines = [f"{k} value{i}\n" for i, k in enumerate(keys)]
    rng = random.Random(20240601)
    order = list(range(n))
    rng.shuffle(order)
    shuffled = os.path.join(tmp, "shuffled")
    with open(shuffled, "w") as f:
        f.writelines(lines[i] for i in order)
    srt = os.path.join(tmp, "sorted")
    with open(srt, "w") as f:
        f.writelines(sorted(lines))
    found = os.path.join(tmp, "keys-found")
    rng.shuffle(order)
    with open(found, "w") as f:
        f.writelines(keys[i] + "\n" for i in order)
    missed = os.path.join(tmp, "keys-missed")
    with open(missed, "w") as f:
        f.writelines(f"nobody{i}@example{i % 1000}.com\n" for i in order)
    return {"shuffled": shuffled, "sorted": srt, "found": found, "missed": missed}


def source_for(src, name):
    """Postfix's lmdb: table of FILE is FILE.lmdb, as Postern's: give it a
    copy of the source, so that the two never overwrite each other."""
    if name != "postfix-lmdb":
        return src
    if not os.path.exists(src + "-pf"):
        shutil.copyfile(src, src + "-pf")
    return src + "-pf"


def table_file(src, kind):
    return src + (".db" if kind == "postfix-hash" else ".lmdb")


# -- 1. build ---------------------------------------------------------------------
def bench_build(tmp, src, pfconf, pftypes, repeat, results):
    builders = [("postern", [POSTMAP], "hash")]
    for t in pftypes:
        builders.append((f"postfix-{t}", [PF_POSTMAP, "-c", pfconf], t))
    for order in ("shuffled", "sorted"):
        for name, argv, t in builders:
            path = source_for(src[order], name)

            def run(path=path, name=name, argv=argv, t=t):
                out = table_file(path, name)
                if os.path.exists(out):
                    os.unlink(out)
                r = measure(argv + [f"{t}:{path}"])
                if r["rc"] != 0:
                    raise BenchError(f"{name} build of {order}: exit {r['rc']}: {r['stderr']}")
                r["size"] = os.path.getsize(out)
                return r

            r = best_of(repeat, run)
            r.pop("stderr")
            results["build"][f"{name}/{order}"] = r
            print(f"  build {name:14} {order:8} {r['wall']:6.2f}s wall {r['cpu']:6.2f}s cpu "
                  f"{r['rss_kb'] / 1024:6.0f} MiB rss {r['size'] / 2**20:6.1f} MiB", flush=True)
    # One delete: Postern copies the table and renames (readers never see an
    # edit in progress); Postfix's Berkeley DB deletes in place.
    for name, argv, t in builders:
        path = source_for(src["shuffled"], name)
        r = measure(argv + ["-d", "user7@example7.com", f"{t}:{path}"])
        if r["rc"] != 0:
            raise BenchError(f"{name} -d: exit {r['rc']}: {r['stderr']}")
        r.pop("stderr")
        results["delete"][name] = r
        print(f"  delete {name:13} one key   {r['wall']:6.2f}s wall", flush=True)
    # leave the shuffled tables built, for the lookups
    for name, argv, t in builders:
        subprocess.run(argv + [f"{t}:{source_for(src['shuffled'], name)}"], check=True)


# -- 2. lookups -------------------------------------------------------------------
def bench_lookup(tmp, src, pfconf, pftypes, n, results):
    clients = [("postern", [POSTMAP], "hash")]
    clients += [(f"postfix-{t}", [PF_POSTMAP, "-c", pfconf], t) for t in pftypes]
    out = os.path.join(tmp, "out")
    for name, argv, t in clients:
        path = source_for(src["shuffled"], name)
        if not os.path.exists(table_file(path, name)):
            subprocess.run(argv + [f"{t}:{path}"], check=True)
        for kind in ("found", "missed"):
            r = measure(argv + ["-q", "-", f"{t}:{path}"], stdin=src[kind],
                        stdout=out)
            got = count_lines(out)
            want = n if kind == "found" else 0
            if got != want or r["rc"] != (0 if want else 1):
                raise BenchError(f"{name} -q - ({kind}): {got} answers, exit {r['rc']}, "
                                 f"wanted {want}: {r['stderr'][-500:]}")
            r.pop("stderr")
            r["per_s"] = n / r["wall"]
            results["lookup"][f"{name}/{kind}"] = r
            print(f"  lookup {name:13} {kind:8} {r['per_s']:10.0f}/s  "
                  f"({r['wall']:.2f}s for {n})", flush=True)


def mapq_run(argv, spec, keys, limit, tmp, tag):
    """mapq with `limit` lookup commands from a file: lookups/s, found count."""
    cmds = os.path.join(tmp, f"mapq-{tag}.in")
    with open(keys) as f, open(cmds, "w") as out:
        for i, line in enumerate(f):
            if i >= limit:
                break
            out.write(f"lookup {spec} {line}")
    outp = os.path.join(tmp, f"mapq-{tag}.out")
    r = measure(argv, stdin=cmds, stdout=outp)
    with open(outp) as f:
        answers = f.read().splitlines()
    if not answers or not answers[0].startswith("ready"):
        raise BenchError(f"mapq ({tag}) did not start: {r['stderr'][-500:]}")
    answers = answers[1:]
    found = sum(1 for a in answers if a.startswith("found: "))
    missed = sum(1 for a in answers if a == "notfound")
    if found + missed != limit:
        bad = [a for a in answers if not a.startswith("found: ") and a != "notfound"][:3]
        raise BenchError(f"mapq ({tag}): {found + missed} of {limit} answered: {bad} "
                         f"{r['stderr'][-500:]}")
    r.pop("stderr")
    r["per_s"] = limit / r["wall"]
    r["found"] = found
    return r


def bench_proxy(tmp, src, limit, results):
    if not IS_ROOT:
        print("  proxy: skipped (needs root for the real privilege model)")
        results["proxy"]["skipped"] = "not root"
        return
    if not os.access(MAPQ, os.X_OK):
        raise BenchError(f"{MAPQ} is not built; run `make` first")
    ensure_accounts()
    # proxymap runs as mail_owner: the table must be readable by it.
    os.chmod(tmp, 0o755)
    table = src["shuffled"]
    for p in (table, table + ".lmdb"):
        os.chmod(p, 0o644)
    base = tempfile.mkdtemp(prefix="postern-bench-maps-inst-")
    os.chmod(base, 0o755)
    inst = Instance(os.path.join(base, "inst"))
    try:
        inst.main["proxy_read_maps"] = f"hash:{table}"
        inst.write_config()
        inst.add_service("proxymap  unix  -  -  n  -  -  proxymap")
        inst.postern("check")
        inst.start()
        wait_for(lambda: os.path.exists(os.path.join(inst.queue, "private", "proxymap")),
                 what="private/proxymap")
        for kind in ("found", "missed"):
            direct = mapq_run([MAPQ, "-c", inst.etc], f"hash:{table}", src[kind], limit, tmp,
                              f"direct-{kind}")
            proxy = mapq_run([MAPQ, "-c", inst.etc, "-C"], f"proxy:hash:{table}", src[kind],
                             limit, tmp, f"proxy-{kind}")
            want = limit if kind == "found" else 0
            for r in (direct, proxy):
                if r["found"] != want:
                    raise BenchError(f"mapq {kind}: {r['found']} found, wanted {want}")
            results["proxy"][f"mapq-direct/{kind}"] = direct
            results["proxy"][f"mapq-proxymap/{kind}"] = proxy
            print(f"  mapq   direct        {kind:8} {direct['per_s']:10.0f}/s", flush=True)
            print(f"  mapq   via proxymap  {kind:8} {proxy['per_s']:10.0f}/s  "
                  f"({1e6 / proxy['per_s']:.1f} us per lookup)", flush=True)
    finally:
        inst.cleanup()
        shutil.rmtree(base, ignore_errors=True)


# -- 3. LDAP latency ------------------------------------------------------------------
# Uses tests/integration/slapd.py and the ldap: table type. Kept apart so
# that it can be skipped, with the reason, when either does not work here.
LDAP_USERS = 1000


def bench_ldap(tmp, n_reuse, n_new, results):
    try:
        from slapd import Slapd, SUFFIX
    except Exception as e:  # noqa: BLE001 - any import problem means "skip"
        return ldap_skip(results, f"tests/integration/slapd.py is not usable: {e}")
    if not os.access("/usr/sbin/slapd", os.X_OK):
        return ldap_skip(results, "/usr/sbin/slapd is not installed")
    ldif = "".join(
        f"dn: uid=user{i},{SUFFIX}\nobjectClass: inetOrgPerson\nuid: user{i}\ncn: User {i}\n"
        f"sn: {i}\nmail: user{i}@example.com\n\n" for i in range(LDAP_USERS))
    d = os.path.join(tmp, "ldap")
    # An equality index on mail, as any directory that mail is routed by
    # has: without it slapd scans every entry before it ends each search.
    # (Slapd's `acl` text goes into the database section of slapd.conf,
    # where index lines belong too.)
    s = Slapd(d, ldif, acl="index mail eq")
    try:
        s.start()
    except Exception as e:  # noqa: BLE001
        return ldap_skip(results, f"slapd did not start: {e}")
    try:
        cf = os.path.join(tmp, "ldap-users.cf")
        with open(cf, "w") as f:
            f.write(f"server_host = {s.url}\nsearch_base = {SUFFIX}\nquery_filter = (mail=%s)\n"
                    "result_attribute = uid\nbind = no\n")
        spec = f"ldap:{cf}"
        r = subprocess.run([POSTMAP, "-q", "user1@example.com", spec], capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0 or r.stdout != "user1\n":
            return ldap_skip(results, f"ldap: lookups do not work here (exit {r.returncode}, "
                                      f"{r.stdout!r}, {r.stderr.strip()[-300:]!r})")
        rng = random.Random(7)
        keys = [f"user{rng.randrange(LDAP_USERS)}@example.com" for _ in range(n_reuse)]
        kf = os.path.join(tmp, "ldap-keys")
        with open(kf, "w") as f:
            f.writelines(k + "\n" for k in keys)
        out = os.path.join(tmp, "ldap-out")
        m = measure([POSTMAP, "-q", "-", spec], stdin=kf, stdout=out)
        if count_lines(out) != n_reuse or m["rc"] != 0:
            raise BenchError(f"ldap -q -: {count_lines(out)} of {n_reuse}: {m['stderr'][-300:]}")
        reuse_us = m["wall"] / n_reuse * 1e6
        # The same searches by OpenLDAP's own client over one connection:
        # what slapd itself takes per search, for scale.
        vals = os.path.join(tmp, "ldap-vals")
        with open(vals, "w") as f:
            f.writelines(k + "\n" for k in keys)
        t0 = time.perf_counter()
        ls = subprocess.run(["ldapsearch", "-x", "-LLL", "-H", s.url, "-b", SUFFIX, "-f", vals,
                             "(mail=%s)", "uid"], capture_output=True, text=True, timeout=600)
        ldapsearch_us = (time.perf_counter() - t0) / n_reuse * 1e6
        if ls.returncode != 0 or ls.stdout.count("\nuid: ") != n_reuse:
            ldapsearch_us = None
        small = os.path.join(tmp, "small")
        with open(small, "w") as f:
            f.write("user1@example.com user1\n")
        subprocess.run([POSTMAP, f"hash:{small}"], check=True)
        per_proc = {}
        for name, sp in (("ldap", spec), ("hash", f"hash:{small}")):
            t0 = time.perf_counter()
            for k in keys[:n_new]:
                p = subprocess.run([POSTMAP, "-q", k if name == "ldap" else "user1@example.com",
                                    sp], capture_output=True, timeout=30)
                if p.returncode != 0:
                    raise BenchError(f"postmap -q {k} {sp}: exit {p.returncode}: {p.stderr}")
            per_proc[name] = (time.perf_counter() - t0) / n_new * 1e6
        results["ldap"] = {"reuse_us": reuse_us, "reuse_lookups": n_reuse,
                           "ldapsearch_us": ldapsearch_us, "reuse_cpu_us": m["cpu"] / n_reuse * 1e6,
                           "new_process_us": per_proc["ldap"],
                           "new_process_hash_us": per_proc["hash"], "new_lookups": n_new,
                           "directory_entries": LDAP_USERS}
        print(f"  ldap   one process, one connection   {reuse_us:8.1f} us/lookup "
              f"({n_reuse} lookups; postmap CPU {m['cpu'] / n_reuse * 1e6:.0f} us each)")
        if ldapsearch_us is not None:
            print(f"  ldap   ldapsearch -f, one connection {ldapsearch_us:8.1f} us/search "
                  "(slapd's own pace)")
        print(f"  ldap   new process per lookup        {per_proc['ldap']:8.1f} us/lookup "
              f"({n_new} lookups)")
        print(f"  hash   new process per lookup        {per_proc['hash']:8.1f} us/lookup "
              "(process start-up alone)", flush=True)
    finally:
        s.stop()


def ldap_skip(results, why):
    print(f"  ldap: SKIPPED: {why}", flush=True)
    results["ldap"] = {"skipped": why}


# -- report ---------------------------------------------------------------------------
def report_build(results, n):
    b = results["build"]
    print(f"\nBuild of {n} entries (best of {results['params']['repeat']}):")
    print(f"  {'builder/order':24} {'wall s':>7} {'cpu s':>7} {'RSS MiB':>8} {'file MiB':>9}"
          f" {'wall vs postern':>16}")
    for key, r in b.items():
        name, order = key.split("/")
        ours = b.get(f"postern/{order}")
        ratio = f"{r['wall'] / ours['wall']:.2f}x" if ours else "-"
        print(f"  {key:24} {r['wall']:7.2f} {r['cpu']:7.2f} {r['rss_kb'] / 1024:8.0f} "
              f"{r['size'] / 2**20:9.1f} {ratio:>16}")
    for name, r in results["delete"].items():
        print(f"  {'delete one key: ' + name:40} {r['wall']:7.2f} s")


def report(results, n):
    if results["build"]:
        report_build(results, n)
    if results["lookup"]:
        print("\nLookups, one process (postmap -q - < keys):")
        for key, r in results["lookup"].items():
            print(f"  {key:24} {r['per_s']:12.0f}/s")
    if results["proxy"] and "skipped" not in results["proxy"]:
        print("\nLookups through proxymap (tests/svc/mapq, one request at a time):")
        for key, r in results["proxy"].items():
            print(f"  {key:24} {r['per_s']:12.0f}/s  {1e6 / r['per_s']:7.1f} us each")
    ld = results.get("ldap", {})
    if ld:
        print("\nLDAP latency:")
        if "skipped" in ld:
            print(f"  SKIPPED: {ld['skipped']}")
        else:
            print(f"  one postmap -q -, one connection: {ld['reuse_us']:8.1f} us per lookup "
                  f"(postmap CPU {ld['reuse_cpu_us']:.0f} us)")
            if ld.get("ldapsearch_us"):
                print(f"  ldapsearch -f, one connection:    {ld['ldapsearch_us']:8.1f} us per search")
            print(f"  new postmap per lookup:           {ld['new_process_us']:8.1f} us per lookup")
            print(f"  new postmap per hash: lookup:     {ld['new_process_hash_us']:8.1f} us")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=1000000, help="table entries (default 1000000)")
    ap.add_argument("--repeat", type=int, default=3, help="builds per builder (best is kept)")
    ap.add_argument("--proxy-lookups", type=int, default=200000)
    ap.add_argument("--ldap-lookups", type=int, default=2000)
    ap.add_argument("--ldap-new-process", type=int, default=200)
    ap.add_argument("--only", default=",".join(PARTS), help="comma-separated: " + ",".join(PARTS))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (its path is printed)")
    a = ap.parse_args()
    parts = set(a.only.split(","))
    if parts - set(PARTS) or a.n < 1:
        ap.error(f"--only takes {','.join(PARTS)}; -n must be positive")
    if not os.access(POSTMAP, os.X_OK):
        sys.exit(f"{POSTMAP} is not built; run `make` first")
    if not os.access(GNU_TIME, os.X_OK):
        sys.exit(f"{GNU_TIME} (GNU time, Debian package time) is needed for the RSS figures")
    tmp = tempfile.mkdtemp(prefix="postern-bench-maps-")
    results = {"host": {"cpus": os.cpu_count(), "machine": platform.machine(),
                        "kernel": platform.release(), "loadavg_at_start": os.getloadavg()[0]},
               "params": {"n": a.n, "repeat": a.repeat, "proxy_lookups": a.proxy_lookups},
               "build": {}, "delete": {}, "lookup": {}, "proxy": {}}
    rc = 0
    try:
        pfconf = postfix_conf(tmp)
        pftypes = postfix_types(pfconf)
        results["postfix"] = {"version": postfix_version(pfconf) if pftypes else None,
                              "types": pftypes}
        print(f"Postfix {results['postfix']['version']}: builds {', '.join(pftypes) or 'nothing'}"
              + ("" if "lmdb" in pftypes else " (no lmdb: postfix-lmdb is not installed)"))
        print(f"generating {a.n} entries in {tmp} ...", flush=True)
        src = make_sources(tmp, a.n)
        if parts & {"build", "lookup", "proxy"}:
            if "build" in parts:
                bench_build(tmp, src, pfconf, pftypes, a.repeat, results)
            else:
                subprocess.run([POSTMAP, f"hash:{src['shuffled']}"], check=True)
        if "lookup" in parts:
            bench_lookup(tmp, src, pfconf, pftypes, a.n, results)
        if "proxy" in parts:
            bench_proxy(tmp, src, min(a.proxy_lookups, a.n), results)
        if "ldap" in parts:
            bench_ldap(tmp, a.ldap_lookups, a.ldap_new_process, results)
        report(results, a.n)
    except BenchError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        results["error"] = str(e)
        rc = 1
    finally:
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(results, f, indent=2)
    print(f"results: {os.path.relpath(RESULTS)}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
