"""Ledger entries of the kind "import" with the cause "import": opening balances brought over
from the chain's old club (rewards.ledger.imports, docs/import.md). Only the choices change."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("rewards", "0006_ledger_reason_erasable")]

    operations = [
        migrations.AlterField(
            model_name="ledgerentry",
            name="kind",
            field=models.CharField(
                choices=[
                    ("earn", "Earned"),
                    ("mature", "Became available"),
                    ("redeem", "Spent"),
                    ("reserve", "Reserved"),
                    ("release", "Released"),
                    ("expire", "Expired"),
                    ("adjust", "Adjusted"),
                    ("reverse", "Reversed"),
                    ("import", "Imported from the old club"),
                ],
                max_length=10,
                verbose_name="kind",
            ),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="cause",
            field=models.CharField(
                choices=[
                    ("purchase", "Purchase"),
                    ("return", "Return"),
                    ("reservation", "Reservation"),
                    ("reward", "Reward"),
                    ("rule", "Event rule"),
                    ("campaign", "Campaign"),
                    ("staff", "Staff adjustment"),
                    ("system", "System"),
                    ("import", "Old club"),
                ],
                max_length=12,
                verbose_name="cause",
            ),
        ),
    ]
