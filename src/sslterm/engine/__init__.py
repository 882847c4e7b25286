"""The engine: compute a plan from what the store says and what a load balancer has, apply it one
listener at a time, probe what is served, and put the previous state back on any failure."""
