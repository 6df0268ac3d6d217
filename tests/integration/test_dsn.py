"""Delivery status notifications end to end (RFC 3461 / 3464) on a real
instance with real users ("ptd_*"): the DSN parameters of MAIL and RCPT
(NOTIFY, ORCPT, RET, ENVID) and sendmail's -N/-R/-V go into the queue file
(postcat shows the N and W records), and the notices that come back to the
sender honour them: a success notice for NOTIFY=SUCCESS, no bounce for
NOTIFY=NEVER, one delay warning after delay_warning_time for NOTIFY=DELAY.

Routing: fail.example goes to the error agent (5.1.1), slow.example to the
retry agent (4.4.1, deferred forever), through an inline transport_maps
table. Notices are parsed with Python's email package.
"""

import os
import re
import time

import pytest

from conftest import wait_for
from smtpsys import SmtpSystem

SENDER = "ptd_amy"
RCPT = "ptd_bob"
USERS = (SENDER, RCPT)
TRANSPORT = ("inline:{ {fail.example = error:5.1.1 no such user here}, "
             "{slow.example = retry:4.4.1 try again later} }")
AGENTS = ["error     unix  -  -  y  -  -  error",
          "retry     unix  -  -  y  -  -  error"]


def make_sys(tmp_path, dwt="0"):
    s = SmtpSystem(tmp_path / "inst", users=USERS, services=AGENTS,
                   main={"transport_maps": TRANSPORT, "delay_warning_time": dwt,
                         "minimal_backoff_time": "1s", "maximal_backoff_time": "1s"})
    return s.start()


@pytest.fixture
def sys_(tmp_path):
    s = make_sys(tmp_path)
    yield s
    s.cleanup()


@pytest.fixture
def sys_warn(tmp_path):
    s = make_sys(tmp_path, dwt="1s")
    yield s
    s.cleanup()


def smtp_send(s, rcpts, subject, mail_options=(), body="hello\n"):
    """One message over SMTP from SENDER@test.example; rcpts is a list of
    (address, [RCPT parameters]). Returns the queue ID from the 250 reply."""
    msg = (f"From: {SENDER}@test.example\nTo: someone@test.example\n"
           f"Subject: {subject}\n\n{body}").replace("\n", "\r\n")
    with s.smtp() as c:
        c.ehlo("client.example")
        code, text = c.mail(f"{SENDER}@test.example", list(mail_options))
        assert code == 250, (code, text)
        for addr, opts in rcpts:
            code, text = c.rcpt(addr, list(opts))
            assert code == 250, (addr, code, text)
        code, text = c.data(msg.encode())
        assert code == 250, (code, text)
    qid = re.search(r"queued as ([0-9A-Za-z_]+)", text.decode())
    assert qid, text
    return qid.group(1)


def notices(s):
    """The notices (multipart/report) in the sender's mailbox."""
    return [m for m in s.mbox_messages(SENDER) if m.get_content_type() == "multipart/report"]


def wait_notices(s, n, what):
    return wait_for(lambda: (lambda ns: ns if len(ns) >= n else None)(notices(s)), timeout=40,
                    what=f"{what}; log:\n{s.inst.read_log()[-4000:]}")


def dsn_fields(notice):
    """(per-message fields, [per-recipient fields]) of a notice's
    message/delivery-status part, as email Message objects."""
    parts = list(notice.iter_parts())
    [status] = [p for p in parts if p.get_content_type() == "message/delivery-status"]
    blocks = status.get_payload()
    return blocks[0], blocks[1:]


def postcat(s, qid):
    return s.inst.cmd("postcat", "-q", qid).stdout


def assert_no_problems(s):
    bad = s.log_problems()
    assert not bad, "problems in the log:\n" + "\n".join(bad)


def test_notify_success_gets_a_success_notice_with_envid_orcpt_and_headers_only(sys_):
    s = sys_
    qid = smtp_send(s, [(f"{RCPT}@test.example",
                         ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;x@orig.example"])],
                    "dsn success", mail_options=["RET=HDRS", "ENVID=abc"],
                    body="the body must not come back\n")
    wait_for(lambda: s.mbox_messages(RCPT), timeout=30, what="delivery to the recipient")
    [notice] = wait_notices(s, 1, "a success notice")
    assert notice["From"] and "MAILER-DAEMON" in notice["From"], notice["From"]
    assert notice.get_param("report-type") == "delivery-status"
    per_msg, per_rcpt = dsn_fields(notice)
    assert per_msg["Original-Envelope-Id"] == "abc", str(per_msg)
    assert per_msg["Reporting-MTA"].startswith("dns;"), str(per_msg)
    [r] = per_rcpt
    assert r["Action"] == "delivered", str(r)
    assert r["Status"].startswith("2."), str(r)
    assert r["Final-Recipient"].replace(" ", "") == f"rfc822;{RCPT}@test.example", str(r)
    assert r["Original-Recipient"].replace(" ", "") == "rfc822;x@orig.example", str(r)
    # RET=HDRS: the headers come back, the body does not
    kinds = [p.get_content_type() for p in notice.iter_parts()]
    assert kinds[-1] == "text/rfc822-headers", kinds
    raw = notice.as_string()
    assert "Subject: dsn success" in raw
    assert "the body must not come back" not in raw
    # the notice was the trace log's: it is gone, and the message too
    s.wait_delivered()
    assert not os.path.exists(os.path.join(s.inst.queue, "trace", qid))
    assert not any(qid in f for _d, _s, fs in os.walk(os.path.join(s.inst.queue, "trace"))
                   for f in fs)
    assert_no_problems(s)


def test_default_notify_sends_no_success_notice(sys_):
    s = sys_
    smtp_send(s, [(f"{RCPT}@test.example", [])], "no dsn asked")
    # a second message with NOTIFY=SUCCESS: once its notice is there, the
    # first one (delivered before it) would have had its notice too
    smtp_send(s, [(f"{RCPT}@test.example", ["NOTIFY=SUCCESS"])], "dsn asked")
    wait_notices(s, 1, "the success notice of the second message")
    s.wait_delivered()
    time.sleep(1)
    ns = notices(s)
    assert len(ns) == 1, [n["Subject"] for n in ns]
    assert "dsn asked" in ns[0].as_string() and "no dsn asked" not in ns[0].as_string()


def test_notify_never_sends_no_bounce(sys_):
    s = sys_
    qid = smtp_send(s, [("u@fail.example", ["NOTIFY=NEVER"])], "never tell me")
    s.inst.wait_log(rf"{qid}: to=<u@fail\.example>.*dsn=5\.1\.1, status=bounced", timeout=30)
    # sendmail -N never: the same, through postdrop and pickup
    s.sendmail("-N", "never", "-f", f"{SENDER}@test.example", "v@fail.example",
               input="Subject: never either\n\nx\n")
    s.inst.wait_log(r"to=<v@fail\.example>.*dsn=5\.1\.1, status=bounced", timeout=30)
    # the control: a failure without NOTIFY is reported
    smtp_send(s, [("w@fail.example", [])], "tell me")
    [notice] = wait_notices(s, 1, "the bounce for w@fail.example")
    s.wait_delivered()
    time.sleep(1)
    assert len(notices(s)) == 1, "a NOTIFY=NEVER recipient was reported"
    _, per_rcpt = dsn_fields(notice)
    assert [r["Final-Recipient"].replace(" ", "") for r in per_rcpt] == [
        "rfc822;w@fail.example"]
    assert per_rcpt[0]["Action"] == "failed" and per_rcpt[0]["Status"] == "5.1.1"
    assert_no_problems(s)


def test_delay_warning_is_sent_once_for_notify_delay(sys_warn):
    s = sys_warn
    qid = smtp_send(s, [("w@slow.example", ["NOTIFY=DELAY,FAILURE"]),
                        ("x@slow.example", ["NOTIFY=FAILURE"])], "slow going",
                    mail_options=["ENVID=slow-1"])
    # the queue file holds each recipient's NOTIFY and the warning time
    env = postcat(s, qid)
    assert "dsn_notify: FAILURE,DELAY\nrecipient: w@slow.example" in env, env
    assert "dsn_notify: FAILURE\nrecipient: x@slow.example" in env, env
    assert re.search(r"^warning_message_time: ", env, re.M), env

    [notice] = wait_notices(s, 1, "a delay warning")
    per_msg, per_rcpt = dsn_fields(notice)
    assert per_msg["Original-Envelope-Id"] == "slow-1", str(per_msg)
    # only the recipient that asked for DELAY is listed
    assert [r["Final-Recipient"].replace(" ", "") for r in per_rcpt] == [
        "rfc822;w@slow.example"], [str(r) for r in per_rcpt]
    assert per_rcpt[0]["Action"] == "delayed" and per_rcpt[0]["Status"] == "4.4.1"

    # the warning time is cleared, the message still waits, no second warning
    wait_for(lambda: "warning_message_time: 0\n" in postcat(s, qid), timeout=10,
             what="the warning time cleared in the queue file")
    n = len(re.findall(r"to=<w@slow\.example>.*status=deferred", s.inst.read_log()))
    wait_for(lambda: len(re.findall(r"to=<w@slow\.example>.*status=deferred",
                                    s.inst.read_log())) >= n + 2, timeout=30,
             what="two more delivery attempts")
    assert len(notices(s)) == 1, "the delay warning was sent more than once"
    assert qid in s.inst.cmd("postqueue", "-p").stdout
    assert_no_problems(s)


def test_no_delay_warning_without_delay_warning_time(sys_):
    s = sys_
    qid = smtp_send(s, [("w@slow.example", ["NOTIFY=DELAY"])], "slow, no warnings")
    assert "warning_message_time" not in postcat(s, qid)
    wait_for(lambda: len(re.findall(r"to=<w@slow\.example>.*status=deferred",
                                    s.inst.read_log())) >= 3, timeout=30,
             what="three delivery attempts")
    assert notices(s) == []


def test_sendmail_dsn_options_reach_the_queue_file(sys_):
    s = sys_
    s.sendmail("-N", "success,delay", "-R", "hdrs", "-V", "env-42", "-f",
               f"{SENDER}@test.example", "u@slow.example", "v@slow.example",
               input="Subject: options\n\nx\n")
    wait_for(lambda: s.queue_files("deferred") or s.queue_files("active"), timeout=20,
             what="the message in the queue")
    [qid] = set(s.queue_files("deferred") + s.queue_files("active"))
    env = postcat(s, qid)
    assert "named_attribute: dsn_envid=env-42" in env, env
    assert "named_attribute: dsn_ret=HDRS" in env, env
    assert "dsn_notify=" not in env, env  # became per-recipient records
    assert env.count("dsn_notify: SUCCESS,DELAY\nrecipient: ") == 2, env

    # bad values are refused by sendmail itself
    for args in (["-N", "sometimes"], ["-N", "never,success"], ["-R", "body"],
                 ["-V", "x" * 101], ["-V", "tab\there"]):
        p = s.sendmail(*args, "-f", SENDER, "u@slow.example", input="x\n", check=False)
        assert p.returncode == 64, (args, p.returncode, p.stderr)
