"""Writing a report's files: HTML, Word and PDF beside each other, each written whole or not at all,
and the manifest of its figures last, with the digest of every file it vouches for.

PDF is printed from the report's HTML by WeasyPrint (pango draws the text, so Chinese stays
selectable text with the fonts fontconfig finds), in-process and without a browser.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from reports.document import Document
from reports.figures import Ledger, ReportError, manifest_path, write_manifest

FORMATS = ("html", "docx", "pdf")


class ReportFormatError(ReportError):
    """A format that cannot be written (unknown, or its renderer is missing here)."""


def parse_formats(text: str | None) -> tuple[str, ...]:
    """`html,docx,pdf` (any order, any subset) to the formats in their usual order; None: all."""
    if not text:
        return FORMATS
    wanted = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(wanted - set(FORMATS))
    if unknown or not wanted:
        raise ReportFormatError(f"未知的报告格式 {','.join(unknown) or text!r}，可选 html,docx,pdf "
                                f"(unknown format; choose from html, docx, pdf)")
    return tuple(f for f in FORMATS if f in wanted)


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Write beside the target and rename, so a reader never opens half a report."""
    partial = path.with_name(path.name + ".part")
    write(partial)
    partial.replace(path)
    return path


def write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_pdf(html: str, path: Path, stylesheets: Iterable[str] = ()) -> Path:
    try:
        from weasyprint import CSS, HTML
    except (ImportError, OSError) as exc:  # OSError: the pango library is missing
        raise ReportFormatError(f"无法生成 PDF：{exc} (PDF needs WeasyPrint and Debian's libpango-1.0-0)") from exc
    # WeasyPrint warns about screen-only CSS it ignores (box shadows, hover); the print result is what counts.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    document = HTML(string=html, base_url=str(path.parent))
    extra = [CSS(string=css) for css in stylesheets]
    return atomic_write(path, lambda p: document.write_pdf(str(p), stylesheets=extra))


def write_docx(document: Document, path: Path) -> Path:
    from reports.word import write_docx as render

    return atomic_write(path, lambda p: render(document, p))


def write_report(stem: Path, formats: Sequence[str], *, html: Callable[[], str], document: Callable[[], Document],
                 ledger: Ledger, kind: str, title: str, lead: str, window: dict[str, str], generated_at: object,
                 pdf_css: Iterable[str] = (), extra_files: Sequence[Path] = ()) -> list[Path]:
    """Write `stem.html`, `stem.docx`, `stem.pdf` (those asked for) and `stem.manifest.json`.

    `html` and `document` are called only when a format needs them; the manifest lists the digest of
    every file written (and of `extra_files`, e.g. the Markdown version) so verify notices an edit.
    """
    stem.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    page = html() if {"html", "pdf"} & set(formats) else ""
    if "html" in formats:
        written.append(write_text(stem.with_name(stem.name + ".html"), page))
    if "docx" in formats:
        written.append(write_docx(document(), stem.with_name(stem.name + ".docx")))
    if "pdf" in formats:
        written.append(write_pdf(page, stem.with_name(stem.name + ".pdf"), pdf_css))
    files = [*written, *extra_files]
    write_manifest(files, ledger.manifest(kind=kind, title=title, window=window, files=files,
                                          generated_at=generated_at, extra={"lead": lead}))  # type: ignore[arg-type]
    return [*written, manifest_path(stem.with_name(stem.name + ".html"))]
