"""The ckpt Python binding against a ckptd that requires tokens: CKPT_TOKEN and
token= reach the server, and refusals raise AuthError with the server's code
and status (401 unauthorized, 403 forbidden) while storing nothing.

Usage: CKPT_URL=http://HOST:PORT T_WRITE=... T_READ=... T_SCOPED=... test_auth.py
(run by tests/integration/98_python.sh; T_SCOPED is a write token limited to
runs starting with "exp-"). Fewer than 20 refusals in all, so the daemon's
throttling (429 after 20 failed authentications a minute) stays out of the way.
"""

import os

from tcheck import check, check_eq, check_raises, done, section

import ckpt

URL = os.environ["CKPT_URL"]
T_WRITE, T_READ, T_SCOPED = os.environ["T_WRITE"], os.environ["T_READ"], os.environ["T_SCOPED"]


def count(run):
    with ckpt.Client(token=T_READ) as c:
        try:
            return len(list(c.list(run)))
        except ckpt.NotFound:
            return 0


with section("CKPT_TOKEN"):
    os.environ["CKPT_TOKEN"] = T_WRITE
    with ckpt.Client() as c:
        info = c.push(b"with the write token", "py-auth", epoch=1)
    check_eq("Client() with CKPT_TOKEN set to a write token pushes", ("py-auth", 1), (info.run, info.epoch))
    with ckpt.Client(token=T_READ) as c:
        e = check_raises("an explicit read token wins over CKPT_TOKEN: push raises AuthError",
                         ckpt.AuthError, c.push, b"x", "py-auth")
    check_eq("  code forbidden, status 403", ("forbidden", 403), (e and e.code, e and e.status))
    del os.environ["CKPT_TOKEN"]

with section("refusals"):
    with ckpt.Client() as c:
        e = check_raises("without a token, list raises AuthError", ckpt.AuthError, list, c.list("py-auth"))
        check_eq("  code unauthorized, status 401", ("unauthorized", 401), (e and e.code, e and e.status))
        check("  AuthError is a PermissionError and a CkptError",
              isinstance(e, PermissionError) and isinstance(e, ckpt.CkptError))
        check_raises("without a token, push raises AuthError", ckpt.AuthError, c.push, b"x", "py-auth")
        check_raises("without a token, read raises AuthError", ckpt.AuthError, c.read, info.id)
    wrong = T_WRITE.split(".")[0] + "." + "0" * 64
    with ckpt.Client(token=wrong) as c:
        e = check_raises("a wrong secret raises AuthError", ckpt.AuthError, c.get, info.id)
        check_eq("  code unauthorized, status 401", ("unauthorized", 401), (e and e.code, e and e.status))
    with ckpt.Client(token=T_READ) as c:
        check_eq("a read token reads", b"with the write token", bytes(c.read(info.id)[0]))
        check_raises("a read token cannot delete: AuthError", ckpt.AuthError, c.delete, info.id)
    with ckpt.Client(token=T_SCOPED) as c:
        check_eq("a token scoped to exp- pushes to exp-1", "exp-1", c.push(b"scoped", "exp-1").run)
        e = check_raises("and is refused for py-auth with AuthError", ckpt.AuthError, c.push, b"x", "py-auth")
        check_eq("  code forbidden, status 403", ("forbidden", 403), (e and e.code, e and e.status))
        e = check_raises("a streamed push outside its scope too", ckpt.AuthError,
                         c.push, __import__("io").BytesIO(b"y" * 200_000), "py-auth")
    check_eq("none of the refused pushes stored anything", 1, count("py-auth"))

done()
