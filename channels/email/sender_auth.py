"""Is a mail's From address really the sender's? SPF, DKIM and DMARC.

Anyone can write any `From:`. A mail counts as authenticated when its From domain is
vouched for by an *aligned* pass (RFC 7489): DMARC passes, or, for a domain that
publishes no DMARC policy, a valid DKIM signature of that domain (or SPF of an
envelope sender in it) does. The checks are done by well-kept libraries — pyspf,
dkimpy and authheaders (DMARC policy and organisational domains) — with every DNS
look-up going through one dnspython resolver that has a timeout and can be pointed
at a given server, and that caches answers ("no such name" too) for their TTL: mail
from one domain comes in floods, and a look-up that times out holds its mail's `250`
for the whole timeout. Or, behind a mail server that checks already, its
`Authentication-Results` header is read (only the one carrying its authserv-id).

The work is blocking (DNS, RSA), so it runs in a worker thread with a bounded time. A
DNS failure is a `temperror`: the mail is stored all the same, as unauthenticated.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import functools
import importlib.resources
import logging
import threading
from dataclasses import dataclass
from typing import Any, Literal

import authheaders
import authheaders.dmarc_lookup
import authres
import dkim
import dns.exception
import dns.resolver
import spf

from channels.email.parse import ParsedMail
from router.core.email_addresses import a_labels

logger = logging.getLogger(__name__)

Mode = Literal["check", "trust_upstream", "off"]
MAX_SIGNATURES = 3  # DKIM signatures verified per mail; more is a resource attack
SPF_LOOKUP_BUDGET = 4  # the whole SPF evaluation gets this many look-up timeouts
DNS_CACHE_ENTRIES = 10_000  # (name, type) answers kept by the checks' resolver
# A query unanswered this long is sent again (a lost UDP packet), until the look-up's
# timeout is spent.
DNS_RETRANSMIT_SECONDS = 1.0


class SenderAuthResult(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    TEMPERROR = "temperror"  # DNS did not answer in time: unauthenticated this once
    OFF = "off"  # not checked (`sender_auth = "off"`)

    @property
    def authenticated(self) -> bool | None:
        """For `InboundMessage.sender_authenticated`: None when nothing was checked."""
        if self is SenderAuthResult.OFF:
            return None
        return self is SenderAuthResult.PASS


@dataclass(frozen=True, slots=True)
class SmtpPeer:
    """Who sent the mail, for SPF: the connecting IP and the name it gave in HELO/EHLO,
    or, behind a trusted relay, the relay's client as it forwarded them (XFORWARD).

    `trusted`: the connection came from a trusted relay (`[email] trusted_relays`) or
    logged in with SMTP AUTH, so the headers it added on top may be believed.
    """

    ip: str | None = None
    helo: str | None = None
    trusted: bool = False


class _DnsTimeout(Exception):
    """A look-up got no answer in time."""


class _Lookups:
    """DNS TXT/A/... look-ups through one resolver, remembering whether any timed out."""

    def __init__(self, resolver: dns.resolver.Resolver) -> None:
        self.resolver = resolver
        self.timed_out = False

    def records(self, name: str, qtype: str) -> list[Any]:
        try:
            answer = self.resolver.resolve(name.rstrip("."), qtype, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers, OSError) as exc:
            self.timed_out = True
            raise _DnsTimeout(f"{name} {qtype}: {exc}") from exc
        return list(answer)

    def txt(self, name: str) -> list[bytes]:
        return [b"".join(r.strings) for r in self.records(name, "TXT")]

    # The shapes each library asks for.

    def for_dkim(self, name: bytes | str, timeout: float = 5) -> bytes | None:
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        try:
            found = self.txt(text)
        except _DnsTimeout as exc:
            raise dkim.DnsTimeoutError(str(exc)) from exc
        return found[0] if found else None

    def for_dmarc(self, name: str) -> str | None:
        # authheaders takes one record, without quotes; prefer the DMARC one.
        try:
            found = [t.decode("utf-8", "replace") for t in self.txt(name)]
        except _DnsTimeout:
            return None
        dmarc = [t for t in found if t.startswith("v=DMARC1")]
        return next(iter(dmarc or found), None)

    def for_spf(self, name: str, qtype: str, *_: Any) -> list[tuple[tuple[str, str], Any]]:
        # pyspf's DNSLookup contract (its own dnspython version, with our resolver).
        if qtype == "SPF":
            return []  # type 99 is obsolete (RFC 7208 section 3.1)
        try:
            rows = self.records(name, qtype)
        except _DnsTimeout as exc:
            raise spf.TempError(f"DNS {exc}") from exc
        out: list[tuple[tuple[str, str], Any]] = []
        for r in rows:
            if qtype in ("A", "AAAA"):
                out.append(((name, qtype), r.address))
            elif qtype == "MX":
                out.append(((name, qtype), (r.preference, r.exchange)))
            elif qtype == "PTR":
                out.append(((name, qtype), r.target.to_text(True)))
            elif qtype == "TXT":
                out.append(((name, qtype), list(r.strings)))
        return out


# pyspf looks names up through its module-level `DNSLookup`; it is set once to one that
# uses the lookups of the check running in this thread (a context variable).
_SPF_LOOKUPS: contextvars.ContextVar[_Lookups | None] = contextvars.ContextVar(
    "pasokh_spf_lookups", default=None
)
_PYSPF_DEFAULT = spf.DNSLookup


def _spf_lookup(name: str, qtype: str, *args: Any) -> Any:
    lookups = _SPF_LOOKUPS.get()
    if lookups is None:
        return _PYSPF_DEFAULT(name, qtype, *args)
    return lookups.for_spf(name, qtype)


spf.DNSLookup = _spf_lookup


@functools.cache
def public_suffix_list() -> Any:
    """The public suffix list authheaders ships, parsed once per process.

    Parsing it takes about 0.1 s of CPU, and authheaders parses it again on every
    organisational-domain look-up (several per mail); the parsed list is only read.
    """
    ref = importlib.resources.files("authheaders") / "public_suffix_list.txt"
    with importlib.resources.as_file(ref) as path, open(path, encoding="utf-8") as listing:
        return authheaders.dmarc_lookup.PublicSuffixList(listing)


def org_domain(domain: str) -> str:
    """The organisational domain (RFC 7489 3.2): one label below the public suffix
    (e.g. example.co.uk), in A-labels. A top label the list does not know (.test,
    .internal, a TLD newer than the list) is a public suffix of its own, as the list's
    implicit "*" rule says; the suffix list's own answer for one is the bare TLD, which
    would make every domain under it one organisation.
    """
    # In A-labels: the parsed suffix list holds its internationalised entries so, and a
    # U-label name would not match them (bank.ایران, bank.рф).
    bare = domain.strip().lower().rstrip(".")
    name = a_labels(bare) or bare
    try:
        found = str(public_suffix_list().get_public_suffix(name))
    except Exception:
        found = ""
    if "." not in found:
        found = ".".join(name.split(".")[-2:])
    return found


# authheaders looks organisational domains up through these module-level names: its
# DMARC alignment must use the same rule as ours.
authheaders.dmarc_lookup.get_org_domain = org_domain
authheaders.get_org_domain = org_domain


def aligned(domain: str, other: str | None) -> bool:
    """Relaxed DMARC alignment: the same organisational domain."""
    if not other:
        return False
    domain, other = domain.lower().rstrip("."), other.lower().rstrip(".")
    return domain == other or org_domain(domain) == org_domain(other)


def _domain(address: str | None) -> str:
    return (address or "").rpartition("@")[2].strip().strip("<>").lower()


class SenderAuth:
    """Decides whether the From address of received mail is authenticated."""

    def __init__(
        self,
        *,
        mode: Mode,
        upstream_authserv_id: str = "",
        trusted_clients: bool = False,
        resolver: str = "",
        timeout: float = 5.0,
    ) -> None:
        """`trusted_clients`: whether any connection can be a trusted one (trusted
        relay addresses or SMTP AUTH are configured); `trust_upstream` needs one."""
        if mode == "trust_upstream" and not upstream_authserv_id.strip():
            raise ValueError(
                'sender_auth = "trust_upstream" needs upstream_authserv_id '
                "(PASOKH_EMAIL__UPSTREAM_AUTHSERV_ID): the name the forwarding mail server "
                "writes in its Authentication-Results"
            )
        if mode == "trust_upstream" and not trusted_clients:
            # Anyone who can reach the SMTP port could write that server's header.
            raise ValueError(
                'sender_auth = "trust_upstream" needs the forwarding mail server named in '
                "trusted_relays (PASOKH_EMAIL__TRUSTED_RELAYS) or SMTP AUTH (auth_user): "
                "its Authentication-Results are believed only from it"
            )
        self.mode = mode
        self._authserv_id = upstream_authserv_id.strip().lower()
        self._resolver_address = resolver.strip()
        self._timeout = timeout
        # One resolver for every check, so its cache is shared; made on first use (the
        # system's configuration is read then) by whichever worker thread gets there.
        self._resolver: dns.resolver.Resolver | None = None
        self._resolver_made = threading.Lock()

    async def prepare(self) -> None:
        """Parse the public suffix list now, in a worker thread: the first mails of a
        busy server, checked in several threads at once, would each parse it."""
        if self.mode == "off":
            return
        try:
            await asyncio.to_thread(public_suffix_list)
        except Exception:  # the checks treat an unknown suffix as the top label
            logger.exception("could not read the public suffix list")

    async def check(
        self, raw: bytes, parsed: ParsedMail, *, peer: SmtpPeer, mail_from: str
    ) -> SenderAuthResult:
        """The verdict for one received mail; never raises for bad mail or bad DNS."""
        if self.mode == "off":
            return SenderAuthResult.OFF
        sender_domain = _domain(parsed.sender)
        if not sender_domain:
            return SenderAuthResult.FAIL
        if self.mode == "trust_upstream":
            return self._upstream_verdict(parsed, sender_domain, peer)
        try:
            # Each look-up has its own timeout; this bounds the whole (SPF may chain).
            async with asyncio.timeout(self._timeout * (SPF_LOOKUP_BUDGET + 4)):
                return await asyncio.to_thread(
                    self._check_blocking, raw, sender_domain, peer, mail_from
                )
        except TimeoutError:
            logger.warning("sender check of a mail from %s ran out of time", sender_domain)
            return SenderAuthResult.TEMPERROR
        except Exception:
            logger.exception("sender check of a mail from %s failed", sender_domain)
            return SenderAuthResult.FAIL

    # --- check ------------------------------------------------------------------------

    def resolver(self) -> dns.resolver.Resolver:
        """The checks' shared, caching resolver (dnspython's resolver and its cache are
        safe to use from several threads at once)."""
        with self._resolver_made:
            if self._resolver is None:
                self._resolver = self._new_resolver()
            return self._resolver

    def _new_resolver(self) -> dns.resolver.Resolver:
        if not self._resolver_address:
            resolver = dns.resolver.Resolver()
        else:
            host, _, port = self._resolver_address.rpartition(":")
            if not host or not port.isdigit():  # "host" alone, or an IPv6 address
                host, port = self._resolver_address, "53"
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [host.strip("[]")]
            resolver.port = int(port)
        resolver.timeout = min(self._timeout, DNS_RETRANSMIT_SECONDS)
        resolver.lifetime = self._timeout
        resolver.cache = dns.resolver.LRUCache(DNS_CACHE_ENTRIES)
        return resolver

    def _check_blocking(
        self, raw: bytes, sender_domain: str, peer: SmtpPeer, mail_from: str
    ) -> SenderAuthResult:
        lookups = _Lookups(self.resolver())
        spf_result = self._spf(lookups, peer, mail_from)
        dkim_result = self._dkim(lookups, raw, sender_domain)
        if spf_result.result != "pass" and dkim_result.result != "pass":
            # DMARC passes only on an aligned SPF or DKIM pass (RFC 7489 4.2): with
            # neither, no policy can make this mail authenticated; spare its look-ups.
            return SenderAuthResult.TEMPERROR if lookups.timed_out else SenderAuthResult.FAIL
        try:
            dmarc = authheaders.check_dmarc(
                raw, spf_result=spf_result, dkim_result=dkim_result, dnsfunc=lookups.for_dmarc
            )
            dmarc_result, dmarc_from = str(dmarc.result), str(dmarc.header_from or "")
        except Exception:
            logger.exception("DMARC evaluation failed for %s", sender_domain)
            dmarc_result, dmarc_from = "permerror", ""
        if dmarc_result == "pass":
            passed = dmarc_from.lower() == sender_domain
        elif dmarc_result == "none":  # no policy published: an aligned pass of our own
            passed = (
                dkim_result.result == "pass" and aligned(sender_domain, dkim_result.header_d)
            ) or (spf_result.result == "pass" and aligned(sender_domain, _domain(mail_from)))
        else:
            passed = False
        if passed:
            return SenderAuthResult.PASS
        return SenderAuthResult.TEMPERROR if lookups.timed_out else SenderAuthResult.FAIL

    def _spf(self, lookups: _Lookups, peer: SmtpPeer, mail_from: str) -> Any:
        mailfrom = mail_from.strip().strip("<>")
        result = "none"
        if peer.ip:
            token = _SPF_LOOKUPS.set(lookups)
            try:
                result, _ = spf.check2(
                    peer.ip,
                    mailfrom,
                    peer.helo or "unknown",
                    timeout=self._timeout,
                    querytime=self._timeout * SPF_LOOKUP_BUDGET,
                )
            except Exception:
                logger.exception("SPF evaluation failed for %s", mailfrom or peer.helo)
                result = "temperror"
            finally:
                _SPF_LOOKUPS.reset(token)
        return authres.SPFAuthenticationResult(
            result=result, smtp_mailfrom=mailfrom or None, smtp_helo=peer.helo
        )

    def _dkim(self, lookups: _Lookups, raw: bytes, sender_domain: str) -> Any:
        """The best DKIM result: an aligned pass first, then any pass, else fail."""
        best = authres.DKIMAuthenticationResult(result="none")
        try:
            verifier = dkim.DKIM(raw, timeout=self._timeout)
            signatures = sum(1 for name, _ in verifier.headers if name.lower() == b"dkim-signature")
        except Exception:
            return best
        for index in range(min(signatures, MAX_SIGNATURES)):
            try:
                verifier = dkim.DKIM(raw, timeout=self._timeout)
                ok = verifier.verify(idx=index, dnsfunc=lookups.for_dkim)
            except Exception:
                ok = False
            signer = verifier.domain.decode("ascii", "replace") if verifier.domain else ""
            if not ok:
                if best.result == "none":
                    best = authres.DKIMAuthenticationResult(result="fail", header_d=signer)
                continue
            best = authres.DKIMAuthenticationResult(result="pass", header_d=signer)
            if aligned(sender_domain, signer):
                break
        return best

    # --- trust_upstream ---------------------------------------------------------------

    def _upstream_verdict(
        self, parsed: ParsedMail, sender_domain: str, peer: SmtpPeer
    ) -> SenderAuthResult:
        """What the forwarding server's own Authentication-Results say.

        Only a server we trust handed us the mail (a trusted relay address, or SMTP
        AUTH) can vouch for it; and its own headers are the ones above the first
        `Received:`, which it prepended. Anything with its authserv-id further down
        came with the mail: the sender's own claim, which the upstream should have
        removed (RFC 8601 section 5), so it is ignored.
        """
        if not peer.trusted:
            logger.info(
                "Authentication-Results not read: %s is neither a trusted relay nor "
                "logged in with SMTP AUTH",
                peer.ip,
            )
            return SenderAuthResult.FAIL
        results: list[Any] = []
        added_by_upstream = True
        for name, value in parsed.headers:
            if name == "received":
                added_by_upstream = False
                continue
            if name != "authentication-results":
                continue
            try:
                header = authres.AuthenticationResultsHeader.parse_value(value)
            except Exception:
                continue
            if str(header.authserv_id).lower() != self._authserv_id:
                continue
            if not added_by_upstream:
                logger.info(
                    "an Authentication-Results header with the upstream's authserv-id "
                    "below its Received: header is ignored (a forgery the upstream "
                    "should remove, RFC 8601 section 5)"
                )
                continue
            results.extend(header.results)
        if not results:
            return SenderAuthResult.FAIL
        return self._upstream_results(results, sender_domain)

    @staticmethod
    def _upstream_results(results: list[Any], sender_domain: str) -> SenderAuthResult:
        def prop(result: Any, kind: str, name: str) -> str | None:
            for p in result.properties:
                if p.type == kind and p.name == name:
                    return str(p.value)
            return None

        by_method: dict[str, list[Any]] = {}
        for result in results:
            by_method.setdefault(str(result.method).lower(), []).append(result)
        dmarc = by_method.get("dmarc", [])
        if dmarc:
            ok = any(
                str(r.result).lower() == "pass"
                and (prop(r, "header", "from") or sender_domain).lower() == sender_domain
                for r in dmarc
            )
            return SenderAuthResult.PASS if ok else SenderAuthResult.FAIL
        for r in by_method.get("dkim", []):
            if str(r.result).lower() == "pass" and aligned(sender_domain, prop(r, "header", "d")):
                return SenderAuthResult.PASS
        for r in by_method.get("spf", []):
            if str(r.result).lower() == "pass" and aligned(
                sender_domain, _domain(prop(r, "smtp", "mailfrom"))
            ):
                return SenderAuthResult.PASS
        return SenderAuthResult.FAIL
