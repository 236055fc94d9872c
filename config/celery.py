"""The Celery application; tasks live in each app's ``tasks.py``."""

import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import celeryd_after_setup, worker_process_init
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# A closed broker connection raises a connection error the worker recovers from, never an
# AttributeError it exits on (config/broker_transport.py).
for _scheme in ("redis", "rediss"):
    TRANSPORT_ALIASES[_scheme] = "config.broker_transport:Transport"

app = Celery("kundklubb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def campaigns_only_nice() -> int:
    """Lower this process's CPU priority to ``CAMPAIGNS_WORKER_NICE`` when the worker consumes
    only the campaigns queue (``-Q campaigns``): fan-out and sending then use the CPU that
    web requests and the other tasks leave (docs/deploy.md, "Celery workers"). A worker that
    also consumes the default queue keeps its priority. Returns the niceness now in force."""
    from django.conf import settings

    queues = set(app.amqp.queues.consume_from or ())
    current = os.getpriority(os.PRIO_PROCESS, 0)
    wanted = int(settings.CAMPAIGNS_WORKER_NICE)
    if queues != {settings.CAMPAIGNS_QUEUE} or wanted <= current:
        return current
    # Absolute, not relative: the main process and each forked child may both get here.
    os.setpriority(os.PRIO_PROCESS, 0, wanted)
    autogroup_nice(wanted)
    return wanted


AUTOGROUP = Path("/proc/self/autogroup")


def autogroup_nice(wanted: int) -> None:
    """Linux shares the CPU first between sessions ("autogroups", one per ``setsid``: a
    service, a terminal), and a process's niceness counts only within its own session; a
    worker in a session of its own would otherwise compete with gunicorn's session on equal
    terms. So the session's niceness is raised too (never lowered). Nothing happens where
    there are no autogroups (other systems, kernels without them, systemd's cgroups: there
    the unit's ``CPUWeight=`` does it, docs/deploy.md)."""
    try:
        text = AUTOGROUP.read_text()  # "/autogroup-123 nice 0"
        if int(text.rsplit(None, 1)[-1]) < wanted:
            AUTOGROUP.write_text(str(wanted))
    except (OSError, ValueError, IndexError):
        pass


@celeryd_after_setup.connect
def _worker_nice(**_kwargs: Any) -> None:
    campaigns_only_nice()


@worker_process_init.connect
def _worker_process_nice(**_kwargs: Any) -> None:
    campaigns_only_nice()
