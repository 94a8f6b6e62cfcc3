"""The aggregates the use cases work on: attrs classes whose transitions go through the tables."""
