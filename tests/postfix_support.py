"""Debian's Postfix as a private, loopback-only mail server for tests: in front of
Pasokh (mail for the support domain is relayed to Pasokh's SMTP port), as Pasokh's
outbound relay, and as the customers' mail host (a Maildir per domain, a local domain
whose every user is unknown, so a mail there bounces with Postfix's own DSN).

The instance has its own configuration, queue, log and mailboxes in one directory, its
own SMTP port, no chroot and no DNS; the system's /etc/postfix and port 25 are never
touched. Setup notes (found by the email-mta review): `-c` must be an absolute path (a
relative one fails silently, into a syslog that may not exist); a `maillog_file`
outside /var needs `maillog_file_prefixes`; `data_directory` belongs to `postfix`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from tests.email_support import parse_message

POSTFIX = "/usr/sbin/postfix"
NOBODY = 65534  # virtual(8) writes the Maildirs as this user


def postfix_binary() -> str:
    binary = shutil.which("postfix") or POSTFIX
    assert Path(binary).exists(), "install Debian's postfix (.ci/install-system-deps)"
    assert os.geteuid() == 0, "a private Postfix instance needs root (as CI runs the tests)"
    return binary


@dataclass(frozen=True)
class Delivered:
    """One mail virtual(8) delivered to a Maildir: its bytes as Postfix stored them
    (lines end in LF there, whatever was sent) and the parsed message."""

    path: Path
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return parse_message(self.data, utf8=True)


class Postfix:
    """A private Postfix on 127.0.0.1:`port`.

    - `relay_domains`: {domain: port}; mail for the domain is relayed to 127.0.0.1:port
      (Pasokh's SMTP port);
    - `mailbox_domains`: every address of these lands in one Maildir (`maildir`);
    - `unknown_user_domains`: local(8) knows none of their users: a real bounce;
    - clients on 127.0.0.0/8 may relay anywhere, as Pasokh's relay.
    """

    def __init__(
        self,
        port: int,
        *,
        relay_domains: dict[str, int],
        mailbox_domains: tuple[str, ...],
        unknown_user_domains: tuple[str, ...],
    ) -> None:
        self.binary = postfix_binary()
        self.port = port
        # Not under pytest's tmp_path: its parent is root-only (0700), and virtual(8)
        # and the daemons running as `postfix` must reach their directories.
        self.base = Path(tempfile.mkdtemp(prefix="pasokh-postfix-"))
        self.base.chmod(0o755)
        self.etc = self.base / "etc"
        self.spool = self.base / "spool"
        self.maillog = self.base / "maillog"
        self.maildir = self.base / "mail" / "catchall"
        self._write_config(relay_domains, mailbox_domains, unknown_user_domains)
        self._pids: set[int] = set()

    def _write_config(
        self,
        relay_domains: dict[str, int],
        mailbox_domains: tuple[str, ...],
        unknown_user_domains: tuple[str, ...],
    ) -> None:
        base, etc = self.base, self.etc
        etc.mkdir()
        (base / "lib").mkdir()
        (base / "spool").mkdir()
        mail = base / "mail"
        mail.mkdir()
        shutil.chown(base / "lib", "postfix")
        os.chown(mail, NOBODY, NOBODY)
        for name in ("master.cf", "postfix-files", "dynamicmaps.cf"):
            shutil.copy(_shipped(name), etc / name)
        for name in ("postfix-files.d", "dynamicmaps.cf.d"):
            if (Path("/etc/postfix") / name).is_dir():
                shutil.copytree(Path("/etc/postfix") / name, etc / name)
        mailbox_pattern = "|".join(d.replace(".", r"\.") for d in mailbox_domains)
        (etc / "vmailbox").write_text(f"/^.*@({mailbox_pattern})$/\tcatchall/\n")
        (etc / "transport").write_text(
            "".join(f"{d}\tsmtp:[127.0.0.1]:{p}\n" for d, p in relay_domains.items())
        )
        (etc / "main.cf").write_text(
            f"""compatibility_level = 3.6
queue_directory = {self.spool}
data_directory = {base / "lib"}
mail_owner = postfix
setgid_group = postdrop
maillog_file = {self.maillog}
maillog_file_prefixes = {base}
myhostname = mx.pasokh-test.test
mydomain = pasokh-test.test
myorigin = $myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# local(8) knows no user of these: it bounces every mail, with a DSN to the sender
mydestination = localhost, {", ".join(unknown_user_domains)}
local_recipient_maps =
alias_maps =
alias_database =
relay_domains = {", ".join(relay_domains)}
transport_maps = texthash:{etc / "transport"}
virtual_mailbox_domains = {", ".join(mailbox_domains)}
virtual_mailbox_base = {mail}
virtual_mailbox_maps = regexp:{etc / "vmailbox"}
virtual_uid_maps = static:{NOBODY}
virtual_gid_maps = static:{NOBODY}
virtual_minimum_uid = 100
smtputf8_enable = yes
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
# A bare LF from any client is refused (what Pasokh sends must be CRLF throughout).
smtpd_forbid_bare_newline = reject
smtpd_forbid_bare_newline_exclusions =
delay_warning_time = 0
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_peername_lookup = no
biff = no
append_dot_mydomain = no
"""
        )
        # master.cf: smtpd on our own loopback port instead of port 25; no chroot
        # anywhere (the chroot would need copies of /etc files).
        lines = []
        for line in (etc / "master.cf").read_text().splitlines():
            fields = line.split()
            if line[:1] not in ("", "#", " ", "\t") and len(fields) >= 8:
                if fields[0] == "smtp" and fields[1] == "inet":
                    fields[0] = f"127.0.0.1:{self.port}"
                fields[4] = "n"  # chroot
                line = "  ".join(fields)
            lines.append(line)
        (etc / "master.cf").write_text("\n".join(lines) + "\n")

    def _postfix(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "-c", str(self.etc), *command],
            capture_output=True,
            text=True,
            check=False,
        )

    async def start(self) -> None:
        for step in (("set-permissions",), ("start",)):
            done = await asyncio.to_thread(self._postfix, *step)
            assert done.returncode == 0, f"postfix {step[0]}: {done.stdout}{done.stderr}"
        async with asyncio.timeout(20):
            while True:
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    break
                await asyncio.sleep(0.05)
        self._pids = self._processes()

    def _processes(self) -> set[int]:
        """The master and its children, to kill whatever `postfix stop` leaves."""
        try:
            master = int((self.spool / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return set()
        try:
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        except OSError:
            children = []
        return {master, *(int(pid) for pid in children)}

    def stop(self) -> None:
        """`postfix stop`, then SIGKILL for any of this instance's processes still
        there after 5 s (the master ends its children on its way out)."""
        pids = self._pids | self._processes()
        self._postfix("stop")
        deadline = time.monotonic() + 5
        while pids and time.monotonic() < deadline:
            pids = {pid for pid in pids if _alive(pid)}
            time.sleep(0.05)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)

    def log(self) -> str:
        try:
            return self.maillog.read_text(errors="replace")
        except OSError:
            return ""

    def delivered(self) -> list[Delivered]:
        """Every mail in the Maildir so far, oldest first."""
        new = self.maildir / "new"
        if not new.is_dir():
            return []
        files = sorted(new.iterdir(), key=lambda path: path.stat().st_mtime_ns)
        return [Delivered(path, path.read_bytes()) for path in files]

    async def wait_delivered(self, count: int, timeout: float = 20.0) -> list[Delivered]:
        """Wait until the Maildir holds `count` mails."""
        try:
            async with asyncio.timeout(timeout):
                while len(found := self.delivered()) < count:
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"not delivered; Postfix's log:\n{self.log()[-4000:]}") from None
        return found


def _shipped(name: str) -> Path:
    """Debian's copy of a Postfix file: /etc/postfix's, or the package's original when
    the package was installed with "No configuration" (as CI does)."""
    for candidate in (Path("/etc/postfix") / name, Path("/usr/share/postfix") / f"{name}.dist"):
        if candidate.exists():
            return candidate
    return Path("/usr/share/postfix") / name


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
