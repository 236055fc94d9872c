"""How a service hands work to Celery without importing its app's task module.

A task module imports the services it runs (a task loads by id and calls one service), so a
service importing its tasks would close a circle. A service names the task instead, by its
Celery name (``"<app>.tasks.<function>"``, the name beat entries and queued messages use):
``task_get`` imports the task module on first use (Celery has imported it already in a
worker). Queue after commit: ``transaction.on_commit(lambda: task_get(name).delay(ids))``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from celery import Task


def task_get(name: str) -> Task[Any, Any]:
    """The task called ``name`` (``"<module>.<function>"``)."""
    module, function = name.rsplit(".", 1)
    task: Task[Any, Any] = getattr(import_module(module), function)
    return task
