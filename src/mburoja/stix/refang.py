"""Refanging and IOC-type detection for single values typed or pasted by people.

Threat reports and IOC lists *defang* their indicators so that nobody clicks them:
``hxxps://evil[.]example(.)com``, ``admin[@]example[dot]org``. :func:`refang` undoes the usual
conventions; :func:`detect` then says what a value is (ip, network, domain, url, hash, email,
ASN) and gives its normalised form, the one the observable index stores.

Domain detection is deliberately strict: the last label must be letters (or an IDNA ``xn--``
label), and a name ending in a common *file extension* that is not a delegated top-level
domain (``readme.txt``, ``payload.exe``, ``stage2.dll``, ``invoice.pdf``) is not a domain,
because IOC lists mix file names with host names. ``.zip``, ``.mov`` and ccTLDs such as
``.sh`` or ``.py`` are real TLDs and stay domains.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

_DEFANGS: Final[dict[str, str]] = {
    "[.]": ".",
    "(.)": ".",
    "{.}": ".",
    "[dot]": ".",
    "(dot)": ".",
    "{dot}": ".",
    " dot ": ".",
    "\\.": ".",
    "[.": ".",
    ".]": ".",
    "[:]": ":",
    "[://]": "://",
    "[/]": "/",
    "[@]": "@",
    "(at)": "@",
    "[at]": "@",
    "{at}": "@",
}
_DEFANG_RE: Final = re.compile(
    r"\b(?:hxxps?|fxps?|h\*\*ps?)(?=\[?:)"  # scheme spellings, any case
    r"|" + "|".join(re.escape(k) for k in sorted(_DEFANGS, key=len, reverse=True)),
    re.IGNORECASE,
)
_SCHEMES: Final[dict[str, str]] = {"hxxp": "http", "hxxps": "https", "fxp": "ftp", "fxps": "ftps"}
_QUOTE_PAIRS: Final = frozenset({('"', '"'), ("'", "'"), ("`", "`"), ("<", ">"), ("“", "”")})


def _replace(m: re.Match[str]) -> str:
    text = m.group().lower()
    if text in _DEFANGS:
        return _DEFANGS[text]
    return _SCHEMES.get(text.replace("*", "x"), text)


def refang(s: str) -> str:
    """``s`` with defanging undone and surrounding whitespace and quotes removed.

    Handles ``hxxp``/``hxxps``/``fxp`` schemes, ``[.]``, ``(.)``, ``{.}``, ``[dot]``,
    ``(dot)``, `` dot ``, ``\\.``, ``[:]``, ``[://]``, ``[/]``, ``[@]``, ``(at)``, ``[at]``
    and a stray bracket on one side of a dot (``evil[.com``). Quotes are removed only in pairs
    around the whole value, so a URL ending in ``'`` keeps it.
    """
    s = s.strip()
    while len(s) >= 2 and (s[0], s[-1]) in _QUOTE_PAIRS:
        s = s[1:-1].strip()
    if not s:
        return s
    return _DEFANG_RE.sub(_replace, s)


# --- detection ----------------------------------------------------------------------------

#: Extensions of files that IOC lists name, none of which is a delegated top-level domain.
# fmt: off
FILE_EXTENSIONS: Final = frozenset({
    "exe", "dll", "sys", "scr", "cpl", "ocx", "drv", "msi", "msp", "bat", "cmd", "ps1", "psm1",
    "vbs", "vbe", "js", "jse", "wsf", "wsh", "hta", "lnk", "jar", "class", "apk", "dmg", "elf",
    "bin", "dat", "tmp", "log", "ini", "cfg", "conf", "inf", "txt", "rtf", "doc", "docx", "docm",
    "dotm", "xls", "xlsx", "xlsm", "xlsb", "ppt", "pptx", "pptm", "pdf", "odt", "ods", "csv",
    "tsv", "json", "xml", "html", "htm", "xhtml", "php", "asp", "aspx", "jsp", "cgi", "png",
    "jpg", "jpeg", "gif", "bmp", "ico", "svg", "iso", "img", "vhd", "vhdx", "rar", "7z", "gz",
    "tgz", "bz2", "xz", "tar", "lzh", "arj", "eml", "msg", "db", "sqlite", "bak", "swf",
})
# fmt: on

_SPACE: Final = re.compile(r"\s")
_HEX: Final = re.compile(r"[0-9a-fA-F]+")
_HASH_KIND_BY_LENGTH: Final = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_ASN: Final = re.compile(r"AS(?:N)?[ ]?(\d{1,10})", re.IGNORECASE)
_IPV4_SHAPE: Final = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
# Labels of letters, digits, '_' and inner '-'; the last one letters only, or an IDNA label.
_DOMAIN: Final = re.compile(r"(?:(?!-)[a-z0-9_-]{1,63}(?<!-)\.)+([a-z]{2,63}|xn--[a-z0-9-]{1,59})")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4: Final = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")
_URL: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#\s]+)([^\s]*)")
_URL_SCHEMES: Final = frozenset({"http", "https", "ftp", "ftps", "sftp", "ws", "wss"})
_BARE_URL: Final = re.compile(r"([^/?#\s:@]+(?::\d{1,5})?)([/?][^\s]*)")
_ASN_MAX: Final = 4_294_967_295


def domain_ascii(name: str) -> str | None:
    """The lower-case ASCII (IDNA) form of a host name if it is a plausible DNS domain, else None.

    A trailing dot is dropped. Needs two labels or more, a letters-only or ``xn--`` last label,
    and a last label that is not a file extension (see :data:`FILE_EXTENSIONS`).
    """
    name = name.lower().rstrip(".")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if len(name) > 253:
        return None
    m = _DOMAIN.fullmatch(name)
    if m is None or m.group(1) in FILE_EXTENSIONS:
        return None
    return name


def domain_unicode(ascii_name: str) -> str:
    """The Unicode form of an ASCII domain (``xn--`` labels decoded); itself when undecodable."""
    if "xn--" not in ascii_name:
        return ascii_name
    try:
        return ascii_name.encode("ascii").decode("idna")
    except UnicodeError:
        return ascii_name


def ip_kind_value(s: str) -> tuple[str, str] | None:
    """``("ipv4"|"ipv6", address)`` or ``("ipv4-net"|"ipv6-net", network)`` for an IP or CIDR.

    Host bits of a CIDR are cleared (``10.1.2.3/8`` -> ``10.0.0.0/8``); a /32 or /128 is the
    plain address. IPv6 is written in its compressed form.
    """
    if _IPV4.fullmatch(s) is not None:  # the common case, already canonical
        return "ipv4", s
    try:
        if "/" in s:
            net = ipaddress.ip_network(s, strict=False)
            if net.prefixlen == net.max_prefixlen:
                return f"ipv{net.version}", str(net.network_address)
            return f"ipv{net.version}-net", str(net)
        ip = ipaddress.ip_address(s)
    except ValueError:
        return None
    return f"ipv{ip.version}", str(ip)


def url_normalised(s: str) -> str | None:
    """``s`` with scheme and host lower-cased if it is an absolute URL with a known scheme."""
    m = _URL.fullmatch(s)
    if m is None:
        return None
    scheme, authority, rest = m.groups()
    scheme = scheme.lower()
    if scheme not in _URL_SCHEMES:
        return None
    userinfo, at, hostport = authority.rpartition("@")
    return f"{scheme}://{userinfo}{at}{hostport.lower()}{rest}"


def url_host(url: str) -> str:
    """The host of a normalised absolute URL (no user info, no port, IPv6 without brackets)."""
    authority = url.split("://", 1)[1]
    for stop in "/?#":
        authority = authority.split(stop, 1)[0]
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def detect(s: str) -> tuple[str, str] | None:
    """``(kind, normalised value)`` for one indicator value, or None if it is none of them.

    Kinds: ``ipv4``, ``ipv6``, ``ipv4-net``, ``ipv6-net``, ``domain``, ``url``, ``md5``,
    ``sha1``, ``sha256``, ``sha512``, ``email`` and ``asn`` (``AS174``). Refang first: this
    only strips surrounding whitespace. A host with a path but no scheme (``evil.com/gate.php``)
    is a ``url`` with ``http://`` put in front.
    """
    s = s.strip()
    if not s:
        return None
    if s[0] in "aA" and (m := _ASN.fullmatch(s)) is not None:
        number = int(m.group(1))
        return ("asn", f"AS{number}") if number <= _ASN_MAX else None
    if _SPACE.search(s) is not None:
        return None
    if len(s) in _HASH_KIND_BY_LENGTH and _HEX.fullmatch(s):
        return _HASH_KIND_BY_LENGTH[len(s)], s.lower()
    if "://" in s:
        url = url_normalised(s)
        return ("url", url) if url is not None and _host_ok(url_host(url)) else None
    if ":" in s or "/" in s or _IPV4_SHAPE.fullmatch(s):
        found = ip_kind_value(s)
        if found is not None:
            return found
    if "@" in s:
        local, _, domain = s.rpartition("@")
        ascii_domain = domain_ascii(domain)
        if local and "@" not in local and ascii_domain is not None:
            return "email", f"{local.lower()}@{ascii_domain}"
        return None
    if "/" in s or "?" in s:
        m = _BARE_URL.fullmatch(s)
        if m is not None and _host_ok(m.group(1).rsplit(":", 1)[0]):
            return "url", f"http://{m.group(1).lower()}{m.group(2)}"
        return None
    ascii_name = domain_ascii(s)
    return ("domain", ascii_name) if ascii_name is not None else None


def _host_ok(host: str) -> bool:
    return ip_kind_value(host) is not None or domain_ascii(host) is not None
