"""A report `Document` as a Word file laid out the way Chinese government offices lay out briefings.

GB/T 9704 conventions, as far as a briefing needs them: A4 with 37/35/28/26 mm margins, the title
in a bold heiti (or 小标宋) face at 二号, section headings in heiti at 三号, body in a fangsong or
songti face at 四号 with a two-character first-line indent, tables at 小四 as real Word tables,
charts as pictures, and the page number centred in the footer as "— 1 —".

Word shows the face the file names when the reader's machine has it. The names come from the
fonts installed where the report is written (Debian's fonts-noto-cjk, or WenQuanYi), falling back
to the faces every Chinese Windows has (黑体, 仿宋), so the file never names a face nobody has.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from docx import Document as new_document
from docx.enum.section import WD_SECTION_START
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from docx.text.paragraph import Paragraph as WordParagraph

from reports.document import Chart, Document, Heading, Paragraph, Quote, Run, Table, Text

# 字号 in points.
ERHAO, SANHAO, SIHAO, XIAOSI, WUHAO = 22.0, 16.0, 14.0, 12.0, 10.5
RED = RGBColor(0xC0, 0x39, 0x2B)
GREY = RGBColor(0x5F, 0x6B, 0x76)
# Preferred faces, best first; the first one installed is named, else the Windows face at the end.
TITLE_FACES = ("方正小标宋简体", "Noto Serif CJK SC", "Source Han Serif SC", "黑体")
HEADING_FACES = ("黑体", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "黑体")
BODY_FACES = ("仿宋_GB2312", "仿宋", "Noto Serif CJK SC", "Source Han Serif SC", "AR PL UMing CN",
              "WenQuanYi Micro Hei", "仿宋")
LATIN_FACE = "Times New Roman"
PICTURE_WIDTH = Mm(150)
NARROW_PICTURE_WIDTH = Mm(95)


@cache
def installed_faces() -> frozenset[str]:
    """Font family names fontconfig knows here (empty when fontconfig is not installed)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return frozenset()
    try:
        listing = subprocess.run([fc_list, ":", "family"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(name.strip() for line in listing.stdout.splitlines() for name in line.split(","))


def pick_face(preferred: Sequence[str]) -> str:
    have = installed_faces()
    return next((face for face in preferred[:-1] if face in have), preferred[-1])


def _set_faces(run_properties: object, east_asian: str) -> None:
    """Name the Chinese face and the Latin one (python-docx only sets the Latin one)."""
    fonts = run_properties.find(qn("w:rFonts"))  # type: ignore[attr-defined]
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        run_properties.insert(0, fonts)  # type: ignore[attr-defined]
    for attribute in ("w:ascii", "w:hAnsi", "w:cs"):
        fonts.set(qn(attribute), LATIN_FACE)
    fonts.set(qn("w:eastAsia"), east_asian)


TEXT_WIDTH_MM = 210 - 28 - 26
# A column is as wide as its longest cell, at most this many characters (a policy's long title wraps
# in a wide column instead of a narrow one), and never narrower than its heading.
COLUMN_CHARS = 24


def _ems(text: str) -> float:
    """Printed width in ems: a Chinese character is square, a digit or Latin letter about half as wide."""
    return sum(1.0 if ord(ch) >= 0x2E80 else 0.55 for ch in text)


def column_widths(block: Table) -> list[Mm]:
    """Widths that share the text width by the length of each column's longest cell."""
    weights = []
    for c, heading in enumerate(block.head):
        longest = max((_ems(row[c]) for row in block.rows), default=0.0)
        weights.append(max(_ems(heading) + 1, min(longest + 0.5, COLUMN_CHARS), 3))
    return [Mm(TEXT_WIDTH_MM * w / sum(weights)) for w in weights]


class WordWriter:
    def __init__(self) -> None:
        self.doc = new_document()
        self.title_face = pick_face(TITLE_FACES)
        self.heading_face = pick_face(HEADING_FACES)
        self.body_face = pick_face(BODY_FACES)
        self._page_setup()
        normal = self.doc.styles["Normal"]
        normal.font.size = Pt(SIHAO)
        _set_faces(normal.element.get_or_add_rPr(), self.body_face)
        normal.paragraph_format.line_spacing = Pt(28)
        normal.paragraph_format.space_after = Pt(0)

    def _page_setup(self) -> None:
        section = self.doc.sections[0]
        section.start_type = WD_SECTION_START.NEW_PAGE
        section.page_width, section.page_height = Mm(210), Mm(297)
        section.top_margin, section.bottom_margin = Mm(37), Mm(35)
        section.left_margin, section.right_margin = Mm(28), Mm(26)
        footer = section.footer.paragraphs[0]
        footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
        self._run(footer, "— ", size=SIHAO)
        self._field(footer, "PAGE")
        self._run(footer, " —", size=SIHAO)

    def _run(self, paragraph: WordParagraph, text: str, *, size: float | None = None, bold: bool = False,
             face: str | None = None, colour: RGBColor | None = None) -> None:
        run = paragraph.add_run(text)
        run.bold = bold or None
        if size:
            run.font.size = Pt(size)
        if colour is not None:
            run.font.color.rgb = colour
        if face:
            _set_faces(run._element.get_or_add_rPr(), face)

    def _field(self, paragraph: WordParagraph, instruction: str) -> None:
        """A field Word computes when it lays the page out (the page number)."""
        run = paragraph.add_run()
        run.font.size = Pt(SIHAO)
        for kind, text in (("begin", None), (None, instruction), ("separate", None), (None, "1"), ("end", None)):
            if kind:
                element = OxmlElement("w:fldChar")
                element.set(qn("w:fldCharType"), kind)
            elif text == instruction:
                element = OxmlElement("w:instrText")
                element.set(qn("xml:space"), "preserve")
                element.text = f" {instruction} "
            else:
                element = OxmlElement("w:t")
                element.text = text
            run._element.append(element)

    def _runs(self, paragraph: WordParagraph, runs: Sequence[Text], size: float | None = None) -> None:
        for part in runs:
            if isinstance(part, Run):
                self._run(paragraph, part.text, bold=part.strong, colour=RED if part.negative else None, size=size)
            else:
                self._run(paragraph, part, size=size)

    def _hyperlink(self, paragraph: WordParagraph, url: str, text: str) -> None:
        relation = paragraph.part.relate_to(url, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
        link = OxmlElement("w:hyperlink")
        link.set(qn("r:id"), relation)
        run = OxmlElement("w:r")
        properties = OxmlElement("w:rPr")
        for tag, value in (("w:color", "2F5D9E"), ("w:u", "single"), ("w:sz", str(int(WUHAO * 2)))):
            element = OxmlElement(tag)
            element.set(qn("w:val"), value)
            properties.append(element)
        run.append(properties)
        body = OxmlElement("w:t")
        body.text = text
        run.append(body)
        link.append(run)
        paragraph._p.append(link)

    # --- blocks ------------------------------------------------------------------------------

    def masthead(self, document: Document) -> None:
        title = self.doc.add_paragraph()
        title.alignment = WD_ALIGN_PARAGRAPH.CENTER
        title.paragraph_format.space_after = Pt(6)
        self._run(title, document.title, size=ERHAO, bold=True, face=self.title_face, colour=RED)
        subtitle = self.doc.add_paragraph()
        subtitle.alignment = WD_ALIGN_PARAGRAPH.CENTER
        self._run(subtitle, document.subtitle, size=SANHAO, face=self.heading_face)
        for line in document.meta:
            meta = self.doc.add_paragraph()
            meta.alignment = WD_ALIGN_PARAGRAPH.CENTER
            self._run(meta, line, size=XIAOSI, colour=GREY)
        self._rule()
        lead = self.doc.add_paragraph()
        lead.paragraph_format.first_line_indent = Pt(SIHAO * 2)
        self._runs(lead, document.lead)

    def _rule(self) -> None:
        """The red line under a masthead (版头分隔线)."""
        paragraph = self.doc.add_paragraph()
        border = OxmlElement("w:pBdr")
        bottom = OxmlElement("w:bottom")
        for key, value in (("w:val", "single"), ("w:sz", "18"), ("w:space", "1"), ("w:color", "C0392B")):
            bottom.set(qn(key), value)
        border.append(bottom)
        paragraph._p.get_or_add_pPr().append(border)

    def heading(self, block: Heading) -> None:
        paragraph = self.doc.add_paragraph()
        paragraph.paragraph_format.space_before = Pt(10 if block.level == 1 else 4)
        paragraph.paragraph_format.keep_with_next = True
        if block.level == 1:
            self._run(paragraph, block.text, size=SANHAO, face=self.heading_face)
        else:
            paragraph.paragraph_format.first_line_indent = Pt(SIHAO * 2)
            self._run(paragraph, block.text, size=SIHAO, bold=True)

    def paragraph(self, block: Paragraph) -> None:
        paragraph = self.doc.add_paragraph()
        if block.note:
            self._runs(paragraph, block.runs, size=XIAOSI)
        else:
            paragraph.paragraph_format.first_line_indent = Pt(SIHAO * 2)
            self._runs(paragraph, block.runs)

    def table(self, block: Table) -> None:
        table = self.doc.add_table(rows=1, cols=len(block.head))
        table.style = "Table Grid"
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        for cell, text in zip(table.rows[0].cells, block.head, strict=True):
            self._cell(cell, text, bold=True, right=False)
        for number, row in enumerate(block.rows):
            cells = table.add_row().cells
            for column, (cell, text) in enumerate(zip(cells, row, strict=True)):
                self._cell(cell, text, right=column in block.numeric,
                           colour=RED if number in block.flagged else None)
        table.autofit = False
        for column, width in zip(table.columns, column_widths(block), strict=True):
            column.width = width  # the table grid, which LibreOffice reads
            for cell in column.cells:
                cell.width = width  # each cell, which Word reads
        self.doc.add_paragraph().paragraph_format.line_spacing = Pt(8)

    def _cell(self, cell: object, text: str, *, bold: bool = False, right: bool = False,
              colour: RGBColor | None = None) -> None:
        paragraph = cell.paragraphs[0]  # type: ignore[attr-defined]
        paragraph.paragraph_format.line_spacing = 1.0
        if right:
            paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        self._run(paragraph, text, size=XIAOSI, bold=bold, colour=colour)

    def chart(self, block: Chart) -> None:
        caption = self.doc.add_paragraph()
        caption.alignment = WD_ALIGN_PARAGRAPH.CENTER
        caption.paragraph_format.keep_with_next = True
        self._run(caption, block.caption, size=XIAOSI, bold=True)
        self.doc.add_picture(io.BytesIO(block.png), width=NARROW_PICTURE_WIDTH if block.narrow else PICTURE_WIDTH)
        picture = self.doc.paragraphs[-1]
        picture.alignment = WD_ALIGN_PARAGRAPH.CENTER
        picture.paragraph_format.line_spacing = 1.0  # an exact line height (the body's) would crop the picture
        if block.legend:
            legend = self.doc.add_paragraph()
            legend.alignment = WD_ALIGN_PARAGRAPH.CENTER
            self._run(legend, "蓝色：全部信息　红色：负面信息", size=WUHAO, colour=GREY)

    def quote(self, block: Quote) -> None:
        paragraph = self.doc.add_paragraph()
        paragraph.paragraph_format.left_indent = Pt(SIHAO * 2)
        paragraph.paragraph_format.line_spacing = Pt(24)
        self._run(paragraph, f"【{block.label}】", size=XIAOSI, bold=True, colour=RED if block.negative else None)
        if block.title:
            self._run(paragraph, block.title + " ", size=XIAOSI, bold=True)
        self._run(paragraph, block.excerpt, size=XIAOSI)
        self._run(paragraph, f"（{block.source}，{block.when}，", size=WUHAO, colour=GREY)
        self._hyperlink(paragraph, block.url, "原文链接")
        self._run(paragraph, "）", size=WUHAO, colour=GREY)

    def footer(self, document: Document) -> None:
        paragraph = self.doc.add_paragraph()
        paragraph.paragraph_format.space_before = Pt(12)
        self._run(paragraph, document.footer, size=WUHAO, colour=GREY)

    def write(self, document: Document, path: Path) -> None:
        self.masthead(document)
        for block in document.blocks:
            if isinstance(block, Heading):
                self.heading(block)
            elif isinstance(block, Paragraph):
                self.paragraph(block)
            elif isinstance(block, Table):
                self.table(block)
            elif isinstance(block, Chart):
                self.chart(block)
            elif isinstance(block, Quote):
                self.quote(block)
        self.footer(document)
        self.doc.core_properties.title = f"{document.title} {document.subtitle}"
        self.doc.core_properties.author = "舆情监测系统"
        self.doc.save(str(path))


def write_docx(document: Document, path: Path) -> None:
    WordWriter().write(document, path)
