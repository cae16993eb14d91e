"""The alert worker's memory at a city's volume: what it holds is bounded by time, whatever the volume, and it
loads nothing it does not use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_alert_worker_loads_no_segmenter(tmp_path: Path):
    """Its burst tracker asks the gazetteer for the places' lineage only: the segmenter's dictionary (~70 MB) was
    loaded for it all the same."""
    script = f"""
from pathlib import Path
from transport import open_transport
from workers.build import shipped_segmenter
from workers.stages import build_stage
from yuqing.config import Settings
from yuqing.schema import EnrichedPost

settings = Settings(data_dir=Path({str(tmp_path)!r}))
with open_transport(settings) as transport:
    stage = build_stage("alert", settings, transport)
    post = EnrichedPost.model_validate({{"id": "board:1", "url": "https://board.example.cn/1", "platform": "board",
                                        "source": "board", "text": "漏水", "places": ["何楼街道"]}})
    stage.bursts.add(post)
    assert [s for s in stage.bursts.subjects_of(post) if s[0] == "place"] == [("place", "何楼街道", "何楼街道")]
    stage.close()
print(shipped_segmenter.cache_info().currsize)
"""
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "0"
