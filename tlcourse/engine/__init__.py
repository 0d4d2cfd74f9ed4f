"""The engine: profiles, assets and loading, data, models, the training loop, devices, memory, inference, result records."""
