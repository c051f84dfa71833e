"""Cut the shipped typefaces from DejaVu's TrueType files.

`python -m voucher_service.printing.fontcut [/usr/share/fonts/truetype/dejavu]`
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset, ttLib

from voucher_service.printing.typefaces import FACES, FONT_DIR


def cut_fonts(source_dir: Path, target_dir: Path = FONT_DIR) -> None:
    """Cut the shipped faces from DejaVu's TrueType files in `source_dir`."""
    for file_name, _, _, repertoire in FACES:
        font = ttLib.TTFont(source_dir / file_name.replace("-print", ""), recalcTimestamp=False)
        options = subset.Options()
        # Layout tables are for shaping, which we do not use; hinting is for screens.
        options.drop_tables += ["GSUB", "GPOS", "GDEF", "kern", "FFTM", "hdmx"]
        options.hinting = False
        options.name_IDs = ["*"]
        options.name_languages = ["*"]
        options.notdef_outline = True
        options.recommended_glyphs = True
        cutter = subset.Subsetter(options)
        cutter.populate(unicodes=repertoire)
        cutter.subset(font)
        font.save(target_dir / file_name)


if __name__ == "__main__":
    cut_fonts(Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/truetype/dejavu"))
