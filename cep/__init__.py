"""LakeStream CEP: pattern model, conditions, event loading and the windowed matcher."""
