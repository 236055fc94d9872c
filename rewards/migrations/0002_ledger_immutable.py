"""Ledger entries are never updated or deleted, enforced by PostgreSQL itself.

A row trigger refuses UPDATE and DELETE on ``rewards_ledgerentry`` whoever connects (the
application, a shell, an admin running SQL). Mistakes are corrected by reversing entries.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION rewards_ledgerentry_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'ledger entries are immutable: ' || TG_OP || ' refused (add a reversing entry)',
        ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS rewards_ledgerentry_no_change ON rewards_ledgerentry;
CREATE TRIGGER rewards_ledgerentry_no_change
    BEFORE UPDATE OR DELETE ON rewards_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION rewards_ledgerentry_immutable();
"""

DROP = """
DROP TRIGGER IF EXISTS rewards_ledgerentry_no_change ON rewards_ledgerentry;
DROP FUNCTION IF EXISTS rewards_ledgerentry_immutable();
"""


class Migration(migrations.Migration):
    dependencies = [("rewards", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
