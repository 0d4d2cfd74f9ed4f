"""The command line, the notebook runner, exercises, the Colab cell, the doctor, benchmarks."""
