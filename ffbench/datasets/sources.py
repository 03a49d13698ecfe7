"""Where videos come from: URL and path checks, video ids, and the URL list formats.

Only three kinds of source are accepted: `http://` and `https://` URLs, `file://` URLs and plain local
paths. Anything else (`ftp:`, `javascript:`, `data:`, ...) is refused with an `UnsupportedSourceError`
naming the URL, before any request is made.

Video ids are the last path segment of the URL without `.mp4` (UBC Fashion ids contain `+`, which is
kept so ids round-trip). A name that is not a safe id as it stands (accents as in `robe_été.mp4`,
spaces, other punctuation) gets one derived from it: accents dropped, other characters replaced by `_`,
and a short hash of the original name appended so two names never share an id; the listed URL or path,
and so the original name, is kept in the sample's json. Names that try to leave their folder (`..`,
`/`), hide (leading `.`), or hold control characters are refused.

Local files: `--source DIR` and `--urls FILE` may name local files (plain paths or `file://` URLs), but
only inside the folder of the list that names them, so a list cannot pull in `/etc/passwd`. The
official lists, which are downloaded, may only hold http(s) URLs.

URL list formats:

- a split's list file (the dataset spec's `list_file`, e.g. UBC Fashion's `fashion_train.txt`, or
  `<split>.txt`; the synthetic generator writes the spec's names): one URL or path a line;
- `--urls FILE`: one entry a line, either `URL` (the spec's train split) or `SPLIT URL` (split and URL
  separated by whitespace or a comma), so a single file can carry every split. Relative paths are
  resolved against the list file's folder. A split the dataset spec does not have is a bad line.

In every list, blank lines and lines whose first non-blank character is `#` are ignored (so a list can
be commented and spaced); every other line must be a usable entry. A list is checked whole before
anything is fetched or written: one error names the list file and each bad line with its number and
the reason (the first ten, and how many more), so one edit fixes them all.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit
from urllib.request import HTTPRedirectHandler, OpenerDirector, Request, build_opener

from ffbench.datasets import spec as dataset_spec
from ffbench.datasets.spec import DatasetSpec, DatasetSpecError, get_dataset
from ffbench.errors import UserError
from ffbench.fileio import write_text_atomic

HTTP_SCHEMES = ("http", "https")

# Letters, digits and a few punctuation marks seen in media ids; never a path separator, never a leading dot.
_ID_RE = re.compile(r"^[A-Za-z0-9_+\-][A-Za-z0-9_+\-.=~@]{0,199}$")
MAX_NAMED = 10  # bad lines named one by one in an error; the rest are counted


class SourceError(UserError, ValueError):
    """The chosen source of videos is unusable as a whole (no list, an empty list, not a folder)."""


class UnsupportedSourceError(SourceError):
    """A URL with a scheme other than http, https or file, a URL/path that yields no safe video id, or a
    local file a list may not name."""


class BadListError(UnsupportedSourceError):
    """A URL list with unusable lines; the message names the list and every bad line (the first ten)."""


@dataclass(frozen=True)
class ListLine:
    """One entry of a URL list: the list it is in (as named to the user), its 1-based line number, text."""

    file: str
    number: int
    text: str


def bad_lines_error(problems: list[tuple[ListLine, str]]) -> BadListError:
    """One error for every bad line of one or more lists: the lists, then `line N: reason` per line (the
    first MAX_NAMED, then how many more), then the fix."""
    files = list(dict.fromkeys(line.file for line, _ in problems))
    one_file = len(files) == 1
    head = (f"{files[0]}: {len(problems)} bad line(s)" if one_file
            else f"{len(problems)} bad line(s) in {' and '.join(files)}")
    rows = [f"  {'' if one_file else line.file + ' '}line {line.number}: {why}"
            for line, why in problems[:MAX_NAMED]]
    if len(problems) > MAX_NAMED:
        rows.append(f"  ... and {len(problems) - MAX_NAMED} more")
    return BadListError(f"{head}:\n" + "\n".join(rows) + "\nFix or remove these lines (blank lines and lines "
                        "starting with # are ignored) and run the same command again; nothing was fetched "
                        "or written.")


@dataclass(frozen=True)
class Source:
    """One video to fetch: its id, the URL or path as listed, its split, and where it lives.

    `kind` is "http" (fetch `url`) or "local" (read `path`).
    """

    id: str
    url: str
    split: str
    kind: str
    path: Path | None = None


def check_split(split: str) -> str:
    """Return `split` if it is a plain split name (letters, digits, `_`, `-`), else raise SourceError."""
    try:
        return dataset_spec.check_split(split)
    except DatasetSpecError as exc:
        raise SourceError(str(exc)) from None


def source_name(url: str) -> str:
    """The file name a URL or path points at, percent-decoded, without `.mp4` (the id before checks)."""
    parts = urlsplit(url)
    path = parts.path if parts.scheme else url
    segment = unquote(path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1])
    return segment[:-4] if segment.lower().endswith(".mp4") else segment


def video_id_from_url(url: str) -> str:
    """The video id of a URL or path: its last path segment, percent-decoded, without `.mp4`.

    >>> video_id_from_url("https://m.media-amazon.com/images/I/91+lh0Tm9vS.mp4")
    '91+lh0Tm9vS'
    >>> video_id_from_url("videos/robe_été.mp4")
    'robe_ete-21c7d2b7'

    A name that is not a safe id gets one derived from it (see the module docstring). Raises
    UnsupportedSourceError if the name is empty, is `.`/`..`, starts with `.`, or holds a slash or a
    control character.
    """
    name = source_name(url)
    if _ID_RE.match(name):
        return name
    refuse = name in ("", ".", "..") or name.startswith(".") or "/" in name or "\\" in name or any(
        unicodedata.category(c) == "Cc" for c in name)
    if refuse:
        check_video_id(name, url)  # raises, naming the URL
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^A-Za-z0-9_+\-]+", "_", folded).strip("_")[:150] or "video"
    # NFC first: macOS spells the same name decomposed (NFD), and it must get the same id
    digest = hashlib.sha256(unicodedata.normalize("NFC", name).encode("utf-8")).hexdigest()[:8]
    return check_video_id(f"{stem}-{digest}", url)


def check_video_id(video_id: str, url: str = "") -> str:
    """Return `video_id` if it is a safe single file name; else raise UnsupportedSourceError."""
    if video_id in ("", ".", "..") or not _ID_RE.match(video_id):
        where = f" (from {url!r})" if url else ""
        raise UnsupportedSourceError(
            f"video id {video_id!r}{where} is not a safe file name: ids may hold letters, digits and "
            "'_+-.=~@', may not start with '.', and never contain '/' or '..'; fix the URL list"
        )
    return video_id


def classify_url(url: str, base_dir: Path | None = None) -> tuple[str, Path | None]:
    """Return ("http", None) for an http(s) URL or ("local", path) for a file:// URL or a plain path.

    Relative plain paths are resolved against `base_dir` (the folder of the list that named them).
    Raises UnsupportedSourceError for any other scheme, or an http(s) URL without a host.
    """
    if not isinstance(url, str) or not url.strip():
        raise UnsupportedSourceError(f"empty source URL {url!r}; each line must hold a URL or a path")
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in HTTP_SCHEMES:
        if not parts.netloc:
            raise UnsupportedSourceError(f"URL {url!r} has no host; write it as https://host/path/ID.mp4")
        return "http", None
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise UnsupportedSourceError(
                f"URL {url!r} names a remote host; file:// URLs must be local (file:///abs/path.mp4)"
            )
        return "local", Path(unquote(parts.path))
    # A one-letter "scheme" is a Windows drive (C:/videos/x.mp4); no scheme is a plain path.
    if scheme and not (len(scheme) == 1 and url[1:2] == ":"):
        raise UnsupportedSourceError(
            f"URL {url!r} has the scheme {scheme!r}; only http, https, file:// and local paths are accepted"
        )
    path = Path(url).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return "local", path


def make_source(url: str, split: str, base_dir: Path | None = None, *, local: str = "any",
                list_name: str = "") -> Source:
    """Check one listed URL or path and return its `Source` (raises UnsupportedSourceError).

    local: "any" (a Python caller's own list), "inside" (a user's list: local files only inside
    `base_dir`, the list's folder) or "none" (a downloaded list: http(s) only).
    """
    kind, path = classify_url(url, base_dir)
    where = f" in {list_name}" if list_name else ""
    if kind == "local" and local == "none":
        raise UnsupportedSourceError(f"{url!r}{where}: a downloaded list may only hold http(s) URLs; "
                                     "refusing a local file")
    if kind == "local" and local == "inside":
        assert base_dir is not None and path is not None
        root = os.path.normpath(os.path.abspath(base_dir))
        target = os.path.normpath(os.path.abspath(path))
        if os.path.commonpath([root, target]) != root:
            raise UnsupportedSourceError(
                f"{url!r}{where} is outside the list's folder {root}; local files are read only inside "
                "the folder of the list that names them: move the video (or the list) there")
    return Source(id=video_id_from_url(url), url=url.strip(), split=check_split(split), kind=kind, path=path)


def read_list_lines(path: str | Path, name: str | None = None) -> list[ListLine]:
    """The entries of a one-URL-a-line list file with their line numbers, skipping blank lines and `#`
    comments. `name`: how to call the file in messages (default: the path)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start}); a URL list "
                          "holds one URL or path a line") from None
    return list_lines(text, name or str(path))


def read_url_list(path: str | Path) -> list[str]:
    """The entries of a one-URL-a-line list file, skipping blank lines and `#` comments."""
    return [line.text for line in read_list_lines(path)]


def list_lines(text: str, name: str = "<list>") -> list[ListLine]:
    """The entries of the text of a URL list, numbered by line; refuses an HTML page saved in its place."""
    if text.lstrip()[:15].lower().startswith(("<!doctype", "<html", "<?xml")):
        raise SourceError(f"{name} is an HTML/XML page, not a list of URLs; fetch the list again")
    return [ListLine(name, number, line.strip()) for number, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")]


def parse_url_lines(text: str, name: str = "<list>") -> list[str]:
    """Split the text of a URL list into entries; refuses an HTML page saved in place of the list."""
    return [line.text for line in list_lines(text, name)]


def split_urls_lines(path: str | Path, default_split: str | None = None
                     ) -> tuple[list[tuple[ListLine, str, str]], list[tuple[ListLine, str]]]:
    """The lines of a `--urls FILE` as (line, split, url), and the malformed ones as (line, reason).
    A line without a split is in `default_split` (None: the default dataset's train split)."""
    default_split = default_split or get_dataset().train_split
    entries, problems = [], []
    for line in read_list_lines(path):
        fields = [f for f in re.split(r"[\s,]+", line.text) if f]
        if len(fields) == 1:
            split, url = default_split, fields[0]
        elif len(fields) == 2:
            split, url = fields
        else:
            problems.append((line, f"{line.text!r} has {len(fields)} fields; write 'URL' or 'SPLIT URL'"))
            continue
        try:
            entries.append((line, check_split(split), url))
        except SourceError as exc:
            problems.append((line, str(exc)))
    return entries, problems


def parse_urls_file(path: str | Path, default_split: str | None = None) -> dict[str, list[str]]:
    """Read a `--urls FILE`: lines `URL` (split `default_split`) or `SPLIT URL` / `SPLIT,URL`.

    Returns {split: [url, ...]} in file order. Raises BadListError naming every malformed line.
    """
    entries, problems = split_urls_lines(path, default_split)
    if problems:
        raise bad_lines_error(problems)
    out: dict[str, list[str]] = {}
    for _, split, url in entries:
        out.setdefault(split, []).append(url)
    return out


def source_list_files(base: Path, dataset: DatasetSpec) -> dict[str, Path]:
    """{split: its list file in a `--source` folder}: the spec's list file name, else `<split>.txt`, for
    the splits that have one."""
    files = {}
    for s in dataset.splits:
        for name in dict.fromkeys((s.list_file, f"{s.name}.txt")):
            if (base / name).is_file():
                files[s.name] = base / name
                break
    return files


# -- fetching and collecting the lists ---------------------------------------------------------------
USER_AGENT = "ffbench-downloader/0.1"


class DownloadError(UserError, RuntimeError):
    """The download could not start at all (e.g. the official URL lists are unreachable)."""


class HttpOnlyRedirects(HTTPRedirectHandler):
    """Follow redirects only to http(s): urllib would otherwise also follow one to ftp://."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        kind, _ = classify_url(newurl)
        if kind != "http":
            raise UnsupportedSourceError(f"{req.full_url} redirects to {newurl!r}; only http(s) is followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def http_opener() -> OpenerDirector:
    """A urllib opener that follows redirects to http(s) only."""
    return build_opener(HttpOnlyRedirects)


def fetch_official_lists(dest: Path, timeout: float, retries: int, backoff: float,
                         dataset: DatasetSpec | None = None) -> dict[str, list[ListLine]]:
    """The entries of the dataset's published lists (UBC Fashion's fashion_train.txt / fashion_test.txt):
    read from `dest` when saved there before, else downloaded (and saved only if `dest` exists: a check
    before any write creates nothing).

    Raises DownloadError, naming the alternatives, when a list cannot be fetched (e.g. offline), and
    SourceError for a dataset that publishes no list.
    """
    dataset = get_dataset(dataset)
    if not dataset.list_urls:
        raise SourceError(f"dataset {dataset.name!r} publishes no URL lists; pass --source DIR (a folder "
                          f"with {_list_names(dataset)} and the videos) or --urls FILE")
    opener = http_opener()
    out: dict[str, list[ListLine]] = {}
    for split, url in dataset.list_urls.items():
        path = dest / dataset.list_file(split)
        if path.exists():
            out[split] = read_list_lines(path)
            continue
        text = _fetch_text(opener, url, timeout, retries, backoff, dataset)
        out[split] = list_lines(text, url)  # refuses an HTML page before saving it
        if dest.is_dir():
            write_text_atomic(path, text)
    return out


def _list_names(dataset: DatasetSpec) -> str:
    """The list files a `--source` folder of `dataset` holds, for messages: 'fashion_train.txt /
    fashion_test.txt'."""
    return " / ".join(dataset.list_file(s) for s in dataset.split_names)


def _fetch_text(opener: OpenerDirector, url: str, timeout: float, retries: int, backoff: float,
                dataset: DatasetSpec) -> str:
    last: BaseException | None = None
    for attempt in range(retries + 1):
        try:
            with opener.open(Request(url, headers={"User-Agent": USER_AGENT}), timeout=timeout) as resp:
                return resp.read().decode("utf-8-sig")
        except HTTPError as exc:
            last = exc
            if exc.code < 500:
                break
        except (URLError, OSError, http.client.HTTPException) as exc:
            last = exc
        if attempt < retries:
            time.sleep(backoff * 2**attempt)
    raise DownloadError(
        f"could not fetch the official URL list {url}: {last}.\n"
        "Offline or the list moved? Pass --urls FILE (one URL a line, or 'SPLIT URL'), --source DIR "
        f"(a folder with {_list_names(dataset)} and the videos), or --synthetic."
    )


def collect_sources(dest: Path, urls: dict[str, list[str]] | None = None, urls_file: str | Path | None = None,
                    source_dir: str | Path | None = None, timeout: float = 30.0, retries: int = 3,
                    backoff: float = 0.5, dataset: DatasetSpec | None = None) -> list[Source]:
    """Turn the chosen source into checked `Source`s, in list order (the spec's split order). Reads the
    lists only: nothing is written, except the official lists, saved into `dest` if that folder exists.

    At most one of `urls`, `urls_file`, `source_dir`; with none, the dataset's published lists are
    fetched. `dataset` (None: the default, UBC Fashion) gives the split names and list file names; an
    entry of another split is a bad line. Raises BadListError naming the list and every bad line (the
    first ten), SourceError for a list without entries, before any video is fetched.
    """
    dataset = get_dataset(dataset)
    chosen = [name for name, v in (("urls", urls), ("urls_file", urls_file), ("source_dir", source_dir))
              if v is not None]
    if len(chosen) > 1:
        raise ValueError(f"pass at most one of urls, urls_file, source_dir; got {', '.join(chosen)}")
    base: Path | None = None
    entries: list[tuple[ListLine, str, str]] = []  # (line, split, url or path)
    problems: list[tuple[ListLine, str]] = []
    if source_dir is not None:
        base = Path(source_dir)
        if not base.is_dir():
            raise SourceError(f"--source {base}: not a folder; pass the folder holding "
                              f"{_list_names(dataset)}")
        files = source_list_files(base, dataset)
        if not files:
            raise SourceError(f"--source {base}: holds none of the {dataset.name} lists "
                              f"({_list_names(dataset)}, or <split>.txt); write one relative video path a "
                              "line in them")
        entries = [(line, s, line.text) for s, f in files.items() for line in read_list_lines(f)]
        local, where = "inside", " and ".join(str(f) for f in files.values())
    elif urls_file is not None:
        entries, problems = split_urls_lines(urls_file, dataset.train_split)
        base = Path(urls_file).parent
        local, where = "inside", f"--urls {urls_file}"
    elif urls is not None:
        entries = [(ListLine(f"the given {check_split(s)} URLs", i, u), s, u)
                   for s, v in urls.items() for i, u in enumerate(v, start=1)]
        local, where = "any", "the given URLs"
    else:
        lists = fetch_official_lists(dest, timeout, retries, backoff, dataset)
        entries = [(line, s, line.text) for s, lines in lists.items() for line in lines]
        base = dest
        local, where = "none", "the official lists " + " and ".join(dataset.list_urls.values())
    out = []
    for line, split, url in entries:
        if split not in dataset.split_names:
            problems.append((line, f"split {split!r} is not a split of the dataset {dataset.name} "
                                   f"({', '.join(dataset.split_names)}); use one of those or --dataset"))
            continue
        try:
            out.append(make_source(url, split, base, local=local))
        except UnsupportedSourceError as exc:
            problems.append((line, str(exc)))
    if problems:
        order = {f: i for i, f in enumerate(dict.fromkeys(line.file for line, _, _ in entries))}
        problems.sort(key=lambda p: (order.get(p[0].file, -1), p[0].number))  # list order, then by line
        raise bad_lines_error(problems)
    if not out:
        raise SourceError(f"{where} lists no videos (only blank or # lines); write one video URL or path a "
                          "line ('URL' or 'SPLIT URL')")
    return out


def write_lists(dest: Path, srcs: list[Source], dataset: DatasetSpec | None = None) -> None:
    """Write each split's list file (the spec's name) into dest, local entries pointing at the kept copies
    (`videos/<id>.mp4`), so dest is itself a valid `--source` folder of the dataset."""
    dataset = get_dataset(dataset)
    by_split: dict[str, list[str]] = {}
    for s in srcs:
        by_split.setdefault(s.split, []).append(s.url if s.kind == "http" else f"videos/{s.id}.mp4")
    for split, lines in by_split.items():
        write_text_atomic(dest / dataset.list_file(split), "".join(f"{line}\n" for line in lines))
