"""The protocol every lesson's experiments follow, and one module per lesson's experiments, named like its notebook."""
