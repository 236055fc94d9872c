"""Printed by `make run` before the servers start."""

import os

port = os.environ.get("PORT", "8000")
print(
    f"""
  Kundklubb is starting (web, Celery worker, Celery beat). Ctrl-C stops all three.

  Member pages:  http://127.0.0.1:{port}/
  Back-office:   http://127.0.0.1:{port}/admin/
  API docs:      http://127.0.0.1:{port}/api/docs/

  Demo member:   medlem@demo.kundklubb.se   / kundklubb-demo
  Demo staff:    admin@demo.kundklubb.se    / kundklubb-demo  (Administrator)
                 butik@demo.kundklubb.se    / kundklubb-demo  (Store staff)
                 marknad@demo.kundklubb.se  / kundklubb-demo  (Marketer)
                 dataskydd@demo.kundklubb.se / kundklubb-demo (Data protection officer)
  Email (verification links) is printed in this terminal.
"""
)
