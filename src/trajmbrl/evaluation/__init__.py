"""Long-horizon prediction: roll-outs of learned models and the paper's error metrics."""
