"""Tables and plots built from result files."""
