"""Live stream addresses in a camera's ``footage``: validation and credential masking.

A footage entry that starts with ``scheme://`` is a live stream, not a file:

- ``rtsp://`` and ``rtsps://``: an IP camera or an RTSP server (pulled), or, with the
  camera's ``rtsp_listen: true``, the address where cctrace waits for the camera to push;
- ``http://`` and ``https://``: an HLS playlist (``.m3u8``) or another stream FFmpeg
  reads over HTTP (MPEG-TS, MJPEG).

User names and passwords in a URL (``rtsp://admin:secret@10.0.0.5/stream1``) are
needed to connect, but are never shown: :class:`StreamUrl` prints, logs and serialises
as ``rtsp://***@10.0.0.5/stream1``; only :meth:`StreamUrl.reveal` gives the real URL,
to FFmpeg. :func:`mask_credentials` scrubs them from any text (an FFmpeg error message
that repeats the URL).
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

LIVE_SCHEMES: frozenset[str] = frozenset({"rtsp", "rtsps", "http", "https"})
"""URL schemes a camera's footage may use for a live stream."""

_URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]*@")
_HOST = re.compile(r"^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$")


def is_stream_url(text: object) -> bool:
    """True when ``text`` looks like a URL (``scheme://...``), not a file path."""
    return isinstance(text, str) and bool(_URL_LIKE.match(text.strip()))


def mask_credentials(text: str) -> str:
    """``text`` with every ``user:password@`` of a URL in it replaced by ``***@``."""
    return _CREDENTIALS.sub(r"\g<scheme>***@", text)


class StreamUrl:
    """A validated live stream address that never shows its credentials.

    ``str()``, ``repr()`` and the site config's serialisation give the masked form;
    :meth:`reveal` gives the URL to connect to.
    """

    __slots__ = ("_parts", "_url")

    def __init__(self, url: str) -> None:
        text = url.strip()
        parts = _check(text)
        self._url = text
        self._parts = parts

    @property
    def scheme(self) -> str:
        """``rtsp``, ``rtsps``, ``http`` or ``https``."""
        return self._parts.scheme.lower()

    @property
    def host(self) -> str:
        """The host name or address."""
        return self._parts.hostname or ""

    @property
    def masked(self) -> str:
        """The URL with its user name and password replaced by ``***``."""
        return mask_credentials(self._url)

    @property
    def has_credentials(self) -> bool:
        """True when the URL carries a user name or password."""
        return "@" in self._parts.netloc

    @property
    def is_hls(self) -> bool:
        """An HTTP(S) URL whose path ends in ``.m3u8`` (an HLS playlist)."""
        return self.scheme in ("http", "https") and self._parts.path.lower().endswith(".m3u8")

    @property
    def kind(self) -> str:
        """``RTSP``, ``HLS`` or ``HTTP``, for tables."""
        if self.scheme.startswith("rtsp"):
            return "RTSP"
        return "HLS" if self.is_hls else "HTTP"

    def reveal(self) -> str:
        """The real URL, credentials included: give it to FFmpeg, never to a log."""
        return self._url

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"StreamUrl({self.masked!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StreamUrl) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)


def _check(text: str) -> SplitResult:
    """Parse and validate ``text``; ``ValueError`` with a masked message otherwise."""
    shown = mask_credentials(text)
    if any(ch.isspace() for ch in text):
        raise ValueError(f"stream URL {shown!r} contains white space")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:  # a port that is no number or out of range
        raise ValueError(f"stream URL {shown!r} is malformed ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in LIVE_SCHEMES:
        allowed = ", ".join(f"{s}://" for s in sorted(LIVE_SCHEMES))
        raise ValueError(
            f"stream URL {shown!r}: scheme {scheme}:// is not supported (use {allowed}; "
            "files are given as paths)"
        )
    host = parts.hostname or ""
    if not host or not _HOST.match(host if ":" not in host else f"[{host}]"):
        raise ValueError(f"stream URL {shown!r} has no valid host")
    if port == 0:
        raise ValueError(f"stream URL {shown!r}: port 0 is not a port")
    return parts


__all__ = ["LIVE_SCHEMES", "StreamUrl", "is_stream_url", "mask_credentials"]
