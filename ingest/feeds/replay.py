"""Replay a JSONL file of posts: demos, backfills, incident replays.

Each line is a Post in its JSON form (see ``post_from_record``). The cursor is the number of lines
consumed, so a restarted worker resumes exactly where the last durably produced batch ended.
"""

from __future__ import annotations

import gzip
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import IO, Any, ClassVar, cast

from pydantic import Field

from brandpulse.schema import MAX_RECORD_BYTES

from .contract import FeedBase, FeedOptions, ItemError, PollResult, Post
from .records import as_str, loads_json, post_from_record

# How far ahead a paced replay tells the worker to come back at most; keeps it responsive to
# shutdown even when the next record is hours away in replay time.
_MAX_PACE_WAIT = 60.0


class ReplayOptions(FeedOptions):
    path: str = Field(min_length=1, description="JSONL or JSONL.gz file; relative to the config file")
    speed: float = Field(default=0.0, ge=0.0, description="0 = as fast as possible, 1 = real time, 60 = 60x")
    rebase_to_now: bool = False
    batch_size: int = Field(default=500, ge=1, le=100_000)
    loop: bool = False


class ReplayFeed(FeedBase):
    kind: ClassVar[str] = "replay"
    Options: ClassVar[type[FeedOptions]] = ReplayOptions

    def __init__(self, name: str, options: FeedOptions, **kwargs: Any) -> None:
        super().__init__(name, options, **kwargs)
        assert isinstance(options, ReplayOptions)
        self.options = options
        path = Path(options.path).expanduser()
        self.path = path if path.is_absolute() else self.base_dir / path
        self._fh: IO[bytes] | None = None
        self._fh_line = 0  # lines consumed from _fh so far
        self._fh_pass = -1
        # Pacing anchor (wall time, replay time) for speed > 0; per process, so a resumed replay
        # keeps the relative gaps from where it resumed.
        self._anchor: tuple[float, float] | None = None

    # -- cursor ----------------------------------------------------------------------------------

    @staticmethod
    def _read_cursor(cursor: dict[str, Any] | None) -> tuple[int, float | None, int]:
        cursor = cursor if isinstance(cursor, dict) else {}
        line = _non_negative_int(cursor.get("line"))
        raw_shift = cursor.get("shift_seconds")
        shift_s = float(raw_shift) if isinstance(raw_shift, int | float) and _is_number(raw_shift) else None
        return line, shift_s, _non_negative_int(cursor.get("pass"))

    def _cursor(self, line: int, shift_s: float | None, pass_no: int) -> dict[str, Any]:
        cursor: dict[str, Any] = {"line": line, "shift_seconds": shift_s if shift_s is not None else 0.0}
        if pass_no:
            cursor["pass"] = pass_no
        return cursor

    # -- file ------------------------------------------------------------------------------------

    def _open(self) -> IO[bytes]:
        try:
            if self.path.name.endswith(".gz"):
                return cast(IO[bytes], gzip.open(self.path, "rb"))
            return self.path.open("rb")
        except OSError as exc:
            raise self.fail(f"cannot open replay file {self.path}: {exc.strerror or exc}") from exc

    def _seek_line(self, line: int, pass_no: int) -> IO[bytes]:
        """An open handle positioned after ``line`` lines; reuses the handle when polls are sequential."""
        if self._fh is None or self._fh_line != line or self._fh_pass != pass_no:
            self._close_file()
            self._fh = self._open()
            self._fh_line = 0
            self._fh_pass = pass_no
            while self._fh_line < line:
                if not self._readline(self._fh):
                    break
                self._fh_line += 1
        return self._fh

    def _readline(self, fh: IO[bytes]) -> bytes:
        try:
            chunk = fh.readline(MAX_RECORD_BYTES + 1)
            if len(chunk) > MAX_RECORD_BYTES and not chunk.endswith(b"\n"):
                # drain the rest of an oversized line so line numbering stays right
                rest = chunk
                while rest and not rest.endswith(b"\n"):
                    rest = fh.readline(MAX_RECORD_BYTES)
            return chunk
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise self.fail(f"cannot read replay file {self.path}: {exc}") from exc

    def _close_file(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _compute_shift(self) -> float:
        """Seconds that move the newest record to 'now' (the moment the replay run starts)."""
        newest: float | None = None
        with self._open() as fh:
            while raw := self._readline(fh):
                post = self._parse(raw, 0)
                if isinstance(post, Post):
                    ts = post.created_at.timestamp()
                    newest = ts if newest is None or ts > newest else newest
        if newest is None:
            return 0.0
        return round(self.clock() - newest, 3)

    # -- records ---------------------------------------------------------------------------------

    def _parse(self, raw: bytes, line_no: int) -> Post | ItemError | None:
        if len(raw) > MAX_RECORD_BYTES:
            return self.error(f"line {line_no}: record is over {MAX_RECORD_BYTES} bytes", raw=raw)
        stripped = raw.strip()
        if not stripped:
            return None
        try:
            text = stripped.decode("utf-8")
        except UnicodeDecodeError as exc:
            return self.error(f"line {line_no}: invalid UTF-8 at byte {exc.start}", raw=raw)
        try:
            obj = loads_json(text)
        except ValueError as exc:
            return self.error(f"line {line_no}: {exc}", raw=raw)
        try:
            return post_from_record(obj, default_source="replay")
        except ValueError as exc:
            native = as_str(obj.get("native_id")) if isinstance(obj, dict) else None
            return self.error(f"line {line_no}: {exc}", native_id=native, raw=raw)

    def _due_in(self, post: Post) -> float:
        """Seconds until ``post`` is due under pacing (<= 0 means now)."""
        if self.options.speed <= 0:
            return 0.0
        now = self.clock()
        replay_t = post.created_at.timestamp()
        if self._anchor is None:
            self._anchor = (now, replay_t)
            return 0.0
        wall0, replay0 = self._anchor
        return wall0 + (replay_t - replay0) / self.options.speed - now

    # -- poll ------------------------------------------------------------------------------------

    def poll(self, cursor: dict[str, Any] | None) -> PollResult:
        line, shift_s, pass_no = self._read_cursor(cursor)
        if self.options.rebase_to_now and shift_s is None:
            shift_s = self._compute_shift()
        fh = self._seek_line(line, pass_no)
        posts: list[Post] = []
        errors: list[ItemError] = []
        next_poll_after: float | None = None
        done = False
        while len(posts) < self.options.batch_size:
            pos = fh.tell() if not isinstance(fh, gzip.GzipFile) else None
            raw = self._readline(fh)
            if not raw:
                if self.options.loop:
                    # a new pass is a new run: fresh shift (computed by the next poll), fresh pacing
                    self._close_file()
                    self._anchor = None
                    next_cursor: dict[str, Any] = {"line": 0, "pass": pass_no + 1}
                    if not self.options.rebase_to_now:
                        next_cursor["shift_seconds"] = 0.0
                    return PollResult(posts, next_cursor, errors)
                done = True
                break
            parsed = self.guarded(partial(self._parse, line_no=line + 1), raw)
            if isinstance(parsed, Post):
                if shift_s:
                    parsed = _shifted(parsed, shift_s)
                wait = self._due_in(parsed)
                if wait > 0:
                    next_poll_after = min(wait, _MAX_PACE_WAIT)
                    self._unread(fh, pos)
                    break
                posts.append(parsed)
            elif parsed is not None:
                errors.append(parsed)
            line += 1
            self._fh_line = line
        return PollResult(posts, self._cursor(line, shift_s, pass_no), errors,
                          next_poll_after=next_poll_after, done=done)

    def _unread(self, fh: IO[bytes], pos: int | None) -> None:
        if pos is not None:
            fh.seek(pos)
        else:  # gzip streams: reopen on the next poll (rare: only when pacing stops mid-batch)
            self._close_file()

    def close(self) -> None:
        self._close_file()
        super().close()


def _shifted(post: Post, seconds: float) -> Post:
    return Post(
        source=post.source, native_id=post.native_id, text=post.text,
        created_at=post.created_at + timedelta(seconds=seconds), title=post.title, url=post.url,
        author=post.author, geo=post.geo, engagement=post.engagement, lang=post.lang,
        country=post.country,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _non_negative_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
