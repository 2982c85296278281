"""Thingbid exchange package."""
