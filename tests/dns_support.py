"""A real DNS server on loopback (dnslib) answering from a small zone, for the mail
authentication checks (SPF, DKIM, DMARC) to run for real and offline."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from dnslib import QTYPE, RCODE, RR, SOA, TXT, A, DNSRecord
from dnslib.server import DNSError, DNSHandler, DNSLogger, DNSServer


def _txt_chunks(value: str) -> list[bytes]:
    """A TXT value as <=255-byte character-strings (a DKIM key is longer than one)."""
    data = value.encode()
    return [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]


@dataclass
class Zone:
    """Records by (lower-case name without trailing dot, type); a dnslib resolver.

    `queries` lists every name asked, so a test can see the checks really looked.
    Answers (and, through an SOA, "no such name") may be cached for `ttl` seconds.
    The first query for each (name, type) in `lose_first` gets no answer, like a UDP
    packet lost on the way.
    """

    txt: dict[str, list[str]] = field(default_factory=dict)
    a: dict[str, list[str]] = field(default_factory=dict)
    queries: list[tuple[str, str]] = field(default_factory=list)
    ttl: int = 300
    lose_first: set[tuple[str, str]] = field(default_factory=set)

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        self.queries.append((name, qtype))
        if (name, qtype) in self.lose_first:
            self.lose_first.discard((name, qtype))
            raise DNSError(f"dropped the first query for {name} {qtype}")
        if qtype == "TXT":
            for value in self.txt.get(name, []):
                reply.add_answer(
                    RR(request.q.qname, QTYPE.TXT, rdata=TXT(_txt_chunks(value)), ttl=self.ttl)
                )
        elif qtype == "A":
            for address in self.a.get(name, []):
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=self.ttl))
        known = {n for n in (*self.txt, *self.a)}
        if not reply.rr and name not in known:
            reply.header.rcode = RCODE.NXDOMAIN
            # A resolver caches "no such name" for the SOA's minimum (RFC 2308).
            soa = SOA("ns.test", "admin.test", (1, 3600, 600, 86400, self.ttl))
            reply.add_auth(RR("test", QTYPE.SOA, rdata=soa, ttl=self.ttl))
        return reply


@contextmanager
def dns_server(zone: Zone) -> Iterator[int]:
    """Serve `zone` over UDP on 127.0.0.1; yields the port."""
    server = DNSServer(zone, address="127.0.0.1", port=0, logger=DNSLogger("-request,-reply"))
    port = int(server.server.server_address[1])
    thread = threading.Thread(target=server.server.serve_forever, name="test-dns", daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.server.shutdown()
        server.server.server_close()
        thread.join(timeout=5)
