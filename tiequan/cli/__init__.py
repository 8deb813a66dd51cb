"""tiequan."""
