"""ORM backends: one sibling package per ORM, each with a manager and a migration assistant."""
