"""consent's writes, one module per capability; import from the module that does the job:

- ``policy``: policy versions (the texts members consent to);
- ``consent``: consent changes (``consent_set``, ``consents_set``, ``consent_set_locked``);
- ``preferences``: contact preferences, marketing pauses, interests, partner shares;
- ``unsubscribe``: one-click unsubscribe tokens;
- ``export``: export requests and their build (GDPR Art. 15, 20);
- ``erasure``: erasure requests and anonymisation (Art. 17);
- ``requests``: what applies to both kinds of privacy request (refuse, process now, run due);
- ``retention``: the nightly retention run (Art. 5(1)(e));
- ``access_log``: who looked at whom.
"""
