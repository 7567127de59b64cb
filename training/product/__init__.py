"""What ships after training: model bundles, calibration, the tagging service and export."""
