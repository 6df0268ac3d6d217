"""lib/dns against a real resolver and server: build/tests/svc/dnsq (a thin
wrapper around dns_lookup) runs inside a private network namespace whose
only DNS server is a dnsmasq with the records below (dnsns.py). Checks MX
ordering and shuffling, A/AAAA/TXT/PTR/CNAME answers, NXDOMAIN and NODATA,
invalid names, a DNSBL-style lookup, and a temporary failure when the server
is gone. Exit codes of dnsq: 0 OK, 1 NOTFOUND, 2 RETRY, 3 INVAL.
"""

import ipaddress
import os
import time

import pytest

from conftest import BUILD
from dnsns import dns_namespace  # noqa: F401  (the fixture)

DNSQ = os.path.join(BUILD, "tests", "svc", "dnsq")

LONG_TXT = "L" * 300  # dnsmasq sends it as two character-strings (255 + 45)

RECORDS = {
    "mx.test": {"MX": [(10, "mx-a.mx.test"), (10, "mx-b.mx.test"), (20, "mx-c.mx.test")]},
    "mx-a.mx.test": {"A": ["192.0.2.1", "192.0.2.2"], "AAAA": ["2001:db8::1"]},
    "txt.test": {"TXT": [("v=spf1 ", "-all")]},
    "crlf.test": {"TXT": ["bad\r\nline"]},
    "long.test": {"TXT": [LONG_TXT]},
    "alias.test": {"CNAME": "mx-a.mx.test"},
    "alias2.test": {"CNAME": "alias.test"},
    ipaddress.ip_address("192.0.2.1").reverse_pointer: {"PTR": ["mx-a.mx.test"]},
    # DNSBL: 127.0.0.2 is listed under bl.test, with a reason.
    "2.0.0.127.bl.test": {"A": ["127.0.0.2"], "TXT": ["listed: see https://bl.test/127.0.0.2"]},
    ipaddress.ip_address("2001:db8::99").reverse_pointer.replace(".ip6.arpa", ".bl.test"): {
        "A": ["127.0.0.4"]},
}


@pytest.fixture
def ns(dns_namespace):  # noqa: F811
    if not os.access(DNSQ, os.X_OK):
        pytest.fail(f"{DNSQ} is not built (make all)")
    return dns_namespace(RECORDS)


def dnsq(ns, *args):
    r = ns.run([DNSQ, *args], timeout=30)
    lines = [line.split(" ", 3) for line in r.stdout.splitlines()]
    return r.returncode, lines, r.stderr


def test_helper_serves_nxdomain_for_unknown_and_nodata_for_other_types(ns):
    assert ns.query("nothing.test", "A") == (3, 0), "unknown names must be NXDOMAIN"
    assert ns.query("www.example.com", "MX") == (3, 0), "no upstream: NXDOMAIN everywhere"
    assert ns.query("mx.test", "TXT") == (0, 0), "a known name without the type is NODATA"
    assert ns.query("mx.test", "MX") == (0, 3)


def test_mx_sorted_by_preference_and_equal_ones_shuffled(ns):
    orders = set()
    for _ in range(50):
        rc, lines, err = dnsq(ns, "MX", "mx.test")
        assert rc == 0, err
        assert [line[:3] for line in lines] == [["mx.test", "MX", "10"]] * 2 + [
            ["mx.test", "MX", "20"]], lines
        assert lines[2][3] == "mx-c.mx.test", "preference 20 must come last"
        orders.add((lines[0][3], lines[1][3]))
        if len(orders) == 2:
            break
    assert orders == {("mx-a.mx.test", "mx-b.mx.test"), ("mx-b.mx.test", "mx-a.mx.test")}, (
        f"equal preferences never shuffled in 50 lookups: {orders}")


def test_a_and_aaaa(ns):
    rc, lines, err = dnsq(ns, "A", "mx-a.mx.test")
    assert rc == 0, err
    assert sorted(line[3] for line in lines) == ["192.0.2.1", "192.0.2.2"]
    assert all(line[:2] == ["mx-a.mx.test", "A"] for line in lines)
    rc, lines, err = dnsq(ns, "AAAA", "mx-a.mx.test.")  # absolute name with the dot
    assert rc == 0, err
    assert lines == [["mx-a.mx.test", "AAAA", "0", "2001:db8::1"]]


def test_txt_strings_joined_and_control_bytes_replaced(ns):
    rc, lines, err = dnsq(ns, "TXT", "txt.test")
    assert rc == 0, err
    assert lines == [["txt.test", "TXT", "0", "v=spf1 -all"]]
    rc, lines, err = dnsq(ns, "TXT", "crlf.test")
    assert rc == 0, err
    assert lines == [["crlf.test", "TXT", "0", "bad??line"]], "CR/LF must not reach a reply"
    rc, lines, err = dnsq(ns, "TXT", "long.test")
    assert rc == 0, err
    assert lines == [["long.test", "TXT", "0", LONG_TXT]]


def test_cname_chain_is_followed(ns):
    rc, lines, err = dnsq(ns, "A", "alias2.test")
    assert rc == 0, err
    assert sorted(line[3] for line in lines) == ["192.0.2.1", "192.0.2.2"]
    assert {line[0] for line in lines} == {"mx-a.mx.test"}, "owner is the CNAME target"


def test_ptr_through_reverse_name(ns):
    rc, lines, err = dnsq(ns, "-z", "in-addr.arpa", "PTR", "192.0.2.1")
    assert rc == 0, err
    assert lines == [["1.2.0.192.in-addr.arpa", "PTR", "0", "mx-a.mx.test"]]


def test_nxdomain_and_nodata_are_not_found(ns):
    rc, lines, err = dnsq(ns, "A", "nothing.test")
    assert (rc, lines) == (1, []), err
    assert "not found" in err
    rc, lines, err = dnsq(ns, "MX", "mx-a.mx.test")  # the name exists, no MX
    assert (rc, lines) == (1, []), err


@pytest.mark.parametrize("name", ["a..test", ".test", "-a.test", "a-.test", "a b.test",
                                  "x" * 64 + ".test"])
def test_malformed_name_is_invalid_without_a_query(ns, name):
    ns.stop_dns()  # an answer would have to come from a query: there is none
    rc, lines, err = dnsq(ns, "A", name)
    assert (rc, lines) == (3, []), err


def test_dnsbl_lookup_with_reason(ns):
    rc, lines, err = dnsq(ns, "A", "2.0.0.127.bl.test")
    assert rc == 0, err
    assert lines == [["2.0.0.127.bl.test", "A", "0", "127.0.0.2"]]
    rc, lines, err = dnsq(ns, "-z", "bl.test", "TXT", "127.0.0.2")
    assert rc == 0, err
    assert lines == [["2.0.0.127.bl.test", "TXT", "0", "listed: see https://bl.test/127.0.0.2"]]
    rc, lines, err = dnsq(ns, "-z", "bl.test", "A", "127.0.0.3")
    assert (rc, lines) == (1, []), "an unlisted address is not found"
    rc, lines, err = dnsq(ns, "-z", "bl.test", "A", "2001:db8::99")
    assert rc == 0, err
    assert len(lines) == 1 and lines[0][3] == "127.0.0.4", lines
    assert lines[0][0].startswith("9.9.0.0.") and lines[0][0].endswith(".8.b.d.0.1.0.0.2.bl.test")


def test_server_gone_is_retry(ns):
    rc, lines, err = dnsq(ns, "A", "mx-a.mx.test")
    assert rc == 0, err
    ns.stop_dns()
    assert ns.query("mx-a.mx.test", "A", wait=0.5) == "timeout"
    t0 = time.monotonic()
    rc, lines, err = dnsq(ns, "A", "mx-a.mx.test")
    assert (rc, lines) == (2, []), f"no server must be a temporary failure: {err}"
    assert time.monotonic() - t0 < 10, "resolv.conf timeout:1 attempts:1 not honoured"
    ns.start_dns()
    rc, lines, err = dnsq(ns, "A", "mx-a.mx.test")
    assert rc == 0, f"after restarting dnsmasq: {err}"
