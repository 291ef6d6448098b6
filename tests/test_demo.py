"""The main job, shortened: it writes a playable video, a contact sheet and a plot."""

import json

import av
import cv2

from decart_widgets.demo import PHASES, run_demo


def test_demo_writes_its_outputs(tmp_path, capsys):
    result = run_demo(tmp_path, seconds_per_phase=1.0)
    out = capsys.readouterr().out
    assert "connected in" in out and "contact_sheet" in out
    sheet = cv2.imread(str(tmp_path / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[0] > 270 * 2  # several input|output rows
    plot = cv2.imread(str(tmp_path / "frame_stats.png"))
    assert plot is not None and plot.shape[1] >= 800
    with av.open(str(tmp_path / "side_by_side.mp4")) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert n >= 10
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["frames_received"] > 0 and summary["pairs_analysed"] > 0
    assert summary["states"][-1] == "disconnected" and "generating" in summary["states"]
    assert result["outputs"]["video"].endswith("side_by_side.mp4")
    assert len(PHASES) >= 3
