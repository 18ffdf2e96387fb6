"""Small utilities with one purpose each (FLOPs, devices, downloads, logging)."""
