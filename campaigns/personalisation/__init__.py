"""Personalisation v1: affinities, each member's next best offer, and why (docs/personalisation.md).

Writes (services):

- ``affinities.affinities_compute``: product and category co-purchase affinities, computed in
  the database with one ``INSERT ... SELECT`` per table and basis, swapped in one transaction.
- ``recommendations.recommendations_compute``: each consenting member's ranked
  recommendations, in chunks of members, from their purchases, interests and tier.
- ``recommendations.personalisation_run``: both, as the nightly job (``tasks``) does.
- ``recommendations.recommendations_erase``: delete a member's recommendations (erasure,
  withdrawal).

Reads (``selectors``, used by campaigns' merge fields, the member pages and the back-office):
``recommended_products`` / ``recommended_products_bulk``, ``next_best_offer`` and
``offer_reason`` ("why you got this offer", in the member's language).

Every read checks the member's ``profiling`` consent (``profiling``) at the moment of
reading, so a withdrawal hides recommendations at once; the next run deletes them.
``registration.register`` (from ``CampaignsConfig.ready``) adds personalisation's parts to
the apps below: export, erasure, retention, "my data", the member pages' panel and a
timeline consumer.
"""
