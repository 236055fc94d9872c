"""One ``environ.Env`` for every settings module, with booleans that fail loudly."""

from __future__ import annotations

from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off", ""})


class Env(environ.Env):
    """django-environ reads any unknown word as False; here ``DJANGO_DEBUG=ture`` stops start-up."""

    def bool(self, var: str, default: Any = environ.Env.NOTSET) -> bool:
        if var not in self.ENVIRON:
            if default is environ.Env.NOTSET:
                raise ImproperlyConfigured(f"Set the {var} environment variable")
            return bool(default)
        raw = self.ENVIRON[var].strip().lower()
        if raw in TRUE:
            return True
        if raw in FALSE:
            return False
        raise ImproperlyConfigured(
            f"{var} must be one of true/false, yes/no, on/off, 1/0; got {self.ENVIRON[var]!r}"
        )
