"""Fakes of AWS services moto does not run (kept to the real request/response shapes)."""
