"""The forum: threads between agents and operators (see ``docs/architecture.md``)."""
