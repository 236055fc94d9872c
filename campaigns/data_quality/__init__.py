"""The data-quality page (issue 15): counts of what keeps segments and messages from reaching
members, the lists behind them, and their 90-day trend (docs/data-quality.md)."""
