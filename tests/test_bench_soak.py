"""bench.soak's command line."""

import sys

from bench import soak


def test_a_keep_folder_that_does_not_exist_yet_is_made(tmp_path, monkeypatch, capsys):
    """`--keep DIR` with a DIR not made yet ended in a traceback (the free-disk check looked at a missing folder)."""
    folder = tmp_path / "new" / "soak"
    monkeypatch.setattr(sys, "argv", ["soak", "--days", "1", "--per-day", str(10**13), "--keep", str(folder)])
    assert soak.main() == 2, "refused by the free-disk check, before any stage starts"
    assert folder.is_dir()
    assert "needs about" in capsys.readouterr().err
