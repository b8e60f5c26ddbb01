"""Tools that turn a finished pipeline run into committed results."""
