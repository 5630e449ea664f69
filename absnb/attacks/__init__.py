"""Adversarial attacks on the six models: distances, verification of what they find, post-processing."""
