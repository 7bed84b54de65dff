"""Reporting: figures, the schedule explorer widgets, results tables, the notebook runner."""
from .plots import (
    curves_frame, plot_accuracy, plot_schedule, plot_schedule_explorer, plot_run, plot_results, plot_frontier,
    save_figure,
)
from .explore import (
    slider_stages, explore_schedule, show_schedule, schedule_sliders, find_run_folders, show_run,
    run_browser_widgets,
)
from .report import (PUBLISHED, Run, experiment_names, experiment_arms, load_run, run_arm, comparison_table, find_runs,
                     results_table)
from .results_files import write_results, build_results, save_table, find_frontier
from .stages import stage_ends

__all__ = [
    "curves_frame", "plot_accuracy", "plot_schedule", "plot_schedule_explorer", "plot_run", "plot_results",
    "plot_frontier", "save_figure", "slider_stages", "explore_schedule", "show_schedule", "schedule_sliders",
    "find_run_folders", "show_run", "run_browser_widgets", "PUBLISHED", "Run", "experiment_names", "experiment_arms",
    "load_run", "run_arm", "comparison_table", "find_runs", "results_table", "write_results", "build_results", "save_table",
    "find_frontier", "stage_ends",
]
