"""Reports: AL-curve math (``curves``), overlays of queried regions (``overlays``), matplotlib
figures (``figures``, Agg backend) and self-contained HTML pages (``html``, jinja2 templates).

Used by the report stage (one page per experiment), the sweep report (experiments side by side)
and ``alseg compare`` (runs read back from MLflow).
"""
