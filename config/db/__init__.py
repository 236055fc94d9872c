"""Project database backends (docs/architecture.md, "Decisions")."""
