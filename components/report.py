from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Output

from components import image


@dsl.component(base_image=image("report"), install_kfp_package=False)
def report(
    params: str,
    run_name: str,
    experiment: str,
    evaluation: Input[Dataset],
    labels: Input[Dataset],
    prepared: str,
    regions: str,
    summary: Output[Dataset],
    table: Output[Markdown],
    page: Output[HTML],
) -> str:
    """AL curve table, AuALC, Gini and the HTML report; logged on the MLflow parent run.

    Args:
        params: JSON of the resolved config (all but ``device`` and ``cluster``).
        run_name: the experiment run's name.
        experiment: MLflow experiment name.
        evaluation: the last round's evaluation folder (holds every round).
        labels: the final labels folder.
        prepared: the prepared dataset folder's URI (the overlays' images are read by rows).
        regions: the regions folder's URI (the overlays' region maps, by rows).
        summary: ``report.json``, ``report.md``, ``report.html``, ``curve.png``, ``config.yaml``.
        table: the Markdown table for the KFP UI.
        page: the self-contained HTML report for the KFP UI.
    """
    import json
    import shutil
    from pathlib import Path

    from alseg import tracking
    from alseg.stages import registry

    folders = {
        "evaluation": evaluation.path, "labels": labels.path, "prepared": prepared,
        "regions": regions,
    }  # fmt: skip
    result = json.loads(registry.call("report", params, folders, summary.path, run_name=run_name))
    shutil.copy(Path(summary.path) / "report.md", table.path)
    shutil.copy(Path(summary.path) / "report.html", page.path)
    if tracking.enabled():
        tracking.log_report(run_name, experiment, result, summary.path)
    return json.dumps({**result, "report_dir": summary.path})
