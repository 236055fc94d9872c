"""Campaign models, split by area: segments, offers, campaigns and deliveries in
``core``; product affinities and next-best offers in ``personalisation``."""

from campaigns.models.core import *  # noqa: F403
from campaigns.models.personalisation import *  # noqa: F403
