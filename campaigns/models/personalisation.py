"""Product and category affinities, and each member's next best offer."""
