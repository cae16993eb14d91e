"""`yuqing analyze [FILE]`: enrich JSON lines from a file or stdin, write enriched JSON lines.

Each input line needs at least {"id", "text"} (a number is accepted as id, "content" in place of
"text", as labelled data sets write them); any other `Post` field may be given. Output lines carry
sentiment {score, label}, keywords, places, policies [{id, score}], departments, event_id and
masked_text (text is masked too); the id comes back as it was given, and fields that are not part
of a post (a label, say) are passed through unchanged, so output joins back to the input. It
streams line by line. A bad line is reported on stderr with its number and skipped; every other
line is written.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

from pydantic import ValidationError

from workers.runner import GC_YOUNG_THRESHOLD
from yuqing.cli.common import settings_from
from yuqing.config import ConfigError
from yuqing.schema import Post

# Fields a bare {"id", "text"} line lacks, filled so it is a valid Post.
DEFAULTS = {"platform": "other", "source": "analyze"}
POST_FIELDS = frozenset(Post.model_fields)
PROGRESS_EVERY = 200
# A longer line is no post (a Weibo long-form post is ~20 kB, a long policy document ~300 kB): it
# is skipped unread, so one line can neither exhaust memory nor hold the stream for minutes.
MAX_LINE_BYTES = 1 << 20
# A \uD800-\uDFFF escape: a lone one decodes to a string that cannot be written out as UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "analyze", help="enrich JSON lines of posts (sentiment, keywords, places, policies, events)",
        description="Read JSON lines of posts (at least id and text) from FILE or stdin and write enriched "
                    "JSON lines to stdout. Personal data is masked in the output.",
    )
    parser.add_argument("file", nargs="?", type=Path, help="JSON-lines file (default: stdin)")
    parser.add_argument("--state", type=Path, help="SQLite file keeping events across runs (default: none)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(func=run)


class InputLine(NamedTuple):
    post: Post
    # What goes back out as given: the id in its own JSON type, and fields that are not a post's.
    echoed: dict[str, Any]


def post_from_line(line: str | bytes) -> InputLine:
    """A Post from one input line, with what the output echoes; raises ValueError with a short reason."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError("不是 UTF-8 文本 (not UTF-8 text)") from exc
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"不是合法的 JSON (invalid JSON: {exc.msg} at column {exc.colno})") from exc
    except RecursionError as exc:
        raise ValueError("JSON 嵌套过深 (JSON nested too deeply)") from exc
    if _SURROGATE_ESCAPE.search(line):  # rare: pairs are fine, a lone half is not
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("含有孤立的 UTF-16 代理项 (a lone surrogate escape such as \\ud800)") from exc
    if not isinstance(data, dict):
        raise ValueError("应为 JSON 对象 (expected a JSON object)")
    given_id, text = data.get("id"), data.get("text", data.get("content"))
    if isinstance(given_id, bool) or not isinstance(given_id, str | int) or given_id == "" or not isinstance(text, str):
        raise ValueError("缺少字段 id 或 text (fields id and text are required; id a string or number, text a string)")
    post_fields = {key: value for key, value in data.items() if key in POST_FIELDS}
    echoed = {key: value for key, value in data.items() if key not in POST_FIELDS and key != "content"}
    if not isinstance(given_id, str):
        echoed["id"] = given_id
    values: dict[str, Any] = {**DEFAULTS, **post_fields, "id": str(given_id), "text": text}
    values.setdefault("url", f"urn:yuqing:{given_id}")
    try:
        return InputLine(Post.model_validate(values), echoed)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"字段 {where} 无效 (invalid field {where}: {first['msg']})") from exc


def bounded_lines(handle: IO[bytes]) -> Iterator[bytes | None]:
    """The lines of a binary stream; None in place of a line longer than MAX_LINE_BYTES, which is
    skipped without being held in memory."""
    while chunk := handle.readline(MAX_LINE_BYTES + 1):
        if len(chunk) <= MAX_LINE_BYTES or chunk.endswith(b"\n"):
            yield chunk
            continue
        while (rest := handle.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
            pass
        yield None


def _lines(args: argparse.Namespace) -> Iterator[bytes | None]:
    if args.file is None:
        yield from bounded_lines(sys.stdin.buffer)
        return
    if not args.file.is_file():
        raise ConfigError(args.file, "", "input file not found")
    with args.file.open("rb") as handle:
        if args.no_progress:
            yield from bounded_lines(handle)
            return
        from tqdm import tqdm

        with tqdm(total=args.file.stat().st_size, unit="B", unit_scale=True, desc="分析 analyze",
                  file=sys.stderr) as bar:
            done = 0  # bytes read since the bar last moved: it moves once per PROGRESS_EVERY lines
            for number, raw in enumerate(bounded_lines(handle), start=1):
                done += len(raw) if raw is not None else MAX_LINE_BYTES
                if number % PROGRESS_EVERY == 0:
                    bar.update(done)
                    done = 0
                yield raw
            bar.update(done)


def _output_line(enriched: Post, echoed: dict[str, Any]) -> str:
    if echoed:
        return json.dumps({**enriched.model_dump(mode="json"), **echoed}, ensure_ascii=False,
                          separators=(",", ":")) + "\n"
    return enriched.model_dump_json() + "\n"


def run(args: argparse.Namespace) -> int:
    from workers.build import analyzer_from_settings

    analyzer = analyzer_from_settings(settings_from(args), args.state)
    young, older, oldest = gc.get_threshold()
    gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), older, oldest)
    bad = written = 0
    out, from_stdin = sys.stdout, args.file is None
    try:
        for number, line in enumerate(_lines(args), start=1):
            if line is not None and not line.strip():
                continue
            try:
                if line is None:
                    raise ValueError(f"行太长 (line longer than {MAX_LINE_BYTES} bytes)")
                post, echoed = post_from_line(line)
                output = _output_line(analyzer.enrich(post), echoed)
            except (ValueError, RecursionError) as exc:  # RefusedPost is a ValueError: a bad line, said why
                bad += 1
                print(f"第 {number} 行已跳过 (line {number} skipped): {exc}", file=sys.stderr)
                continue
            except Exception as exc:  # one post's failure must not end the stream
                bad += 1
                print(f"第 {number} 行分析失败 (line {number} failed): {exc!r}", file=sys.stderr)
                continue
            out.write(output)
            written += 1
            if from_stdin:  # a live stream (tail -f | yuqing analyze): each line out as soon as it is done
                out.flush()
    finally:
        gc.set_threshold(young, older, oldest)
        analyzer.close()
    out.flush()
    print(f"已分析 {written} 条，跳过 {bad} 行 (analysed {written}, skipped {bad})", file=sys.stderr)
    return 0
