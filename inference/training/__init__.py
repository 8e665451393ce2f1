"""Offline training and evaluation code for the models the platform ships."""
