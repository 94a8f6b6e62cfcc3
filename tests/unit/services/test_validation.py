"""Shared input rules: URLs that really point where they say, phone numbers, payout details."""

import pytest

from payments_core.errors import ValidationError
from payments_core.services.validation import (
    validate_mpesa_phone,
    validate_phone,
    validate_slug,
    validate_url,
    validate_withdrawal_details,
)


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example.com/ok",
        "https://example.com:8443/hook?x=1",
        "http://localhost:8000/cb",
        "http://127.0.0.1/cb",
    ],
)
def test_https_urls_and_local_http_urls_are_accepted(url):
    assert validate_url(url, "url") == url


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "http://localhost.evil.com/hook",
        "http://127.0.0.1.nip.io/hook",
        "http://localhost@evil.com/hook",
        "https://user:pass@example.com/hook",
        "https:///no-host",
        "https://",
        "ftp://example.com/file",
        "javascript:alert(1)",
        "https://exa mple.com",
        "https://example.com:99999/",
        "",
        None,
        42,
    ],
)
def test_anything_else_is_refused(url):
    with pytest.raises(ValidationError) as raised:
        validate_url(url, "successUrl")
    assert raised.value.details["field"] == "successUrl"


def test_local_http_can_be_forbidden():
    with pytest.raises(ValidationError):
        validate_url("http://localhost/cb", "url", allow_http_localhost=False)


def test_phone_numbers_are_international_digits():
    assert validate_phone("5511966609208") == "5511966609208"
    for bad in ("+5511966609208", "0712345678", "55 11 96", "1234567", "1" * 16, None):
        with pytest.raises(ValidationError):
            validate_phone(bad)


def test_mpesa_numbers_are_kenyan_mobiles():
    assert validate_mpesa_phone("254712345678") == "254712345678"
    with pytest.raises(ValidationError):
        validate_mpesa_phone("5511966609208")


def test_withdrawal_details_follow_the_method():
    assert validate_withdrawal_details("till", {"till_number": "123456"}) == {"till_number": "123456"}
    bank = {"account_number": "1234567890", "bank_code": "063", "account_name": " Business Account "}
    assert validate_withdrawal_details("bank_transfer", bank)["account_name"] == "Business Account"
    with pytest.raises(ValidationError):
        validate_withdrawal_details("mpesa", {"phone_number": "254712345678", "extra": "x"})
    with pytest.raises(ValidationError):
        validate_withdrawal_details("till", {"till_number": "12"})


def test_slugs_are_lowercase_words_joined_by_dashes():
    assert validate_slug("summer-promo") == "summer-promo"
    for bad in ("Summer", "-x-", "ab", "a" * 65, "has space", None):
        with pytest.raises(ValidationError):
            validate_slug(bad)
