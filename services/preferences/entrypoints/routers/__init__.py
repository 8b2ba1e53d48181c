"""The preferences API's routes, one module per area."""
