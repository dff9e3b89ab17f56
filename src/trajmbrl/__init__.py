"""trajmbrl: trajectory-based dynamics models for model-based RL (Lambert et al., CDC 2021)."""

__version__ = "0.1.0"
