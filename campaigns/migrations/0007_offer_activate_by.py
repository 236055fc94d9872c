"""Offers get a last day to activate (docs/campaigns.md "Offers").

Offers already in members' hands and not yet activated get one too: 30 days from when they
came, and never less than 14 days from this migration, so that nobody's offer disappears
without notice on the day of the deploy.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0006_offer_pictures'),
        ('rewards', '0011_pictures'),
    ]

    operations = [
        migrations.AddField(
            model_name='memberoffer',
            name='available_until',
            field=models.DateTimeField(blank=True, null=True, verbose_name='activate by'),
        ),
        migrations.AddField(
            model_name='offer',
            name='activate_days',
            field=models.PositiveSmallIntegerField(db_default=30, default=30, help_text='From the day the offer reaches the member; the last day counts.', verbose_name='days to activate'),
        ),
        migrations.AddConstraint(
            model_name='offer',
            constraint=models.CheckConstraint(condition=models.Q(('activate_days__gte', 1)), name='offer_activate_days_pos'),
        ),
        migrations.RunSQL(
            """
            UPDATE campaigns_memberoffer
            SET available_until = GREATEST(
                created_at + interval '30 days', now() + interval '14 days'
            )
            WHERE status = 'available' AND available_until IS NULL
            """,
            migrations.RunSQL.noop,
        ),
    ]
