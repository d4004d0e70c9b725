"""The plugin's listener: arm each task at start, close its governance at the end.

Airflow's task runner swallows listener errors, so nothing here may be the thing that fails
a task: ``on_task_instance_running`` installs the DbApiHook interception and wraps the task's
``pre_execute`` (see ``airflow_plugin.start``), which runs inside the task's execution and can
fail it. Without the OpenLineage provider the plugin also emits the task-level START and
COMPLETE/FAIL events here (``airflow_plugin.events``).
"""

from __future__ import annotations

import logging

try:
    from airflow.sdk._shared.listeners import hookimpl
except ImportError:  # pragma: no cover - older layouts
    from airflow.listeners import hookimpl

log = logging.getLogger("airflow.task.lineage_governance")


@hookimpl
def on_starting(component):
    """The scheduler starts: load the governance core once for the task processes it forks
    (``airflow_plugin.preload``); other components load nothing."""
    if getattr(component, "job_type", None) != "SchedulerJob":
        return
    try:
        from airflow_plugin.preload import preload

        preload()
    except Exception:
        log.exception("lineage-governance: could not preload the governance core (each task loads it itself)")


@hookimpl
def on_task_instance_running(previous_state, task_instance):
    try:
        from airflow_plugin.intercept import install
        from airflow_plugin.settings import SettingsError, load_settings
        from airflow_plugin.start import guard

        try:
            if not load_settings().enabled:
                return  # switched off: nothing patched, nothing wrapped
        except SettingsError:
            pass  # the guard fails the task with the settings error
        install()
        task = getattr(task_instance, "task", None)
        if task is not None:
            guard(task)
        from airflow_plugin.events import task_started

        task_started(task_instance)
    except Exception:
        log.exception("lineage-governance: could not arm the task (its SQL is still governed at the hook)")


@hookimpl
def on_task_instance_success(previous_state, task_instance):
    _finish(task_instance, "COMPLETE", None)


@hookimpl
def on_task_instance_failed(previous_state, task_instance, error):
    _finish(task_instance, "FAIL", error)


def _finish(task_instance, state: str, error) -> None:
    try:
        from airflow_plugin.events import task_finished
        from airflow_plugin.runtime import finish

        task_finished(task_instance, state, error)
        finish(state)
    except Exception:
        log.exception("lineage-governance: could not close the task's governance")
