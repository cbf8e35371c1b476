"""`sweeper report`: one self-contained page that renders in headless Chromium with the network off."""

import re

import pytest

from sweeper.cli import main

from browser import open_page

pytestmark = pytest.mark.slow

CHECK = """JSON.stringify({
  plots: document.querySelectorAll('div.plot').length,
  drawn: Array.from(document.querySelectorAll('div.plot')).filter(
      d => d.classList.contains('js-plotly-plot') && d.querySelectorAll('svg.main-svg g.trace').length > 0).length,
  traces: Array.from(document.querySelectorAll('div.plot')).map(d => (d.data || []).length),
  images: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length,
  answer: (document.querySelector('.answer') || {}).textContent,
  hover: Array.from(document.querySelectorAll('div.plot')).flatMap(
      d => (d.data || []).map(t => t.hovertemplate || '')).join('\\n'),
})"""


def test_report_renders_offline_with_every_plot_and_no_console_error(sweeps, tmp_path, capsys):
    import json

    out = tmp_path / "report.html"
    assert main(["report", str(sweeps["with"]), str(sweeps["without"]), "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"?https?:", text), "everything is embedded"

    page, value = open_page(out.as_uri(), tmp_path / "report.png", CHECK)
    result = json.loads(value)
    assert page.console_errors() == []
    assert [url for url in page.requests() if not url.startswith(("file:", "data:", "blob:", "about:"))] == []
    # 6 trials' curves, their evals where they had one, a scatter per numeric axis, importance
    assert result["plots"] >= 10 and result["drawn"] == result["plots"], result
    assert all(n > 0 for n in result["traces"]), result["traces"]
    assert result["images"] == 0
    assert "explanations is better" in result["answer"]
    assert "explain-with/" in result["hover"] and "learning_rate=" in result["hover"]
    assert (tmp_path / "report.png").stat().st_size > 20_000
