"""Verilator + cocotb cosimulation plumbing."""
