"""Data: the datasets of the report, their official file formats read safely, and augmentation."""
