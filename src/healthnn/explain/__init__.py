"""Explanations of trained models (Grad-CAM for images: :mod:`healthnn.explain.gradcam`)."""
