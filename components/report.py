from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Output

from components import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
def report(
    params: str,
    run_name: str,
    experiment: str,
    evaluation: Input[Dataset],
    labels: Input[Dataset],
    summary: Output[Dataset],
    table: Output[Markdown],
) -> str:
    """AL curve table, AuALC and Gini over all rounds; logged on the MLflow parent run.

    Args:
        params: JSON of ``name`` and ``budget``.
        run_name: the experiment run's name.
        experiment: MLflow experiment name.
        evaluation: the last round's evaluation folder (holds every round).
        labels: the final labels folder.
        summary: ``report.json`` + ``report.md``.
        table: the Markdown table for the KFP UI.
    """
    import json
    import shutil
    from pathlib import Path

    from alseg import tracking
    from alseg.stages import report as stage
    from alseg.stages import run_stage

    result = run_stage(
        "report", stage.run, json.loads(params), evaluation.path, labels.path, summary.path
    )
    markdown = (Path(summary.path) / "report.md").read_text()
    shutil.copy(Path(summary.path) / "report.md", table.path)
    if tracking.enabled():
        tracking.log_report(run_name, experiment, json.loads(result), markdown)
    return result
