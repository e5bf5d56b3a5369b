"""Training images: the dataset table (registry), presets, loaders for each format, and the training batches."""
