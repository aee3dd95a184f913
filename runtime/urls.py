"""URLs callers give nobat to send a browser to (return URLs) or to POST to (webhooks):
what any of them must look like before where it points is judged.

Printable ASCII only: browsers read a backslash as a slash and drop tabs and line breaks,
so a URL holding them may not go where a check of its text thinks it goes; a name in
another script is written in its punycode (xn--) form.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

MAX_URL = 2048


class UnusableUrl(ValueError):
    """Why a URL cannot be used, in words for the caller who gave it."""


def web_url(text: str, *, development: bool, like: str) -> SplitResult:
    """`text` split into its parts, if it is an absolute https URL (http too in
    development) of at most MAX_URL printable ASCII characters, with a host and without a
    user name or password; otherwise UnusableUrl, with `like` as an example of a good one."""
    if len(text) > MAX_URL:
        raise UnusableUrl(f"must be at most {MAX_URL} characters")
    if any(not "\x21" <= char <= "\x7e" or char == "\\" for char in text):
        raise UnusableUrl("must be a URL of printable ASCII, without spaces or backslashes")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (parses the port, raising ValueError when it is not one)
    except ValueError:
        raise UnusableUrl("is not a URL") from None
    schemes = ("https", "http") if development else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise UnusableUrl(f"must be an https URL, like {like}")
    if parts.username is not None or parts.password is not None:
        raise UnusableUrl("must not carry a user name or password")
    return parts
