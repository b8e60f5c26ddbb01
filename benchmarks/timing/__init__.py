"""Speed and memory targets, each measured against a baseline in the same run on the same machine."""
