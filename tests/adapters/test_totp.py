"""PyOtpTotp: RFC 6238 codes, 30-second steps, one step of drift either way, the matched step answered."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest

from adapters.auth.totp import PyOtpTotp

# RFC 6238 appendix B: the SHA-1 key "12345678901234567890"; at T = 59 s the 8-digit code is 94287082.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
AT = datetime(2026, 3, 1, 9, 0, 10, tzinfo=UTC)
STEP = int(AT.timestamp()) // 30


@pytest.fixture
def totp() -> PyOtpTotp:
    return PyOtpTotp()


def test_the_rfc_6238_vector_is_accepted_at_its_step(totp: PyOtpTotp) -> None:
    at = datetime.fromtimestamp(59, UTC)

    assert totp.verify(RFC_SECRET, "287082", at) == 1
    assert totp.verify(RFC_SECRET, "287083", at) is None


def test_new_secrets_are_160_bit_base32_and_never_repeat(totp: PyOtpTotp) -> None:
    secrets = {totp.new_secret() for _ in range(50)}

    assert len(secrets) == 50
    for secret in secrets:
        assert len(secret) == 32
        assert len(base64.b32decode(secret)) == 20


def test_the_provisioning_uri_names_the_account_the_issuer_and_the_secret(totp: PyOtpTotp) -> None:
    uri = urlparse(totp.provisioning_uri(RFC_SECRET, "alice@t1", "payments-core"))

    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == "/payments-core:alice@t1"
    query = parse_qs(uri.query)
    assert query["secret"] == [RFC_SECRET]
    assert query["issuer"] == ["payments-core"]


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_a_code_of_the_current_step_or_one_either_side_answers_its_step(totp: PyOtpTotp, offset: int) -> None:
    code = pyotp.TOTP(RFC_SECRET).at(AT + timedelta(seconds=30 * offset))

    assert totp.verify(RFC_SECRET, code, AT) == STEP + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_a_code_two_or_more_steps_away_is_refused(totp: PyOtpTotp, offset: int) -> None:
    code = pyotp.TOTP(RFC_SECRET).at(AT + timedelta(seconds=30 * offset))
    near = {pyotp.TOTP(RFC_SECRET).at(AT + timedelta(seconds=30 * step)) for step in (-1, 0, 1)}
    assert code not in near  # this fixed vector has no collision

    assert totp.verify(RFC_SECRET, code, AT) is None


def test_a_code_of_another_secret_is_refused(totp: PyOtpTotp) -> None:
    other = totp.new_secret()
    code = pyotp.TOTP(other).at(AT)
    mine = {pyotp.TOTP(RFC_SECRET).at(AT + timedelta(seconds=30 * step)) for step in (-1, 0, 1)}
    if code in mine:
        pytest.skip("the random secret's code collides (three chances in a million)")

    assert totp.verify(RFC_SECRET, code, AT) is None


@pytest.mark.parametrize(
    "code", ["", "28708", "2870820", "abcdef", "28708 ", "\uff12\uff18\uff17\uff10\uff18\uff12"]
)
def test_anything_but_six_ascii_digits_is_refused(totp: PyOtpTotp, code: str) -> None:
    assert totp.verify(RFC_SECRET, code, datetime.fromtimestamp(59, UTC)) is None


def test_the_step_follows_the_instant_not_the_time_zone(totp: PyOtpTotp) -> None:
    code = pyotp.TOTP(RFC_SECRET).at(AT)
    elsewhere = AT.astimezone(timezone(timedelta(hours=3)))  # Nairobi

    assert totp.verify(RFC_SECRET, code, elsewhere) == STEP


def test_a_naive_time_is_refused(totp: PyOtpTotp) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        totp.verify(RFC_SECRET, "287082", datetime(2026, 3, 1, 9, 0))
