"""RFC 7616 digest: SHA-256 and MD5, the strongest challenge picked, credentials kept to the trunk."""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from akashi.telephony.sip import digest
from akashi.telephony.sip.digest import Credentials, DigestError
from akashi.telephony.sip.grammar import SipParseError

RFC7616 = {
    "realm": "http-auth@example.org",
    "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    "qop": "auth",
}
CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_worked_examples(algorithm: str, expected: str) -> None:
    """The two worked examples of RFC 7616 3.9.1."""
    got = digest.digest_response(
        {**RFC7616, "algorithm": algorithm},
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle of Life",
        cnonce=CNONCE,
    )
    assert got == expected


SHA = 'Digest realm="carrier.example", nonce="n-sha", algorithm=SHA-256, qop="auth"'
MD5 = 'Digest realm="carrier.example", nonce="n-md5", algorithm=MD5, qop="auth"'


@pytest.mark.parametrize(
    "offered",
    [
        [SHA, MD5],
        [MD5, SHA],
        [f"{MD5}, {SHA}"],
        ['Basic realm="x"', MD5, SHA],
        [MD5, SHA.replace("SHA-256", "SHA3")],
    ],
)
def test_strongest_challenge_is_answered(offered: list[str]) -> None:
    """Whatever the order (or headers folded into one value), SHA-256 wins over MD5 when offered."""
    ch = digest.choose_challenge(offered)
    want = "SHA-256" if any("SHA-256" in o for o in offered) else "MD5"
    assert ch["algorithm"] == want
    value = digest.authorization(
        offered, method="INVITE", uri="sip:0312349999@trunk", username="u", password="p"
    )
    p = digest.parse_challenge(value)
    assert p["algorithm"] == want and p["nonce"] == ch["nonce"] and p["qop"] == "auth"
    h = hashlib.sha256 if want == "SHA-256" else hashlib.md5

    def hx(s: str) -> str:
        return h(s.encode()).hexdigest()

    ha1 = hx("u:carrier.example:p")
    ha2 = hx("INVITE:sip:0312349999@trunk")
    assert p["response"] == hx(f"{ha1}:{ch['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}")


@pytest.mark.parametrize(
    ("offered", "reason"),
    [
        (['Digest realm="r", nonce="n", algorithm=SHA3-512, qop="auth"'], "not supported"),
        (['Digest realm="r", nonce="n", algorithm=MD5, qop="auth-int"'], "only auth"),
        (['Basic realm="r"'], "scheme"),
        (['Digest realm="r"'], "nonce missing"),
        ([], "no challenge"),
    ],
)
def test_unanswerable_challenges_say_why(offered: list[str], reason: str) -> None:
    """Unknown algorithm, auth-int only, no Digest: a DigestError naming the reason, never a guess."""
    with pytest.raises(DigestError) as err:
        digest.authorization(offered, method="INVITE", uri="sip:1@h", username="u", password="p")
    assert reason in err.value.reason


def test_credentials_stay_with_the_trunk() -> None:
    """Another host, port or realm gets no answer; the trunk itself does."""
    cred = Credentials("akashi-trunk", "trunkpass", "carrier.example:5070", realm="carrier.example")
    assert "trunkpass" not in repr(cred)
    with pytest.raises(DigestError, match="not the trunk"):
        cred.answer([MD5], method="INVITE", uri="sip:0312349999@127.0.0.1:5099")
    with pytest.raises(DigestError, match="not the trunk"):
        cred.answer([MD5], method="INVITE", uri="sip:0312349999@carrier.example")  # port 5060, not 5070
    with pytest.raises(DigestError, match="realm"):
        cred.answer([MD5.replace("carrier.example", "evil.example")], method="INVITE",
                    uri="sip:0312349999@carrier.example:5070")  # fmt: skip
    ok = cred.answer([MD5, SHA], method="INVITE", uri="sip:0312349999@carrier.example:5070;transport=tls")
    assert 'username="akashi-trunk"' in ok and "algorithm=SHA-256" in ok


def test_akashi_offers_sha256_then_md5_and_verifies_both() -> None:
    """Two challenge headers, SHA-256 first; an answer with either checks out; a wrong password does not."""
    offered = digest.challenges("akashi", "nonce1")
    assert [digest.parse_challenge(c)["algorithm"] for c in offered] == ["SHA-256", "MD5"]
    uri = "sip:0312349999@192.0.2.1:5060"
    for one in offered:
        value = digest.authorization(
            one, method="INVITE", uri=uri, username="201", password="agent-secret-201"
        )
        assert digest.check_authorization(value, method="INVITE", password="agent-secret-201", realm="akashi",
                                          request_uri=uri)  # fmt: skip
        assert not digest.check_authorization(value, method="INVITE", password="wrong-secret", realm="akashi",
                                              request_uri=uri)  # fmt: skip
    assert digest.challenges("akashi", "n", algorithms=["MD5"]) == [offered[1].replace("nonce1", "n")]


def test_digest_uri_must_be_the_request_uri() -> None:
    """A right answer computed for another Request-URI is refused (RFC 7616 3.4.6)."""
    value = digest.authorization(digest.challenges("akashi", "n")[0], method="INVITE",
                                 uri="sip:0312349999@192.0.2.1", username="201", password="agent-secret-201")  # fmt: skip
    check = {"method": "INVITE", "password": "agent-secret-201", "realm": "akashi"}
    assert digest.check_authorization(value, **check, request_uri="sip:0312349999@192.0.2.1")
    assert digest.check_authorization(value, **check, request_uri="sip:0312349999@192.0.2.1:5060") is False
    assert not digest.check_authorization(value, **check, request_uri="sip:0990123456@192.0.2.1")
    assert digest.check_authorization(value, **check, request_uri="SIP:0312349999@192.0.2.1")  # same URI


def test_algorithms_akashi_did_not_offer_are_refused() -> None:
    """An answer with an algorithm Akashi never offered (or a -sess variant) does not verify."""
    for alg in ("SHA-512-256", "MD5-sess", "SHA-256-sess", "MD5", "SHA-256"):
        ch = f'Digest realm="akashi", nonce="n", algorithm={alg}, qop="auth"'
        value = digest.authorization(
            ch, method="INVITE", uri="sip:1@h", username="201", password="agent-secret-201"
        )
        offered = alg in ("MD5", "SHA-256")  # the control: the same answer with an offered algorithm verifies
        assert (
            digest.check_authorization(value, method="INVITE", password="agent-secret-201", realm="akashi")
            is offered
        ), alg


KEYS = st.sampled_from(["realm", "nonce", "qop", "algorithm", "opaque", "stale", "userhash", "domain", ""])
VALUES = st.one_of(
    st.sampled_from(
        ["MD5", "SHA-256", "SHA-512-256", "MD5-sess", "auth", "auth-int", "auth,auth-int", "true"]
    ),
    st.text(max_size=20),
)
CHALLENGES = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda scheme, pairs, quote: (
            scheme + " " + ", ".join(f'{k}="{v}"' if quote else f"{k}={v}" for k, v in pairs)
        ),
        st.sampled_from(["Digest", "digest", "Basic", ""]),
        st.lists(st.tuples(KEYS, VALUES), max_size=8),
        st.booleans(),
    ),
)


@given(CHALLENGES)
def test_challenge_parsing_fails_only_with_its_own_errors(value: str) -> None:
    """Whatever a server sends, the answer is a value, a SipParseError or a DigestError, never a crash."""
    with contextlib.suppress(SipParseError):
        digest.parse_challenge(value)
    with contextlib.suppress(DigestError):
        out = digest.authorization([value], method="INVITE", uri="sip:1@h", username="u", password="p")
        assert out.startswith("Digest ") and "\r" not in out and "\n" not in out
    assert digest.check_authorization(value, method="INVITE", password="p", realm="akashi") in (True, False)
