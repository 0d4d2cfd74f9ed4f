"""The methods, one idea each: features and probes, freezing, LoRA, distillation, SFT, DPO, LM basics, zero-shot, translation, generation, adaptation."""
