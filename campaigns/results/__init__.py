"""A campaign's results for the back-office (docs/campaigns.md): ``report`` measures the funnel,
the outcomes in the goal window, the uplift against the holdout and the verdict, and promotes
a winning variant; ``stats`` holds the statistics, ``charts`` the SVG charts, ``views`` and
``urls`` the pages."""
