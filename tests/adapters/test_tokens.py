"""Bearer JWTs: issued and verified with a pinned algorithm; every refusal is one `UNAUTHENTICATED`."""

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.auth.tokens import JwtTokens, TokenSettings
from payments_core.errors import Unauthenticated

SECRET = "a-test-secret-of-at-least-32-characters!"
SETTINGS = TokenSettings(secret=SECRET)


def now():
    return datetime.now(UTC)


def claims(**overrides):
    moment = int(time.time())
    base = {
        "sub": "alice",
        "tenant_id": "acme",
        "scope": "payments:read finance:view",
        "iss": SETTINGS.issuer,
        "aud": SETTINGS.audience,
        "iat": moment,
        "exp": moment + 600,
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def refused(tokens, token):
    with pytest.raises(Unauthenticated) as caught:
        tokens.verify(token)
    return caught.value


def test_an_issued_token_verifies_to_its_principal():
    tokens = JwtTokens(SETTINGS)
    verified_at = now().replace(microsecond=0)
    token = tokens.issue("acme", "alice", ["payments:read"], now(), verified_at, livemode=False)
    principal = tokens.verify(token)
    assert (principal.tenant_id, principal.subject, principal.scopes) == ("acme", "alice", {"payments:read"})
    assert principal.mfa_verified_at == verified_at and principal.livemode is False
    assert tokens.verify(token) == principal  # remembered, same answer


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 3600},  # expired
        {"iss": "someone-else"},
        {"aud": "another-api"},
        {"sub": None},  # required claims
        {"exp": None},
        {"iat": None},
        {"tenant_id": None},
        {"tenant_id": 42},
        {"scope": ["not", "a", "string"]},
        {"livemode": "yes"},
        {"mfa_at": "recently"},
        {"sub": "   "},  # the core's own validators refuse a blank subject
    ],
)
def test_bad_claims_are_refused(overrides):
    token = jwt.encode(claims(**overrides), SECRET, algorithm="HS256")
    error = refused(JwtTokens(SETTINGS), token)
    assert error.code == "UNAUTHENTICATED" and error.message == "invalid or expired authentication token"


def test_a_tampered_payload_or_another_secret_is_refused():
    tokens = JwtTokens(SETTINGS)
    header, _payload, signature = jwt.encode(claims(), SECRET, algorithm="HS256").split(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims(tenant_id="globex")).encode()).rstrip(b"=").decode()
    refused(tokens, f"{header}.{forged}.{signature}")
    refused(tokens, jwt.encode(claims(), "another-secret-of-at-least-32-chars!!", algorithm="HS256"))
    refused(tokens, "not.a.jwt")
    refused(tokens, "")


def test_alg_none_is_refused():
    unsigned = jwt.encode(claims(), None, algorithm="none")
    refused(JwtTokens(SETTINGS), unsigned)


def rsa_pair():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def test_rs256_verifies_and_algorithm_confusion_fails():
    private, public = rsa_pair()
    settings = TokenSettings(algorithm="RS256", public_key=public, private_key=private)
    tokens = JwtTokens(settings)
    assert tokens.verify(tokens.issue("acme", "alice", ["payments:read"], now())).subject == "alice"
    # HS256 "signed" with the public key, the classic confusion attack: refused, the algorithm is pinned.
    refused(tokens, _hmac_token(public))
    refused(tokens, jwt.encode(claims(), SECRET, algorithm="HS256"))


def _hmac_token(key: str) -> str:
    """An HS256 token whose HMAC key is the RS256 public key (pyjwt refuses to build one itself)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (
        f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims()).encode())}"
    )
    signature = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_a_remembered_token_is_refused_once_it_expires():
    tokens = JwtTokens(TokenSettings(secret=SECRET, leeway=timedelta(0)))
    token = tokens.issue("acme", "alice", ["payments:read"], now(), ttl=timedelta(seconds=1))
    assert tokens.verify(token).subject == "alice"
    time.sleep(2.1)
    refused(tokens, token)


def test_weak_or_missing_keys_are_refused_at_configuration():
    with pytest.raises(ValueError, match="32 characters"):
        TokenSettings(secret="short")
    with pytest.raises(ValueError, match="public key"):
        TokenSettings(algorithm="RS256")
    with pytest.raises(ValueError):
        TokenSettings(secret=SECRET, algorithm="none")
    assert SECRET not in repr(SETTINGS)
