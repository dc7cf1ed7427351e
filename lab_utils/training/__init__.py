"""Training: run configurations, experiments, profiles, the training loop, the run cache and the device settings."""
