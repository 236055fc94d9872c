"""Consent events are append-only, in the database too: a trigger refuses UPDATE and DELETE.

The web proof that erasure must wipe lives in consent_consentproof, which stays mutable.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION consent_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'consent events are append-only: % refused on consent_consentevent', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER consent_event_append_only
    BEFORE UPDATE OR DELETE ON consent_consentevent
    FOR EACH ROW EXECUTE FUNCTION consent_event_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS consent_event_append_only ON consent_consentevent;
DROP FUNCTION IF EXISTS consent_event_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
