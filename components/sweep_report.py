from kfp import dsl
from kfp.dsl import HTML, Dataset, Markdown, Output

from components import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
def sweep_report(name: str, reports: list, experiment: str, summary: Output[Dataset],
                 table: Output[Markdown], page: Output[HTML]) -> str:  # fmt: skip
    """One report over every experiment of a sweep (table, AL curves, experiments side by side).

    Args:
        name: the sweep's name.
        reports: each experiment's report (JSON strings, gathered with dsl.Collected).
        experiment: MLflow experiment name (the page is logged on each experiment's parent run).
        summary: ``sweep.json``, ``sweep.md``, ``sweep.html``, ``curve.png``.
        table: the Markdown table for the KFP UI.
        page: the self-contained HTML report for the KFP UI.
    """
    import json
    import shutil
    from pathlib import Path

    from alseg import tracking
    from alseg.stages import report, run_stage

    result = json.loads(
        run_stage("sweep report", report.run_sweep_report, name, reports, summary.path)
    )
    shutil.copy(Path(summary.path) / "sweep.md", table.path)
    shutil.copy(Path(summary.path) / "sweep.html", page.path)
    if tracking.enabled():
        for run in result["experiments"]:
            tracking.log_sweep_page(
                run.get("run_name") or run["name"], experiment, name, Path(summary.path)
            )
    return json.dumps({**result, "report_dir": summary.path})
