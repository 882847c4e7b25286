"""What a HAProxy provider read of its files, kept between two looks while the files stay the same.

:func:`~.survey.read_files` reads the notes, the configuration, every crt-list and (by identity) every
certificate file: work that grows with the number of certificates, repeated by every ``observe``, change
and ``cleanup``. A long-lived process (``sslterm serve``, a benchmark, a test's service) keeps the
:class:`~.survey.Survey` it got, and uses it again while nothing it was made from changed:

- the small files (``state.json``, ``change.json``, ``haproxy.cfg``, the crt-lists and, attached, the
  directory that holds the crt-lists) have the identity (inode, size, mtime) they had;
- no certificate file it names was touched since (:class:`~.watch.DirectoryWatch` on ``certs/``: the kernel
  reports every write, rename and removal, so no ``stat`` per certificate is needed).

After a change of its own, the provider hands over the survey its files now give (:meth:`FilesCache.seed`:
what ``read_files`` would read back), unless a file it did not write was touched meanwhile. Anything else
(an interrupted change's mark, a missing file, a file touched by another process, no inotify) keeps nothing:
the next look reads everything, as without this cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from pathlib import Path

from sslterm.providers.haproxy.layout import Layout
from sslterm.providers.haproxy.state import FileId
from sslterm.providers.haproxy.survey import Survey
from sslterm.providers.haproxy.watch import DirectoryWatch


def identity(path: Path | str) -> FileId | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class FilesCache:
    def __init__(self, layout: Layout, *, managed: bool) -> None:
        self.layout = layout
        self.managed = managed
        self.watch = DirectoryWatch(layout.certs)
        self._staging = DirectoryWatch(layout.staging)
        self._staged: set[str] | None = None  # the entries of staging/, listed once, then kept from events
        self._ids: set[str] = set()  # the served ids of its staged copies
        self._survey: Survey | None = None
        self._small: dict[str, FileId | None] = {}
        #: nothing but this provider's own (complete) changes touched ``certs/`` since it was last swept
        self.clean = False

    def look(self, read: Callable[[], Survey]) -> Survey:
        """The kept survey while its files are unchanged; else ``read()``, kept for next time (unless it
        found an interrupted change or a file missing)."""
        touched = self.watch.changed()  # first: what changes while ``read`` runs is seen by the next look
        self.clean = self.clean and touched == set()
        kept = self._survey
        if kept is not None and touched is not None and not _named(touched, kept) \
                and all(identity(p) == i for p, i in self._small.items()):
            return kept
        self._survey = None
        survey = read()
        if self.watch.active and survey.change is None and not survey.unsettled_ports:
            self._keep(survey)
        return survey

    def seed(self, survey: Survey, written: Collection[str]) -> None:
        """After a change of this provider that wrote the certificate files of ``written`` (names): keep
        ``survey``, what the files now give, unless a file it names was touched by someone else."""
        self._survey = None
        touched = self.watch.changed()
        self.clean = self.clean and touched is not None
        if touched is not None and not _named(touched, survey, but=written):
            self._keep(survey)

    def swept(self) -> None:
        """``certs/`` was just swept whole: clean, with the kept survey if no file it names was touched."""
        touched = self.watch.changed()
        if touched is None or (self._survey is not None and _named(touched, self._survey)):
            self._survey = None
        self.clean = touched is not None

    def staged(self) -> tuple[set[str], list[str]]:
        """What ``staging/`` holds: the served ids of its staged copies (``ID.pem``), and its other entries;
        listed once, then kept up to date from the watch (a copy, for the caller to use as it likes)."""
        touched = self._staging.changed()  # armed before listing: what happens after is seen next time
        if touched is None or self._staged is None:
            self._staged = set(_listing(self.layout.staging))
            self._ids = {n[:-4] for n in self._staged if n.endswith(".pem")}
            found = self._staged, self._ids
            if not self._staging.active:
                self._staged = None
        else:
            for name in touched:
                if os.path.lexists(self.layout.staging / name):
                    self._staged.add(name)
                    if name.endswith(".pem"):
                        self._ids.add(name[:-4])
                else:
                    self._staged.discard(name)
                    self._ids.discard(name[:-4] if name.endswith(".pem") else "")
            found = self._staged, self._ids
        return set(found[1]), [n for n in found[0] if not n.endswith(".pem")]

    def _keep(self, survey: Survey) -> None:
        layout = self.layout
        small = [layout.state, layout.change, *(layout.crt_list(x.lb_port) for x in survey.listeners)]
        # attached: which crt-lists exist, and each (an empty one is no listener until it names a file)
        small += [layout.config] if self.managed else [layout.root, *layout.root.glob("crt-list-*.txt")]
        self._small = {str(p): identity(p) for p in small}
        self._survey = survey


def _named(touched: set[str], survey: Survey, but: Collection[str] = ()) -> bool:
    """Whether a file ``survey`` was read from (``certs/NAME.pem``), other than those of ``but``, is among
    the ``touched`` entries of the certificate directory."""
    return any(name.endswith(".pem") and name[:-4] in survey.files and name[:-4] not in but for name in touched)



def _listing(directory: Path) -> list[str]:
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []
