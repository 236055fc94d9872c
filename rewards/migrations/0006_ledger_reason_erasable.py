"""Erasure may replace a member's identifiers in a ledger entry's ``reason`` (staff's note)
and ``idempotency_key`` (which carries a till's return id).

The ledger stays immutable: the trigger still refuses every DELETE and every UPDATE, except
one that changes nothing but those two texts inside a transaction that declared itself an
erasure (``SELECT set_config('kundklubb.erasure', 'on', true)``, consent's erasure step).
Amounts, owner, kind, cause and links can never change.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION rewards_ledgerentry_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND current_setting('kundklubb.erasure', true) = 'on'
        AND (to_jsonb(NEW) - 'reason' - 'idempotency_key')
            = (to_jsonb(OLD) - 'reason' - 'idempotency_key') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING
        MESSAGE = 'ledger entries are immutable: ' || TG_OP || ' refused (add a reversing entry)',
        ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""

# Back to 0002's function: no update at all.
DROP = """
CREATE OR REPLACE FUNCTION rewards_ledgerentry_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'ledger entries are immutable: ' || TG_OP || ' refused (add a reversing entry)',
        ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [("rewards", "0005_review_moderation")]

    operations = [migrations.RunSQL(CREATE, DROP)]
