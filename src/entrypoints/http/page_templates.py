"""The hosted pages' HTML and headers: one small document shape, no JavaScript, nothing loaded
from elsewhere.

Invariants
- Every value reaches the HTML through `html.escape` (quotes included): callers hand in plain
  text, and only the functions here write markup.
- Every answer carries `security_headers`: never stored by a cache, never framed (`X-Frame-Options`
  and `frame-ancestors`), no MIME sniffing, no `Referer` (a checkout URL is its capability). The
  policy allows the inline stylesheet and forms posting to this origin, plus the origins a form's
  answer may redirect to; nothing else (no script, image, font or connection).
- An origin enters that policy only with a host of letters, digits, dots and dashes and an http(s)
  scheme: a URL cannot smuggle a directive into the header. A URL without such an origin is never
  a redirect target (`shop_url`), since the policy would block the redirect.
- Amounts are written from integer minor units, grouped by thousands; never through a float.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Final
from urllib.parse import urlsplit

from payments_core.money import Money

FORM: Final = "application/x-www-form-urlencoded"
_HOST: Final = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*")
_STYLE: Final = (
    "*{box-sizing:border-box}"
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "color:#1b1b1f;background:#f4f4f6}"
    "main{max-width:30rem;margin:0 auto;padding:1.5rem 1rem}"
    ".test-mode{margin:0;padding:.5rem 1rem;background:#ffd54a;color:#3a2800;font-weight:700;"
    "text-align:center;letter-spacing:.04em}"
    "h1{font-size:1.5rem;line-height:1.3;margin:0 0 .75rem;overflow-wrap:anywhere}"
    "p{margin:0 0 1rem;overflow-wrap:anywhere}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.375rem 1rem;margin:0 0 1.5rem}"
    "dt{color:#5b5b66}dd{margin:0;font-weight:600;overflow-wrap:anywhere}"
    ".amount{font-size:1.25rem}"
    "form{margin:0 0 .75rem}"
    ".button{display:block;width:100%;min-height:48px;padding:.75rem 1rem;border-radius:.5rem;"
    "border:2px solid #0b57d0;font:inherit;font-size:1.125rem;font-weight:600;line-height:1.3;"
    "text-align:center;text-decoration:none;cursor:pointer}"
    ".primary{background:#0b57d0;color:#fff}.secondary{background:#fff;color:#0b57d0}"
    ".button:focus-visible{outline:3px solid #1b1b1f;outline-offset:2px}"
)


def format_amount(amount: Money) -> str:
    """`Money(123456789, "KES")` → `1,234,567.89 KES`: exact, whatever the size."""
    exponent = amount.exponent
    units, fraction = divmod(abs(amount.minor), 10**exponent)
    sign = "-" if amount.minor < 0 else ""
    number = f"{sign}{units:,}.{fraction:0{exponent}d}" if exponent else f"{sign}{units:,}"
    return f"{number} {amount.currency}"


def origin_of(url: str | None) -> str | None:
    """`https://shop.example:8443/thanks?o=1` → `https://shop.example:8443`; None for anything
    that is not a plain http(s) URL."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.scheme not in {"http", "https"} or not _HOST.fullmatch(host):
        return None
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def shop_url(url: str | None) -> str | None:
    """The URL when a hosted page may send the browser there (see the invariants), else None."""
    return url if url is not None and origin_of(url) is not None else None


def security_headers(form_sources: Iterable[str] = ()) -> dict[str, str]:
    """What every hosted page answers with; `form_sources` are where its forms may lead besides
    this origin (a redirect after a POST counts)."""
    form_action = " ".join(["'self'", *form_sources])
    policy = (
        "frame-ancestors 'none'; default-src 'none'; base-uri 'none'; "
        f"style-src 'unsafe-inline'; form-action {form_action}"
    )
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def document(title: str, body: str, test_mode: bool = False) -> str:
    """A whole page; `title` is escaped here, `body` must come from the functions below."""
    banner = '<p class="test-mode" role="note">TEST MODE: no real money moves.</p>' if test_mode else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{banner}<main>{body}</main></body></html>"
    )


def heading(text: str) -> str:
    return f"<h1>{html.escape(text)}</h1>"


def paragraph(text: str, css_class: str = "") -> str:
    attribute = f' class="{html.escape(css_class)}"' if css_class else ""
    return f"<p{attribute}>{html.escape(text)}</p>"


def facts(rows: Sequence[tuple[str, str, str]]) -> str:
    """Labelled values, `(label, value, css class)` each."""
    items = "".join(
        f'<dt>{html.escape(label)}</dt><dd class="{html.escape(css_class)}">{html.escape(value)}</dd>'
        for label, value, css_class in rows
    )
    return f"<dl>{items}</dl>"


def button_form(action: str, label: str, primary: bool = True) -> str:
    """A form of one button posting nothing but itself, as `application/x-www-form-urlencoded`."""
    kind = "primary" if primary else "secondary"
    return (
        f'<form method="post" action="{html.escape(action)}" enctype="{FORM}">'
        f'<button type="submit" class="button {kind}">{html.escape(label)}</button></form>'
    )


def button_link(href: str, label: str, primary: bool = True) -> str:
    kind = "primary" if primary else "secondary"
    return f'<a class="button {kind}" href="{html.escape(href)}">{html.escape(label)}</a>'
