from kfp import dsl
from kfp.dsl import Dataset, Markdown, Output

from components import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
def sweep_report(name: str, reports: list, summary: Output[Dataset],
                 table: Output[Markdown]) -> str:  # fmt: skip
    """One table over every experiment of a sweep.

    Args:
        name: the sweep's name.
        reports: each experiment's report (JSON strings, gathered with dsl.Collected).
        summary: ``sweep.json`` + ``sweep.md``.
        table: the Markdown table for the KFP UI.
    """
    import shutil
    from pathlib import Path

    from alseg.stages import report, run_stage

    result = run_stage("sweep report", report.run_sweep_report, name, reports, summary.path)
    shutil.copy(Path(summary.path) / "sweep.md", table.path)
    return result
